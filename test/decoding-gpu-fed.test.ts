// The GPU-fed decoding (each step's token chosen on the GPU and fed to the next step, tokens read back every
// few steps) against the host-driven search (generate.ts reading every step's candidates back) over the same
// golden tiny model, fp32 and fp16 weights: identical token ids and identical onToken streams for greedy,
// both beam searches and seeded sampling; also with the end token made likely, so captions end mid-chunk
// and beam search keeps finished hypotheses. Then the queueing: host waits per caption, other schedules,
// and aborts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f16ArrayToF32, f32ArrayToF16, packF16Pairs } from '../src/io/fp16';
import type { CocaModel } from '../src/model/coca';
import { CaptionDecoder, STEPS_PER_READ, type DecodeSchedule } from '../src/model/decoding';
import { EOT } from '../src/model/generate';
import { resolveCaptionOptions, type CaptionSettings } from '../src/options';
import { golden, goldenJson, loadTiny } from './helpers/golden';

/** Every strategy and the parameters that change what a step does (lengths, beams, penalties, PRNG draws). */
const SETTINGS: CaptionSettings[] = [
  { strategy: 'greedy' },
  { strategy: 'greedy', minLength: 12, maxLength: 15 },
  { strategy: 'greedy', minLength: 1, maxLength: 2 },
  { strategy: 'greedy', minLength: 0, maxLength: 3 },
  { strategy: 'beam', numBeams: 1 },
  { strategy: 'beam', numBeams: 3 },
  { strategy: 'beam', numBeams: 8, maxLength: 10, lengthPenalty: 0.5 },
  { strategy: 'beam', numBeams: 2, minLength: 8, maxLength: 14, lengthPenalty: 2, repetitionPenalty: 1.5 },
  { strategy: 'beam-openclip' },
  { strategy: 'beam-openclip', numBeams: 4, numBeamGroups: 1, maxLength: 12, repetitionPenalty: 1.3 },
  { strategy: 'beam-openclip', minLength: 2, maxLength: 2 },
  { strategy: 'sample', seed: 0 },
  { strategy: 'sample', seed: 42, temperature: 0.7, topK: 5 },
  { strategy: 'sample', seed: -3, temperature: 1.5, topP: 0.8, repetitionPenalty: 1.5, minLength: 8 },
  { strategy: 'sample', seed: 2 ** 40 + 1, temperature: 3, topK: 40, topP: 0.9, maxLength: 12 },
];

/** A token greedy decoding picks often on the tiny model (golden.json's captions). */
const FREQUENT_TOKEN = 48414;
/** The end token's projection row becomes this multiple of FREQUENT_TOKEN's: it wins wherever that token's logit is positive. */
const EAGER_END_SCALE = 1.05;

let pixels: Float32Array[];
let goldenCaptions: number[][];
const models = new Map<'fp32' | 'fp16', CocaModel>();
const decoders: CaptionDecoder[] = [];

beforeAll(async () => {
  const all = await golden('pixel_values');
  const per = all.length / 3;
  pixels = [0, 1, 2].map((i) => all.slice(i * per, (i + 1) * per));
  goldenCaptions = (await goldenJson()).greedy.captions.map((c) => c.tokens);
  models.set('fp32', await loadTiny('open_clip_model.safetensors', 'fp32'));
  models.set('fp16', await loadTiny('open_clip_model.safetensors', 'fp16'));
});
afterAll(() => {
  for (const d of decoders) d.dispose();
  for (const m of models.values()) m.dispose();
});

function decoder(model: CocaModel, schedule?: DecodeSchedule): CaptionDecoder {
  const d = new CaptionDecoder(model, schedule);
  decoders.push(d);
  return d;
}

type Stream = [id: number, index: number][];

/** The caption by `gpuFed` (the model's own decoder when absent) and by the host-driven search, with their streams. */
async function bothWays(model: CocaModel, reference: CaptionDecoder, image: Float32Array, settings: CaptionSettings, gpuFed?: CaptionDecoder) {
  const caption = resolveCaptionOptions(settings, { contextLength: model.config.text.contextLength });
  const streams = { gpu: [] as Stream, host: [] as Stream };
  const gpu = gpuFed
    ? await model.run(() => gpuFed.caption(image, caption, { onToken: (id, index) => streams.gpu.push([id, index]) }))
    : await model.caption(image, settings, { onToken: (id, index) => streams.gpu.push([id, index]) });
  const host = await model.run(() => reference.captionHostDriven(image, caption, { onToken: (id, index) => streams.host.push([id, index]) }));
  return { gpu, host, streams };
}

async function expectSameEverywhere(model: CocaModel, settingsList: readonly CaptionSettings[], gpuFed?: CaptionDecoder): Promise<number[][]> {
  const reference = decoder(model);
  const captions: number[][] = [];
  for (const [i, settings] of settingsList.entries()) {
    const { gpu, host, streams } = await bothWays(model, reference, pixels[i % 3]!, settings, gpuFed);
    const what = JSON.stringify(settings);
    expect(gpu, what).toEqual(host);
    expect(streams.gpu, what).toEqual(streams.host);
    captions.push(gpu);
  }
  return captions;
}

/**
 * Makes the end token likely by giving it FREQUENT_TOKEN's vocabulary-projection row × EAGER_END_SCALE (both
 * searches see the same model); returns the function that puts the original row back.
 */
