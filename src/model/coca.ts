// A loaded CoCa model on one GPU: image and text embeddings, similarity, captions. Each forward pass
// is recorded into one submit; only the results cross back (embeddings, or a token id per step).
import { Arena } from '../gpu/buffers';
import type { Gpu } from '../gpu/gpu';
import type { PipelineSpec } from '../gpu/pipelines';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';
import type { Checkpoint } from '../io/checkpoint';
import { topK } from '../kernels/topk';
import type { Ctx } from './blocks';
import type { CocaConfig } from './config';
import { recordCrossKV, recordDecodeStep, recordDecoder, type StepCaches } from './decoder';
import { recordText } from './text';
import { recordPoolerQueries, recordVision } from './vision';
import { CocaWeights, type WeightDtype, type WeightProgress } from './weights';

export const SOT = 49406;
export const EOT = 49407;

export interface CaptionOptions {
  /** Sequence length (with the start token) below which the end token is blocked. OpenCLIP: 5. */
  minLength?: number;
  /** The end token is forced when the sequence would reach this length. OpenCLIP: 30. */
  maxLength?: number;
  onToken?: (id: number, index: number) => void;
  signal?: AbortSignal;
}

export interface Similarity {
  /** logit_scale · cos, [images][texts]. */
  logits: number[][];
  /** softmax over texts for each image. */
  probs: number[][];
}

export interface LoadOptions {
  dtype?: WeightDtype;
  onProgress?: (p: WeightProgress) => void;
  signal?: AbortSignal;
}

