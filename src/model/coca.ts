// A loaded CoCa model on one GPU: image and text embeddings, similarity, captions. Each forward pass
// is recorded into one submit; only the results cross back (embeddings, or a token id per step).
// Caption decoding is decoding.ts's; passes used only by tests and benchmarks are diagnostics.ts's.
import { Arena } from '../gpu/buffers';
import type { Gpu } from '../gpu/gpu';
import type { PipelineSpec } from '../gpu/pipelines';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { Checkpoint } from '../io/checkpoint';
import { Activations } from './activations';
import type { Ctx } from './blocks';
import type { CocaConfig } from './config';
import { CaptionDecoder, type CaptionImage, type DecodeHooks } from './decoding';
import { EOT, SOT } from './generate';
import type { ModelParts } from './parts';
import { recordText } from './text';
import { FEATURES_ONLY, recordPoolerQueries, recordVision } from './vision';
import { CocaWeights, type WeightProgress } from './weights';
import { OptionsError } from '../errors';
import { resolveCaptionOptions, resolveMath, type CaptionSettings, type MathPrecision, type WeightDtype } from '../options';

export { EOT, SOT };

export interface Similarity {
  /** logit_scale · cos, [images][texts]. */
  logits: number[][];
  /** softmax over texts for each image. */
  probs: number[][];
  /** cos, [images][texts]. */
  cosine: number[][];
}

export interface LoadOptions {
  dtype?: WeightDtype;
  math?: MathPrecision;
  onProgress?: (p: WeightProgress) => void;
  signal?: AbortSignal;
}

/** Image batch whose pipelines are compiled at load too (larger batches use the same ones). */
const COMPILED_IMAGE_BATCH = 8;

