// The cached decoder on the GPU: equal to recomputing every step (OpenCLIP's way), deterministic, beam
// search with reordered caches equal to beam search over full recomputation, and no GPU objects created
// after the first call of each kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CocaModel } from '../src/model/coca';
import { ModelDiagnostics } from '../src/model/diagnostics';
import { beamSearch, EOT, greedy, type StepFn, type StepRequest } from '../src/model/generate';
import { maxAbs, maxAbsDiff } from './helpers/gpu';
import { golden, goldenJson, loadTiny } from './helpers/golden';
import type { CaptionSettings } from '../src/options';

// Cached and recomputed logits sum the same terms in a different grouping (one row vs whole sequences):
// f32 rounding only, bounded like golden/README.md's logits (1e-3 of the magnitude).
const LOGIT_TOL = 1e-3;

let model: CocaModel;
let diagnostics: ModelDiagnostics;
let pixels: Float32Array[];
let captions: number[][];

beforeAll(async () => {
  model = await loadTiny('open_clip_model.safetensors', 'fp32');
  diagnostics = await ModelDiagnostics.attach(model);
  const all = await golden('pixel_values');
  const per = all.length / 3;
  pixels = [0, 1, 2].map((i) => all.slice(i * per, (i + 1) * per));
  captions = (await goldenJson()).greedy.captions.map((c) => c.tokens);
});
afterAll(() => model.dispose());

/** A step function that recomputes the whole text tower and decoder for every row, then ranks on the CPU. */
function recomputeStep(image: Float32Array): StepFn {
  let prefixes: number[][] = [];
  return async (req: StepRequest) => {
    const previous = prefixes;
    prefixes = req.ids.map((id, r) => (req.position === 0 ? [id] : [...(req.parents ? previous[req.parents[r]!]! : previous[r]!), id]));
    const length = req.position + 1;
    const V = model.config.decoder.vocabSize;
    const logits = await diagnostics.decoderLogits(prefixes.map(() => image), prefixes.map((p) => Int32Array.from(p)), length);
    const ids = new Uint32Array(prefixes.length * req.k);
    const values = new Float32Array(prefixes.length * req.k);
    const lse = new Float32Array(prefixes.length);
    logits.forEach((all, r) => {
      const row = all.subarray((length - 1) * V, length * V);
      const max = Math.max(...row);
      lse[r] = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      const order = [...row.keys()].filter((i) => i !== req.blockId).sort((a, b) => row[b]! - row[a]! || a - b);
      order.slice(0, req.k).forEach((id, j) => {
        ids[r * req.k + j] = id;
        values[r * req.k + j] = row[id]!;
      });
    });
    return { ids, values, lse: req.lse === 'none' ? null : lse };
  };
}

describe('cached decoding', () => {
  it('gives the logits of full recomputation at every position', async () => {
    for (const [i, tokens] of captions.entries()) {
      const prefix = tokens.slice(0, -1);
      const cached = await diagnostics.cachedLogits(pixels[i]!, prefix);
      const [full] = await diagnostics.decoderLogits([pixels[i]!], [Int32Array.from(prefix)], prefix.length);
      expect(maxAbsDiff(cached, full!)).toBeLessThanOrEqual(LOGIT_TOL * Math.max(1, maxAbs(full!)));
    }
  });

  it('greedy on the caches equals greedy on recomputation', async () => {
    const recomputed = await greedy(recomputeStep(pixels[0]!), { minLength: 5, maxLength: 30 });
    expect(await model.caption(pixels[0]!)).toEqual(recomputed);
    expect(recomputed).toEqual(captions[0]);
  });

  for (const strategy of ['beam', 'beam-openclip'] as const) {
    it(`${strategy}: reordered caches give the same result as recomputing every beam`, async () => {
      const options = strategy === 'beam'
        ? { numBeams: 3, scoring: 'logprob' as const, earlyStopping: true, forceEndAtMax: true }
        : { numBeams: 2, scoring: 'raw' as const, earlyStopping: false, forceEndAtMax: false };
      const image = pixels[1]!;
      const reference = await beamSearch(recomputeStep(image), { ...options, lengthPenalty: 1, minLength: 5, maxLength: 12 });
      const ours = await model.caption(image, { strategy, maxLength: 12 });
      expect(ours).toEqual(reference);
    });
  }
});