export class CocaModel {
  private readonly arena: Arena;
  private readonly poolerQueries: Tensor;
  private serial: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly gpu: Gpu,
    readonly config: CocaConfig,
    readonly weights: CocaWeights,
  ) {
    this.arena = new Arena(gpu);
    this.poolerQueries = this.arena.tensor('pool.q', [config.vision.poolerQueries, config.embedDim]);
  }

  static async load(gpu: Gpu, checkpoint: Checkpoint, config: CocaConfig, options: LoadOptions = {}): Promise<CocaModel> {
    const weights = await CocaWeights.load(gpu, checkpoint, config, options);
    const model = new CocaModel(gpu, config, weights);
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
    const pixels = this.pixelTensor(1);
    dry((ctx) => recordPoolerQueries(ctx, this.config, this.poolerQueries));
    dry((ctx) => recordVision(ctx, this.config, pixels, 1, this.poolerQueries));
    dry((ctx) => recordText(ctx, this.config, this.tokenTensor(1, this.config.text.contextLength), 1, this.config.text.contextLength, true));
    dry((ctx) => {
      const caches = this.stepCaches(1);
      recordCrossKV(ctx, this.config, this.arena.tensor('vis.pooled', [1, this.config.vision.poolerQueries, this.config.embedDim]), 1, caches.cross);
      recordDecodeStep(ctx, this.config, this.arena.tensor('step.ids', [1], 'u32'), 1, 1, caches, this.logitsTensor(1));
      this.recordPick(ctx, 1, 1, EOT);
    });
    await this.gpu.pipelines.prepare(specs);
  }

  private ctx(rec: Recorder): Ctx {
    return { gpu: this.gpu, rec, weights: this.weights, arena: this.arena };
  }

  /** One call at a time: passes share the arena's buffers. */
  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.serial.then(job, job);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private pixelTensor(batch: number): Tensor {
    const S = this.config.vision.imageSize;
    return this.arena.tensor('in.pixels', [batch, 3, S, S]);
  }

  private tokenTensor(texts: number, length: number): Tensor {
    return this.arena.tensor('in.tokens', [texts, length], 'u32');
  }

  private logitsTensor(rows: number): Tensor {
    return this.arena.tensor('dec.logits', [rows, this.config.decoder.vocabSize]);
  }

  private stepCaches(rows: number): StepCaches {
    const maxLength = this.config.text.contextLength;
    const D = this.config.decoder.width;
    const imageTokens = this.config.vision.poolerQueries - 1;
    return {
      maxLength,
      text: (i) => this.arena.tensor(`cache.text.${i}`, [rows, maxLength, 2 * this.config.text.width]),
      decoder: (i) => this.arena.tensor(`cache.dec.${i}`, [rows, maxLength, 2 * D]),
      cross: (i) => this.arena.tensor(`cache.cross.${i}`, [1, imageTokens, 2 * D]),
    };
  }

  private uploadPixels(images: readonly Float32Array[]): Tensor {
    const S = this.config.vision.imageSize;
    const per = 3 * S * S;
    const pixels = this.pixelTensor(images.length);
    const all = new Float32Array(per * images.length);
    images.forEach((img, i) => {
      if (img.length !== per) throw new RangeError(`image ${i} has ${img.length} values, expected 3×${S}×${S}`);
      all.set(img, i * per);
    });
    this.gpu.write(pixels, all);
    return pixels;
  }

  private uploadTokens(tokens: readonly Int32Array[], length: number): Tensor {
    const t = this.tokenTensor(tokens.length, length);
    const all = new Uint32Array(tokens.length * length);
    tokens.forEach((row, i) => all.set(row.subarray(0, length), i * length));
    this.gpu.write(t, all);
    return t;
  }

  /** Normalized image embeddings, one pass for the whole batch. pixels: preprocessed [3, S, S] each. */
  encodeImages(images: readonly Float32Array[]): Promise<Float32Array[]> {
    return this.exclusive(async () => {
      const rec = this.gpu.recorder({ label: 'encode images' });
      const pixels = this.uploadPixels(images);
      const { features } = recordVision(this.ctx(rec), this.config, pixels, images.length, this.poolerQueries);
      const read = rec.read(features);
      await rec.submit();
      return splitRows(new Float32Array(await read), images.length);
    });
  }

  /** Normalized text embeddings. tokens: [contextLength] each, padded with 0. */
  encodeTexts(tokens: readonly Int32Array[]): Promise<Float32Array[]> {
    return this.exclusive(async () => {
      const L = this.config.text.contextLength;
      const rec = this.gpu.recorder({ label: 'encode texts' });
      const ids = this.uploadTokens(tokens, L);
      const { features } = recordText(this.ctx(rec), this.config, ids, tokens.length, L, true);
      const read = rec.read(features!);
      await rec.submit();
      return splitRows(new Float32Array(await read), tokens.length);
    });
  }

  similarity(imageFeatures: readonly Float32Array[], textFeatures: readonly Float32Array[]): Similarity {
    const scale = this.weights.logitScale;
    const logits = imageFeatures.map((img) => textFeatures.map((txt) => scale * dot(img, txt)));
    return { logits, probs: logits.map(softmax) };
  }

  /**
   * Every named stage of an image and a text pass, read back step by step (debug mode): how a
   * parity problem is pinned to one layer. Keys are the recorder labels (vision.block0, …).
   */
  debugStages(image: Float32Array, tokens: Int32Array): Promise<Map<string, Float32Array>> {
    return this.exclusive(async () => {
      const rec = this.gpu.recorder({ label: 'debug', debug: true });
      const pixels = this.uploadPixels([image]);
      const ids = this.uploadTokens([tokens], this.config.text.contextLength);
      recordVision(this.ctx(rec), this.config, pixels, 1, this.poolerQueries);
      recordText(this.ctx(rec), this.config, ids, 1, this.config.text.contextLength, true);
      await rec.submit();
      return rec.debugOutputs;
    });
  }

  /**
   * OpenCLIP's way: the full text tower and decoder over `tokens[:length]` for each image/text pair,
   * returning the logits at every position [B][length·V]. Used for parity tests and as the baseline
   * that the cached decoder is measured against.
   */
  decoderLogits(images: readonly Float32Array[], tokens: readonly Int32Array[], length: number): Promise<Float32Array[]> {
    return this.exclusive(async () => {
      const batch = images.length;
      const rec = this.gpu.recorder({ label: 'decoder (full)' });
      const ctx = this.ctx(rec);
      const pixels = this.uploadPixels(images);
      const ids = this.uploadTokens(tokens, length);
      const { pooled } = recordVision(ctx, this.config, pixels, batch, this.poolerQueries);
      const D = this.config.decoder.width;
      const Q = this.config.vision.poolerQueries;
      const kv = (i: number): Tensor => this.arena.tensor(`full.cross.${i}`, [batch, Q - 1, 2 * D]);
      recordCrossKV(ctx, this.config, pooled, batch, kv);
      const { x } = recordText(ctx, this.config, ids, batch, length, false);
      const logits = this.arena.tensor('full.logits', [batch * length, this.config.decoder.vocabSize]);
      recordDecoder(ctx, this.config, x, batch, length, kv, { offset: 0, count: length }, logits);
      const read = rec.read(logits);
      await rec.submit();
      return splitRows(new Float32Array(await read), batch);
    });
  }

  /** The chosen next token per row (top-1 with the end token optionally blocked). */
  private recordPick(ctx: Ctx, rows: number, k: number, blockId: number | null): { indices: Tensor; values: Tensor } {
    const indices = this.arena.tensor('pick.indices', [rows, k], 'u32');
    const values = this.arena.tensor('pick.values', [rows, k]);
    topK(ctx, { x: this.logitsTensor(rows), k, indices, values, blockId: blockId ?? undefined, label: 'pick' });
    return { indices, values };
  }

  /** Greedy captioning exactly as OpenCLIP's generate(top_k=1): see golden/README.md. */
  caption(image: Float32Array, options: CaptionOptions = {}): Promise<number[]> {
    return this.exclusive(async () => {
      const minLength = options.minLength ?? 5;
      const maxLength = Math.min(options.maxLength ?? 30, this.config.text.contextLength);
      const caches = this.stepCaches(1);
      {
        const rec = this.gpu.recorder({ label: 'caption image' });
        const ctx = this.ctx(rec);
        const { pooled } = recordVision(ctx, this.config, this.uploadPixels([image]), 1, this.poolerQueries);
        recordCrossKV(ctx, this.config, pooled, 1, caches.cross);
        await rec.submit();
      }
      const tokens = [SOT];
      const ids = this.arena.tensor('step.ids', [1], 'u32');
      while (tokens[tokens.length - 1] !== EOT && tokens.length < maxLength) {
        options.signal?.throwIfAborted();
        let next: number;
        if (tokens.length + 1 === maxLength) {
          next = EOT; // forced: the sequence would reach maxLength
        } else {
          const rec = this.gpu.recorder({ label: 'decode step' });
          const ctx = this.ctx(rec);
          this.gpu.write(ids, Uint32Array.of(tokens[tokens.length - 1]!));
          recordDecodeStep(ctx, this.config, ids, 1, tokens.length - 1, caches, this.logitsTensor(1));
          const pick = this.recordPick(ctx, 1, 1, tokens.length < minLength ? EOT : null);
          const read = rec.read(pick.indices);
          await rec.submit();
          next = new Uint32Array(await read)[0]!;
        }
        tokens.push(next);
        options.onToken?.(next, tokens.length - 1);
      }
      return tokens;
    });
  }

  dispose(): void {
    this.arena.destroy();
    this.weights.destroy();
  }
}

function splitRows(data: Float32Array, rows: number): Float32Array[] {
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
