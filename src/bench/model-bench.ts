// The model benchmark, platform-neutral: runs in Node (Dawn) and in a Chromium page alike.
// Reports medians over several runs after a warm-up, one record per metric.
import type { Gpu } from '../gpu/gpu';
import type { CocaConfig } from '../model/config';
import { CocaModel } from '../model/coca';
import { ModelDiagnostics } from '../model/diagnostics';
import type { WeightDtype } from '../options';
import { randomCheckpoint } from './random-checkpoint';
import { countWork, gpuTime, summarize, type Timing } from './harness';

export interface BenchRecord extends Partial<Timing> {
  config: string;
  runtime: 'node' | 'chromium';
  adapter: string;
  dtype: WeightDtype;
  metric: string;
  batch?: number;
  strategy?: string;
  value?: number;
  unit?: string;
  [extra: string]: unknown;
}

export interface ModelBenchOptions {
  gpu: Gpu;
  runtime: 'node' | 'chromium';
  config: CocaConfig;
  dtype: WeightDtype;
  quick: boolean;
  emit: (record: BenchRecord) => void;
  /** Runs after the benchmark on the same loaded model (the device kit profiles it there). */
  withModel?: (model: CocaModel) => Promise<void>;
}

/** Multiply-adds ×2 of one image through the vision tower and pooler (matmuls and attention). */
export function imageFlops(c: CocaConfig): number {
  const v = c.vision;
  const L = (v.imageSize / v.patchSize) ** 2 + 1;
  const W = v.width;
  const D = c.embedDim;
  const Q = v.poolerQueries;
  const perLayer = 2 * L * W * (3 * W + W + 2 * v.mlpRatio * W) + 2 * 2 * L * L * W;
  const patches = 2 * (L - 1) * 3 * v.patchSize ** 2 * W;
  const pooler = 2 * (2 * L * W * D + Q * Q * 0 + 2 * Q * L * D + Q * D * D) + 2 * D * D;
  return v.layers * perLayer + patches + pooler;
}

/** Weight bytes one cached decoding step reads (text tower, decoder without cross K/V, vocabulary). */
export function stepWeightBytes(c: CocaConfig, dtype: WeightDtype): number {
  const t = c.text;
  const d = c.decoder;
  const bytesPer = dtype === 'fp16' ? 2 : 4;
  const block = (w: number, mlp: number) => 4 * w * w + 2 * mlp * w * w;
  const params = t.layers * block(t.width, t.mlpRatio) + d.layers * (block(d.width, d.mlpRatio) + 2 * d.width * d.width + 2 * d.mlpRatio * d.width * d.width) + d.vocabSize * d.width + t.width;
  return params * bytesPer;
}

/** Wall-clock milliseconds of `runs` calls of `body` after `warmup` unmeasured ones. */
export async function timeRuns(runs: number, warmup: number, body: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await body();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await body();
    times.push(performance.now() - start);
  }
  return summarize(times);
}

export function randomImage(c: CocaConfig, seed: number): Float32Array {
  const n = 3 * c.vision.imageSize ** 2;
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.013 + seed) * 1.5);
}

export function randomTokens(c: CocaConfig, seed: number): Int32Array {
  const t = new Int32Array(c.text.contextLength);
  const words = 6 + (seed % 10);
  t[0] = 49406;
  for (let i = 1; i <= words; i++) t[i] = 300 + ((seed * 131 + i * 977) % 40000);
  t[words + 1] = 49407;
  return t;
}

/** The caption whose host waits are counted: OpenCLIP's longest (30 tokens with start and end: 28 decoding steps). */
export const WAIT_CAPTION_TOKENS = 30;