describe('strategies on the GPU', () => {
  it('beam search with one beam equals greedy', async () => {
    for (const [i, tokens] of captions.entries()) {
      expect(await model.caption(pixels[i]!, { strategy: 'beam', numBeams: 1 })).toEqual(tokens);
    }
  });

  it('is deterministic: greedy, both beam searches, and sampling with a seed', async () => {
    const runs: CaptionSettings[] = [
      { strategy: 'greedy' },
      { strategy: 'beam', numBeams: 3 },
      { strategy: 'beam-openclip' },
      { strategy: 'sample', seed: 42, topK: 20, topP: 0.9, temperature: 0.8, repetitionPenalty: 1.2 },
    ];
    for (const options of runs) {
      const first = await model.caption(pixels[2]!, options);
      expect(await model.caption(pixels[2]!, options), JSON.stringify(options)).toEqual(first);
      // Every strategy ends with the end token, except OpenCLIP's beam search when it runs out of length.
      if (options.strategy !== 'beam-openclip' || first.length < 30) expect(first[first.length - 1]).toBe(EOT);
    }
    const a = await model.caption(pixels[2]!, { strategy: 'sample', seed: 1, temperature: 1.5 });
    const b = await model.caption(pixels[2]!, { strategy: 'sample', seed: 2, temperature: 1.5 });
    expect(a.join()).not.toBe(b.join());
  });

  it('refuses bad settings with OptionsError before any GPU work', async () => {
    const submits = model.gpu.stats.submits;
    await expect(model.caption(pixels[0]!, { strategy: 'beam', numBeams: 12 })).rejects.toMatchObject({ name: 'OptionsError', option: 'numBeams' });
    await expect(model.caption(pixels[0]!, { maxLength: 200 })).rejects.toThrow(/context length, 76/);
    expect(model.gpu.stats.submits).toBe(submits);
  });

  it('captions a batch with one vision pass, each caption equal to the image’s own, for every strategy', async () => {
    const batch = [pixels[2]!, pixels[0]!, pixels[1]!];
    const strategies: CaptionSettings[] = [{}, { strategy: 'beam', numBeams: 3 }, { strategy: 'beam-openclip' }, { strategy: 'sample', seed: 11, topP: 0.9, repetitionPenalty: 1.2 }];
    for (const settings of strategies) {
      const alone: number[][] = [];
      for (const image of batch) alone.push(await model.caption(image, settings));
      const submits = model.gpu.stats.submits;
      const together = await model.captionImages(batch, settings);
      expect(together, JSON.stringify(settings)).toEqual(alone);
      expect(model.gpu.stats.submits).toBeGreaterThan(submits);
    }
    // The greedy captions are OpenCLIP's.
    expect(await model.captionImages(pixels)).toEqual(captions);
    await expect(model.captionImages(pixels, { strategy: 'beam', numBeams: 12 })).rejects.toMatchObject({ name: 'OptionsError', option: 'numBeams' });
    const stop = new AbortController();
    stop.abort();
    await expect(model.captionImages(pixels, {}, { signal: stop.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('creates no buffer, bind group or pipeline after the first call of each kind', async () => {
    const calls: (() => Promise<unknown>)[] = [
      () => model.encodeImages([pixels[0]!]),
      () => model.encodeTexts([new Int32Array(76).fill(0)]),
      () => model.caption(pixels[0]!),
      () => model.caption(pixels[0]!, { strategy: 'beam', numBeams: 3 }),
      () => model.caption(pixels[0]!, { strategy: 'beam-openclip' }),
      () => model.caption(pixels[0]!, { strategy: 'sample', seed: 3, repetitionPenalty: 1.3 }),
      () => model.captionImages([pixels[1]!, pixels[2]!]),
    ];
    for (const call of calls) await call();
    const { buffersCreated, bindGroupsCreated, pipelinesCreated, pipelinesCreatedLate } = model.gpu.stats;
    for (const call of calls) await call();
    expect(model.gpu.stats.buffersCreated).toBe(buffersCreated);
    expect(model.gpu.stats.bindGroupsCreated).toBe(bindGroupsCreated);
    expect(model.gpu.stats.pipelinesCreated).toBe(pipelinesCreated);
    // Every pipeline was compiled at load, none during inference.
    expect(pipelinesCreatedLate).toBe(0);
  });
});