async function eagerToEnd(model: CocaModel): Promise<() => void> {
  const w = model.weights.get('text_decoder.text_projection');
  const D = model.config.decoder.width;
  const [bytes] = await model.gpu.read([w]);
  const original = bytes!.slice(0);
  const rows = w.dtype === 'f16x2' ? f16ArrayToF32(new Uint16Array(bytes!)) : new Float32Array(bytes!);
  rows.set(rows.subarray(FREQUENT_TOKEN * D, (FREQUENT_TOKEN + 1) * D).map((v) => v * EAGER_END_SCALE), EOT * D);
  model.gpu.write(w, w.dtype === 'f16x2' ? packF16Pairs(f32ArrayToF16(rows)) : rows);
  return () => model.gpu.write(w, new Uint8Array(original));
}

for (const dtype of ['fp32', 'fp16'] as const) {
  describe(`GPU-fed decoding, ${dtype} weights`, () => {
    it('equals the host-driven search for every strategy: token ids and streamed tokens', async () => {
      const captions = await expectSameEverywhere(models.get(dtype)!, SETTINGS);
      // The golden greedy captions are 30 tokens long: the default greedy caption is read back in 4 chunks.
      if (dtype === 'fp32') expect(captions[0]).toEqual(goldenCaptions[0]);
    });

    it('equals it when the end token is likely: captions end mid-chunk, beams finish as hypotheses', async () => {
      const model = models.get(dtype)!;
      const restore = await eagerToEnd(model);
      try {
        const captions = await expectSameEverywhere(model, SETTINGS);
        // The end token was chosen, not forced, in most of them, and greedy stopped inside a chunk of steps.
        const chosenEnds = captions.filter((c, i) => c[c.length - 1] === EOT && c.length < (resolveCaptionOptions(SETTINGS[i]).maxLength));
        expect(chosenEnds.length).toBeGreaterThanOrEqual(SETTINGS.length / 2);
        expect((captions[0]!.length - 1) % STEPS_PER_READ).not.toBe(0);
      } finally {
        restore();
      }
    });
  });
}

describe('GPU-fed decoding: queueing and reading back', () => {
  it(`a 30-token greedy caption waits for the GPU ${Math.ceil(28 / STEPS_PER_READ)} times (the host-driven search: 28)`, async () => {
    const model = models.get('fp32')!;
    const stats = model.gpu.stats;
    const reference = decoder(model);
    const before = { waits: stats.hostWaits, submits: stats.submits };
    const tokens = await model.caption(pixels[0]!);
    expect(tokens).toEqual(goldenCaptions[0]);
    const waits = stats.hostWaits - before.waits;
    expect(waits).toBe(Math.ceil(28 / STEPS_PER_READ));
    expect(waits).toBeLessThanOrEqual(4);
    // One submit for the image, one per step, one per read.
    expect(stats.submits - before.submits).toBe(1 + 28 + waits);
    const hostBefore = stats.hostWaits;
    await model.run(() => reference.captionHostDriven(pixels[0]!, resolveCaptionOptions({})));
    expect(stats.hostWaits - hostBefore).toBe(28);
  });

  it('other schedules (steps per read, readbacks queued ahead) give the same captions and streams', async () => {
    const model = models.get('fp32')!;
    const few: CaptionSettings[] = [{ strategy: 'greedy' }, { strategy: 'beam', numBeams: 3, maxLength: 12 }, { strategy: 'beam-openclip', maxLength: 9 }, { strategy: 'sample', seed: 5, temperature: 2 }];
    const restore = await eagerToEnd(model);
    try {
      for (const schedule of [{ stepsPerRead: 1, lookahead: 0 }, { stepsPerRead: 3, lookahead: 1 }, { stepsPerRead: 5, lookahead: 2 }]) {
        const gpuFed = decoder(model, schedule);
        await expectSameEverywhere(model, few, gpuFed);
      }
    } finally {
      restore();
    }
    for (const schedule of [{ stepsPerRead: 2, lookahead: 3 }, { stepsPerRead: 28, lookahead: 0 }]) await expectSameEverywhere(model, few, decoder(model, schedule));
  });

  it('an abort rejects at once with AbortError, streams nothing after it, and leaves the decoder ready', async () => {
    const model = models.get('fp32')!;
    for (const schedule of [undefined, { stepsPerRead: 2, lookahead: 2 }]) {
      const gpuFed = decoder(model, schedule);
      const controller = new AbortController();
      const streamed: number[] = [];
      const aborted = model.run(() =>
        gpuFed.caption(pixels[1]!, resolveCaptionOptions({}), {
          signal: controller.signal,
          onToken: (id) => {
            streamed.push(id);
            if (streamed.length === 3) controller.abort();
          },
        }),
      );
      await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
      expect(streamed).toEqual(goldenCaptions[1]!.slice(1, 4));
      // Steps queued before the abort still run on the GPU; the next caption is not disturbed by them.
      expect(await model.run(() => gpuFed.caption(pixels[2]!, resolveCaptionOptions({})))).toEqual(goldenCaptions[2]);
    }
    const already = AbortSignal.abort();
    await expect(model.caption(pixels[0]!, {}, { signal: already })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await model.caption(pixels[0]!)).toEqual(goldenCaptions[0]);
  });
});
