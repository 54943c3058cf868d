// How many dispatches each pass records, per layer (a known answer from the fusions), on both kernel
// families — CPU adapters (this machine's lavapipe) and GPUs (the same adapter described as a GPU, so every
// kernel takes its GPU variant) — and the golden tiny model through the GPU family, against OpenCLIP.
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../src/gpu/dawn-node';
import { summarizeAdapter } from '../src/gpu/device';
import { Gpu } from '../src/gpu/gpu';
import { nodeShaders } from '../src/gpu/shaders-node';
import { openCheckpoint } from '../src/io/checkpoint';
import { openFileSource } from '../src/io/source-node';
import type { CocaConfig } from '../src/model/config';
import { CocaModel } from '../src/model/coca';
import { maxAbs, maxAbsDiff, testGpu } from './helpers/gpu';
import { golden, goldenJson, TINY, tinyConfig, tokenizer, type GoldenJson } from './helpers/golden';

// golden/README.md: fp32 features within 1e-4·max(1, max|ref|).
const ACTIVATION_TOL = 1e-4;

/**
 * Dispatches of each pass, per the fusions (README, Performance):
 * - image encode: the patch embedding (GPU: one kernel; CPU: im2col + matmul), class token + positions +
 *   ln_pre, (CPU: block 0's ln_1), per layer [ln_1 + q|k|v (+ attention on CPU)] (GPU: + [attention]),
 *   [out_proj + residual (CPU: + ln_2)], [ln_2 + fc + GELU] (CPU: fc + GELU), [c_proj + residual (CPU: + the
 *   next LayerNorm)], then the pooler's [ln_k + k|v], its attention, its out_proj, and the features
 *   (ln_post + proj + L2 norm);
 * - text encode: token and class embeddings, (CPU: ln_1), the layers as above, the features;
 * - a decoding step: the token embedding; per text layer [ln_1 + q, k, v + cache append + attention],
 *   [out_proj + residual], [ln_2 + fc + GELU], [c_proj + residual]; per decoder layer those four and the same
 *   four for the cross-attention block; [ln_final + vocabulary projection] (CPU: ln_final, then the projection).
 */
function expected(c: CocaConfig, cpu: boolean) {
  const layer = cpu ? 4 : 5;
  return {
    image: (cpu ? 2 + 1 + 1 : 1 + 1) + layer * c.vision.layers + 4,
    text: 2 + (cpu ? 1 : 0) + layer * c.text.layers + 1,
    step: 1 + 4 * c.text.layers + 8 * c.decoder.layers + (cpu ? 2 : 1),
  };
}

/** This adapter, described as a GPU: every kernel index then picks its GPU variant. */
async function asGpuFamily(): Promise<Gpu> {
  const adapter = (await nodeGpu().requestAdapter())!;
  const requiredLimits: Record<string, number> = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits });
  const summary = { ...summarizeAdapter(adapter), description: 'a GPU', device: 'a GPU', vendor: 'test', architecture: 'test', isFallbackAdapter: false };
  return new Gpu({ device, adapter: summary, limits: device.limits, hasF16: false, hasTimestampQuery: false }, nodeShaders());
}

async function tiny(gpu: Gpu): Promise<CocaModel> {
  return CocaModel.load(gpu, await openCheckpoint(await openFileSource(`${TINY}open_clip_model.safetensors`)), await tinyConfig(), { dtype: 'fp32' });
}

/** Dispatches `call` records, from the GPU's counters. */
async function dispatchesOf(model: CocaModel, call: () => Promise<unknown>): Promise<number> {
  const before = model.gpu.stats.dispatches;
  await call();
  return model.gpu.stats.dispatches - before;
}

/** Dispatches of one greedy decoding step: captions forced to n and to n + 4 tokens, the difference over 4. */
async function stepDispatches(model: CocaModel, image: Float32Array): Promise<number> {
  const caption = (n: number) => () => model.caption(image, { minLength: n, maxLength: n + 1 });
  return ((await dispatchesOf(model, caption(10))) - (await dispatchesOf(model, caption(6)))) / 4;
}

let info: GoldenJson;
let pixels: Float32Array[];
beforeAll(async () => {
  info = await goldenJson();
  const all = await golden('pixel_values');
  pixels = info.images.map((_, i) => all.slice((i * all.length) / 3, ((i + 1) * all.length) / 3));
});

describe.each([
  ['CPU-adapter kernels (lavapipe)', true],
  ['GPU kernels', false],
] as const)('dispatches per pass, %s', (_, cpu) => {
  it('image encode, text encode and a decoding step record the expected number per layer', async () => {
    const gpu = cpu ? await testGpu() : await asGpuFamily();
    expect(gpu.facts.cpu).toBe(cpu);
    const model = await tiny(gpu);
    try {
      const want = expected(model.config, cpu);
      expect(await dispatchesOf(model, () => model.encodeImages([pixels[0]!]))).toBe(want.image);
      expect(await dispatchesOf(model, () => model.encodeImages(pixels))).toBe(want.image); // independent of the batch
      expect(await dispatchesOf(model, () => model.encodeTexts([new Int32Array(76)]))).toBe(want.text);
      // Each step also records the choice of the next token: the top-k candidates, then the GPU-fed pick
      // that writes the id the next step reads.
      expect(await stepDispatches(model, pixels[0]!)).toBe(want.step + 2);
    } finally {
      model.dispose();
      if (!cpu) gpu.destroy();
    }
  });
});

describe('the golden tiny model through the GPU kernels (prologue LayerNorms, the GPU attention kernels)', () => {
  it('features and greedy captions match OpenCLIP', async () => {
    const gpu = await asGpuFamily();
    const model = await tiny(gpu);
    try {
      const images = await model.encodeImages(pixels);
      const want = await golden('image_features');
      expect(maxAbsDiff(images.flatMap((f) => [...f]), want)).toBeLessThanOrEqual(ACTIVATION_TOL * Math.max(1, maxAbs(want)));
      const texts = await model.encodeTexts((await tokenizer()).tokenize(info.texts, 76));
      const wantTexts = await golden('text_features');
      expect(maxAbsDiff(texts.flatMap((f) => [...f]), wantTexts)).toBeLessThanOrEqual(ACTIVATION_TOL * Math.max(1, maxAbs(wantTexts)));
      for (const [i, ref] of info.greedy.captions.entries()) expect(await model.caption(pixels[i]!)).toEqual(ref.tokens);
    } finally {
      model.dispose();
      gpu.destroy();
    }
  });
});