export class CocaModel implements ModelParts {
  readonly act: Activations;
  readonly poolerQueries: Tensor;
  private readonly arena: Arena;
  private readonly decoder: CaptionDecoder;
  private serial: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly gpu: Gpu,
    readonly config: CocaConfig,
    readonly weights: CocaWeights,
    readonly math: MathPrecision,
  ) {
    this.arena = new Arena(gpu);
    this.act = new Activations(gpu, this.arena, config);
    this.poolerQueries = this.act.get('poolerQueries');
    this.decoder = new CaptionDecoder(this);
  }

  /** Straight from a checkpoint: reads, converts and uploads the weights, then as fromWeights. */
  static async load(gpu: Gpu, checkpoint: Checkpoint, config: CocaConfig, options: LoadOptions = {}): Promise<CocaModel> {
    const math = usableMath(gpu, options.math);
    return CocaModel.build(gpu, config, await CocaWeights.load(gpu, checkpoint, config, options), math);
  }

  /**
   * A model over weights already on the GPU (the engine streams them from its cache): compiles every
   * pipeline and computes the pooler's queries. On failure the weights are released too.
   */
  static fromWeights(gpu: Gpu, config: CocaConfig, weights: CocaWeights, math?: MathPrecision): Promise<CocaModel> {
    return CocaModel.build(gpu, config, weights, usableMath(gpu, math));
  }

  private static async build(gpu: Gpu, config: CocaConfig, weights: CocaWeights, math: MathPrecision): Promise<CocaModel> {
    const model = new CocaModel(gpu, config, weights, math);
    try {
      await model.compile();
      const rec = gpu.recorder({ label: 'pooler queries' });
      recordPoolerQueries(model.ctx(rec), config, model.poolerQueries);
      await rec.submit();
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  /** Compiles every pipeline inference will use, in parallel, by recording (not submitting) each kind of pass. */
  private async compile(): Promise<void> {
    const specs: PipelineSpec[] = [];
    const dry = (body: (ctx: Ctx) => void): void => {
      const rec = this.gpu.recorder({ label: 'dry run' });
      body(this.ctx(rec));
      specs.push(...rec.pipelineSpecs());
    };
    dry((ctx) => recordPoolerQueries(ctx, this.config, this.poolerQueries));
    // Kernels pick variants by shape (e.g. matmul tiles by row count), so record the batch sizes that
    // select them: one image (the one a caption attends to) and a batch of 8.
    dry((ctx) => {
      const { pooled } = recordVision(ctx, this.config, this.act.get('pixels', 1), 1, this.poolerQueries);
      this.decoder.recordAll(ctx, pooled!);
    });
    // A batch of 8 with both outputs: encodes ask for the embeddings, batched captions for the image tokens.
    dry((ctx) => recordVision(ctx, this.config, this.act.get('pixels', COMPILED_IMAGE_BATCH), COMPILED_IMAGE_BATCH, this.poolerQueries));
    const L = this.config.text.contextLength;
    dry((ctx) => recordText(ctx, this.config, this.act.get('tokens', 1, L), 1, L, true));
    await this.gpu.pipelines.prepare(specs);
  }

  ctx(rec: Recorder): Ctx {
    return { gpu: this.gpu, rec, weights: this.weights, arena: this.arena, f16Math: this.math === 'f16' };
  }

  /**
   * Runs `job` when every earlier one has settled: passes share the activation buffers, so one runs at a
   * time. Every call here goes through it; the diagnostics module runs its passes through it too.
   */
  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.serial.then(job, job);
    this.serial = result.catch(() => undefined);
    return result;
  }

  /** Normalized image embeddings, one pass for the whole batch. pixels: preprocessed [3, S, S] each. */
  encodeImages(images: readonly Float32Array[]): Promise<Float32Array[]> {
    return this.run(async () => {
      const rec = this.gpu.recorder({ label: 'encode images' });
      const pixels = this.act.uploadPixels(images);
      const { features } = recordVision(this.ctx(rec), this.config, pixels, images.length, this.poolerQueries, FEATURES_ONLY);
      const read = rec.read(features!);
      await rec.submit();
      return splitRows(new Float32Array(await read), images.length);
    });
  }

  /** Normalized text embeddings. tokens: [contextLength] each, padded with 0. */
  encodeTexts(tokens: readonly Int32Array[]): Promise<Float32Array[]> {
    return this.run(async () => {
      const L = this.config.text.contextLength;
      const rec = this.gpu.recorder({ label: 'encode texts' });
      const ids = this.act.uploadTokens(tokens, L);
      const { features } = recordText(this.ctx(rec), this.config, ids, tokens.length, L, true);
      const read = rec.read(features!);
      await rec.submit();
      return splitRows(new Float32Array(await read), tokens.length);
    });
  }

  similarity(imageFeatures: readonly Float32Array[], textFeatures: readonly Float32Array[]): Similarity {
    const scale = this.weights.logitScale;
    const cosine = imageFeatures.map((img) => textFeatures.map((txt) => dot(img, txt)));
    const logits = cosine.map((row) => row.map((c) => scale * c));
    return { logits, probs: logits.map(softmax), cosine };
  }

  /** A caption as token ids, start and end tokens included (see decoding.ts). Bad settings: OptionsError. */
  async caption(image: CaptionImage, settings: CaptionSettings = {}, hooks: DecodeHooks = {}): Promise<number[]> {
    const caption = resolveCaptionOptions(settings, { contextLength: this.config.text.contextLength });
    return this.run(() => this.decoder.caption(image, caption, hooks));
  }

  /**
   * Captions of several images with one vision pass for all of them (see decoding.ts): each equals
   * `caption` of that image alone. `hooks.onToken` is not called (captions of a batch do not stream).
   */
  async captionImages(images: readonly Float32Array[], settings: CaptionSettings = {}, hooks: Pick<DecodeHooks, 'signal'> = {}): Promise<number[][]> {
    const caption = resolveCaptionOptions(settings, { contextLength: this.config.text.contextLength });
    return this.run(() => this.decoder.captionBatch(images, caption, hooks));
  }

  dispose(): void {
    this.decoder.dispose();
    this.arena.destroy();
    this.weights.destroy();
  }
}

/** The math option, resolved and checked against the device once, before anything is loaded. */
function usableMath(gpu: Gpu, value: MathPrecision | undefined): MathPrecision {
  const math = resolveMath(value);
  if (math === 'f16' && !gpu.device.features.has('shader-f16')) {
    throw new OptionsError(`f16 arithmetic needs a GPU with the shader-f16 feature, and ${gpu.adapterName} has none: use math 'f32'`, 'math');
  }
  return math;
}

export function splitRows(data: Float32Array, rows: number): Float32Array[] {
  const width = data.length / rows;
  return Array.from({ length: rows }, (_, i) => data.slice(i * width, (i + 1) * width));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function softmax(row: number[]): number[] {
  const max = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