export async function runModelBench(o: ModelBenchOptions): Promise<void> {
  const config = o.config;
  const gpu = o.gpu;
  const base = { config: config.name, runtime: o.runtime, adapter: gpu.adapterName, dtype: o.dtype };
  const runs = o.quick ? 3 : 5;
  const emit = (r: Omit<BenchRecord, keyof typeof base>): void => o.emit({ ...base, ...r } as BenchRecord);
  // GPU time comes from timestamp queries, measured in runs of their own so that the wall-clock runs stay untimed.
  const timestamps = gpu.info.hasTimestampQuery;
  emit({ metric: 'gpu_timestamps', value: timestamps ? 1 : 0, note: timestamps ? 'timestamp-query: *_gpu_ms metrics are GPU busy time' : 'this adapter has no timestamp-query: the *_gpu_* metrics are omitted' });

  const loadStart = performance.now();
  const model = await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: o.dtype });
  emit({ metric: 'load_ms', median: performance.now() - loadStart, runs: 1, note: 'random weights generated, converted, uploaded; all pipelines compiled' });
  try {
    const image = randomImage(config, 1);
    const flops = imageFlops(config);
    for (const batch of o.quick ? [1] : [1, 8]) {
      const images = Array.from({ length: batch }, (_, i) => randomImage(config, i + 1));
      const encode = () => model.encodeImages(images);
      const t = await timeRuns(batch === 1 ? runs : Math.max(2, runs - 2), 1, encode);
      emit({ metric: 'image_encode_ms', batch, ...t, gflops: (flops * batch) / (t.median * 1e6) });
      if (timestamps) emit({ metric: 'image_encode_gpu_ms', batch, ...(await gpuTime(gpu, t.runs, 0, encode)) });
    }
    const encodeWork = await countWork(gpu, () => model.encodeImages([image]));
    emit({ metric: 'submits_per_image_encode', value: encodeWork.submits, dispatches: encodeWork.dispatches });
    emit({ metric: 'dispatches_per_image_encode', batch: 1, value: encodeWork.dispatches });

    const tokens = randomTokens(config, 3);
    const encodeText = () => model.encodeTexts([tokens]);
    const text = await timeRuns(runs, 1, encodeText);
    emit({ metric: 'text_encode_ms', batch: 1, ...text });
    if (timestamps) emit({ metric: 'text_encode_gpu_ms', batch: 1, ...(await gpuTime(gpu, text.runs, 0, encodeText)) });

    // Decoding: the end token is blocked until the length, so every run generates the same tokens. The
    // per-token cost is the difference between a 20-token and a 10-token caption over the 10 extra steps,
    // which leaves out the image encode and cross-attention K/V that every caption starts with. The
    // dispatches and GPU time per token are the same differences.
    const length = 20;
    const extra = length / 2;
    for (const strategy of ['greedy', 'beam'] as const) {
      const caption = (n: number) => () => model.caption(image, { strategy, minLength: n, maxLength: n + 1, ...(strategy === 'beam' ? { numBeams: 3 } : {}) });
      const long = await timeRuns(o.quick ? 2 : 3, 1, caption(length));
      const short = await timeRuns(o.quick ? 2 : 3, 0, caption(extra));
      const perToken = (long.median - short.median) / extra;
      emit({ metric: 'decode_ms_per_token', strategy, median: perToken, runs: long.runs, caption_ms: long.median, gbs: stepWeightBytes(config, o.dtype) / (perToken * 1e6), note: `(caption of ${length} tokens − caption of ${extra}) / ${extra}` });
      const longWork = await countWork(gpu, caption(length));
      const shortWork = await countWork(gpu, caption(extra));
      emit({ metric: 'dispatches_per_token', strategy, value: (longWork.dispatches - shortWork.dispatches) / extra, note: `(dispatches of a ${length}-token caption − of a ${extra}-token one) / ${extra}` });
      if (timestamps) {
        const longGpu = await gpuTime(gpu, long.runs, 0, caption(length));
        const shortGpu = await gpuTime(gpu, short.runs, 0, caption(extra));
        emit({ metric: 'decode_gpu_ms_per_token', strategy, median: (longGpu.median - shortGpu.median) / extra, runs: longGpu.runs, caption_gpu_ms: longGpu.median, note: `GPU busy time: (caption of ${length} tokens − caption of ${extra}) / ${extra}` });
      }
    }
    const n = Math.min(WAIT_CAPTION_TOKENS, config.text.contextLength);
    const waits = await countWork(gpu, () => model.caption(image, { strategy: 'greedy', minLength: n, maxLength: n }));
    emit({ metric: 'host_waits_per_caption', strategy: 'greedy', value: waits.hostWaits, tokens: n, note: `greedy with minLength = maxLength = ${n}: ${n} tokens with start and end, ${n - 2} decoding steps; every staging map the host awaited` });

    const recompute = summarize(await (await ModelDiagnostics.attach(model)).timeRecompute(image, length, runs));
    emit({ metric: 'recompute_ms_per_token', tokens: length, ...recompute, note: 'OpenCLIP-style step at 20 tokens: text tower + decoder (with its cross-attention K/V) over the whole sequence' });

    const images8 = Array.from({ length: 8 }, (_, i) => randomImage(config, i + 10));
    const texts16 = Array.from({ length: 16 }, (_, i) => randomTokens(config, i + 20));
    const sim = await timeRuns(o.quick ? 2 : 3, 1, async () => model.similarity(await model.encodeImages(images8), await model.encodeTexts(texts16)));
    emit({ metric: 'similarity_ms', batch: 8, texts: 16, ...sim });

    const bytes = gpu.stats.bytes;
    emit({ metric: 'gpu_memory_mb', value: (bytes.weights + bytes.activations + bytes.uniforms + bytes.staging) / 2 ** 20, weights_mb: bytes.weights / 2 ** 20, activations_mb: bytes.activations / 2 ** 20 });
    if (o.withModel) await o.withModel(model);
  } finally {
    model.dispose();
  }
}
