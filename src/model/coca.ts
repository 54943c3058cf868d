// A loaded CoCa model on one GPU: image and text embeddings, similarity, captions. Each forward pass
// is recorded into one submit; only the results cross back (embeddings, or a token id per step).
import { CocaError } from '../errors';
import { Arena } from '../gpu/buffers';
import type { Gpu } from '../gpu/gpu';
import type { PipelineSpec } from '../gpu/pipelines';
import type { Recorder } from '../gpu/recorder';
import { reshape, type Tensor } from '../gpu/tensor';
import type { Checkpoint } from '../io/checkpoint';
import { topK } from '../kernels/topk';
import { gatherRows, logSumExp, repetitionPenalty } from '../kernels/generation';
import type { Ctx } from './blocks';
import type { CocaConfig } from './config';
import { recordCrossKV, recordDecodeStep, recordDecoder, type StepCaches } from './decoder';
import { recordText } from './text';
import { recordPoolerQueries, recordVision } from './vision';
import { CocaWeights, type WeightDtype, type WeightProgress } from './weights';
import { beamSearch, EOT, greedy, sample, SAMPLE_MAX_CANDIDATES, SOT, type StepFn, type StepRequest, type StepResult } from './generate';

export { EOT, SOT };

export type CaptionStrategy = 'greedy' | 'beam' | 'beam-openclip' | 'sample';

export interface CaptionOptions {
  strategy?: CaptionStrategy;
  /** Sequence length (with the start token) below which the end token is blocked. OpenCLIP: 5. */
  minLength?: number;
  /** Longest sequence, start and end tokens included. OpenCLIP: 30. */
  maxLength?: number;
  /** 'beam': beams (default 3). 'beam-openclip': 6 beams in 3 groups by default, i.e. 2 per group. */
  numBeams?: number;
  numBeamGroups?: number;
  lengthPenalty?: number;
  topK?: number;
  topP?: number;
  temperature?: number;
  repetitionPenalty?: number;
  seed?: number;
  onToken?: (id: number, index: number) => void;
  signal?: AbortSignal;
}

export interface Similarity {
  /** logit_scale · cos, [images][texts]. */
  logits: number[][];
  /** softmax over texts for each image. */
  probs: number[][];
}

/** Arithmetic of the matmuls: 'f32' everywhere (default), or 'f16' products summed in f32 (needs shader-f16). */
export type MathPrecision = 'f32' | 'f16';

export interface LoadOptions {
  dtype?: WeightDtype;
  math?: MathPrecision;
  onProgress?: (p: WeightProgress) => void;
  signal?: AbortSignal;
}

/** Rows a decoding step can carry: the matrix-vector kernel's limit. */
export const MAX_BEAMS = 8;
/** Image batch whose pipelines are compiled at load too (larger batches use the same ones). */
const COMPILED_IMAGE_BATCH = 8;
/** Rows of decoding buffers allocated at load: OpenCLIP's beam search (2 per group) and 'beam' (3) fit. */
const PREALLOCATED_ROWS = 3;
/** An id outside every vocabulary: the repetition-penalty kernel skips it. */
const NO_TOKEN = 0xffffffff;

export class CocaModel {
  private readonly arena: Arena;
  private readonly poolerQueries: Tensor;
  private serial: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly gpu: Gpu,
    readonly config: CocaConfig,
    readonly weights: CocaWeights,
    readonly math: MathPrecision,
  ) {
    this.arena = new Arena(gpu);
    this.poolerQueries = this.arena.tensor('pool.q', [config.vision.poolerQueries, config.embedDim]);
  }

  static async load(gpu: Gpu, checkpoint: Checkpoint, config: CocaConfig, options: LoadOptions = {}): Promise<CocaModel> {
    checkMath(gpu, options.math);
    return CocaModel.fromWeights(gpu, config, await CocaWeights.load(gpu, checkpoint, config, options), options.math);
  }

  /**
   * A model over weights already on the GPU (the browser runtime streams them from its cache): compiles
   * every pipeline and computes the pooler's queries. On failure the weights are released too.
   */
  static async fromWeights(gpu: Gpu, config: CocaConfig, weights: CocaWeights, math: MathPrecision = 'f32'): Promise<CocaModel> {
    checkMath(gpu, math);
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
    const pixels = this.pixelTensor(1);
    dry((ctx) => recordPoolerQueries(ctx, this.config, this.poolerQueries));
    // Kernels pick variants by shape (e.g. matmul tiles by row count), so record the batch sizes and
    // sequence lengths that select them: one image and a batch of 8, and whole-sequence decoding.
    dry((ctx) => recordVision(ctx, this.config, pixels, 1, this.poolerQueries));
    dry((ctx) => recordVision(ctx, this.config, this.pixelTensor(COMPILED_IMAGE_BATCH), COMPILED_IMAGE_BATCH, this.poolerQueries));
    // Whole-sequence decoding at full length and at one token (a few rows take other matmul variants).
    for (const length of [this.config.text.contextLength, 1]) {
      dry((ctx) => {
        const { x } = recordText(ctx, this.config, this.tokenTensor(1, length), 1, length, false);
        const logits = this.arena.tensor('full.logits', [length, this.config.decoder.vocabSize]);
        recordDecoder(ctx, this.config, x, 1, length, (i) => this.fullCrossKV(i, 1), { offset: 0, count: length }, logits);
      });
    }
    dry((ctx) => recordText(ctx, this.config, this.tokenTensor(1, this.config.text.contextLength), 1, this.config.text.contextLength, true));
    // Decoding scratch and both cache sets are sized for PREALLOCATED_ROWS rows now, so greedy, sampling and
    // beam search up to that width never grow a buffer (and so never re-create bind groups).
    const rows = PREALLOCATED_ROWS;
    dry((ctx) => {
      const caches = this.stepCaches(rows);
      recordCrossKV(ctx, this.config, this.arena.tensor('vis.pooled', [1, this.config.vision.poolerQueries, this.config.embedDim]), 1, caches.cross);
      for (let i = 0; i < this.config.text.layers; i++) this.stepCaches(rows, 1).text(i);
      for (let i = 0; i < this.config.decoder.layers; i++) this.stepCaches(rows, 1).decoder(i);
      this.arena.tensor('step.parents', [rows], 'u32');
      this.arena.tensor('step.penalty_ids', [rows, this.config.text.contextLength], 'u32');
      this.arena.tensor('step.lse', [rows]);
      recordDecodeStep(ctx, this.config, this.arena.tensor('step.ids', [rows], 'u32'), rows, 1, caches, this.logitsTensor(rows));
      this.recordPick(ctx, rows, 2 * rows, EOT);
      this.recordPick(ctx, rows, SAMPLE_MAX_CANDIDATES, EOT);
      logSumExp(ctx, { x: this.logitsTensor(rows), lse: this.arena.tensor('step.lse', [rows]), label: 'normaliser' });
      repetitionPenalty(ctx, { logits: this.logitsTensor(rows), ids: this.arena.tensor('step.penalty_ids', [rows, 1], 'u32'), rows, count: 1, idsStride: 1, penalty: 1, label: 'repetition penalty' });
      const c = this.stepCaches(rows);
      gatherRows(ctx, { src: c.text(0), dst: this.stepCaches(rows, 1).text(0), index: this.arena.tensor('step.parents', [rows], 'u32'), rows, stride: 1, count: 1, label: 'reorder' });
    });
    await this.gpu.pipelines.prepare(specs);
  }

  private ctx(rec: Recorder): Ctx {
    return { gpu: this.gpu, rec, weights: this.weights, arena: this.arena, f16Math: this.math === 'f16' };
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

  /** K/V caches for `rows` sequences. Two sets (0, 1): beam search gathers reordered rows from one into the other. */
  private stepCaches(rows: number, set = 0): StepCaches {
    const maxLength = this.config.text.contextLength;
    const D = this.config.decoder.width;
    const imageTokens = this.config.vision.poolerQueries - 1;
    return {
      maxLength,
      text: (i) => this.arena.tensor(`cache.${set}.text.${i}`, [rows, maxLength, 2 * this.config.text.width]),
      decoder: (i) => this.arena.tensor(`cache.${set}.dec.${i}`, [rows, maxLength, 2 * D]),
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
      const { features } = recordVision(this.ctx(rec), this.config, pixels, images.length, this.poolerQueries, { features: true, tokens: false });
      const read = rec.read(features!);
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
      await this.prepareImageTokens(images);
      return this.recomputeLogits(tokens, length);
    });
  }

  /** The image a caption attends to: vision tower, then every decoder layer's cross-attention K/V (one submit). */
  private async prepareCaptionImage(image: Float32Array): Promise<void> {
    const rec = this.gpu.recorder({ label: 'caption image' });
    const ctx = this.ctx(rec);
    const { pooled } = recordVision(ctx, this.config, this.uploadPixels([image]), 1, this.poolerQueries, { features: false, tokens: true });
    recordCrossKV(ctx, this.config, pooled!, 1, this.stepCaches(1).cross); // shared by every row
    await rec.submit();
  }

  /** Vision tower and per-layer cross-attention K/V for a batch, kept for recomputeLogits (one submit). */
  private async prepareImageTokens(images: readonly Float32Array[]): Promise<void> {
    const rec = this.gpu.recorder({ label: 'image tokens' });
    const ctx = this.ctx(rec);
    const { pooled } = recordVision(ctx, this.config, this.uploadPixels(images), images.length, this.poolerQueries, { features: false, tokens: true });
    recordCrossKV(ctx, this.config, pooled!, images.length, (i) => this.fullCrossKV(i, images.length));
    await rec.submit();
  }

  private fullCrossKV(layer: number, batch: number): Tensor {
    return this.arena.tensor(`full.cross.${layer}`, [batch, this.config.vision.poolerQueries - 1, 2 * this.config.decoder.width]);
  }

  /** Text tower + decoder over whole sequences against the prepared images (one submit): OpenCLIP's per-step work. */
  private async recomputeLogits(tokens: readonly Int32Array[], length: number, readAll = true, withCrossKV = false): Promise<Float32Array[]> {
    const batch = tokens.length;
    const rec = this.gpu.recorder({ label: 'decoder (full)' });
    const ctx = this.ctx(rec);
    if (withCrossKV) {
      // OpenCLIP's decoder projects the image tokens to K/V inside every call, i.e. at every step.
      const pooled = this.arena.tensor('vis.pooled', [batch, this.config.vision.poolerQueries, this.config.embedDim]);
      recordCrossKV(ctx, this.config, pooled, batch, (i) => this.fullCrossKV(i, batch));
    }
    const ids = this.uploadTokens(tokens, length);
    const { x } = recordText(ctx, this.config, ids, batch, length, false);
    const logits = this.arena.tensor('full.logits', [batch * length, this.config.decoder.vocabSize]);
    recordDecoder(ctx, this.config, x, batch, length, (i) => this.fullCrossKV(i, batch), { offset: 0, count: length }, logits);
    let read: Promise<ArrayBuffer>;
    if (readAll) {
      read = rec.read(logits);
    } else {
      // As a generation step would: only the last position's best token comes back.
      const indices = this.arena.tensor('full.pick', [batch, 1], 'u32');
      const values = this.arena.tensor('full.pick_values', [batch, 1]);
      topK(ctx, { x: reshape(logits, [batch, length, this.config.decoder.vocabSize]), k: 1, indices, values, label: 'pick' });
      read = rec.read(indices);
    }
    await rec.submit();
    return splitRows(new Float32Array(await read), batch);
  }

  /**
   * Benchmark helper: the cost of one OpenCLIP-style decoding step at `length` tokens (the whole text
   * tower and decoder recomputed, the decoder's cross-attention K/V projections included, as OpenCLIP's
   * decoder computes them in every call) for an image encoded once; returns the milliseconds of each run.
   */
  timeRecompute(image: Float32Array, length: number, runs: number): Promise<number[]> {
    return this.exclusive(async () => {
      await this.prepareImageTokens([image]);
      const tokens = [Int32Array.from({ length }, (_, i) => (i === 0 ? SOT : 320 + i))];
      const times: number[] = [];
      for (let r = 0; r < runs; r++) {
        const start = performance.now();
        await this.recomputeLogits(tokens, length, false, true);
        times.push(performance.now() - start);
      }
      return times;
    });
  }

  /**
   * Diagnostics: the next-token logits [tokens.length × V] when the cached decoder is fed `tokens` one
   * step at a time (teacher forcing). Captioning never reads logits back; tests compare these with
   * decoderLogits(), which recomputes every step as OpenCLIP does.
   */
  cachedLogits(image: Float32Array, tokens: readonly number[]): Promise<Float32Array> {
    return this.exclusive(async () => {
      const caches = this.stepCaches(1);
      const V = this.config.decoder.vocabSize;
      const out = new Float32Array(tokens.length * V);
      await this.prepareCaptionImage(image);
      const ids = this.arena.tensor('step.ids', [1], 'u32');
      for (const [position, id] of tokens.entries()) {
        const rec = this.gpu.recorder({ label: 'cached logits step' });
        this.gpu.write(ids, Uint32Array.of(id));
        const logits = this.logitsTensor(1);
        recordDecodeStep(this.ctx(rec), this.config, ids, 1, position, caches, logits);
        const read = rec.read(logits);
        await rec.submit();
        out.set(new Float32Array(await read), position * V);
      }
      return out;
    });
  }

  /** The best k candidates per row (the end token optionally blocked). */
  private recordPick(ctx: Ctx, rows: number, k: number, blockId: number | null): { indices: Tensor; values: Tensor } {
    const indices = this.arena.tensor('pick.indices', [rows, k], 'u32');
    const values = this.arena.tensor('pick.values', [rows, k]);
    topK(ctx, { x: this.logitsTensor(rows), k, indices, values, blockId: blockId ?? undefined, label: 'pick' });
    return { indices, values };
  }

  /**
   * A caption as token ids (start and end tokens included). 'greedy' is exactly OpenCLIP's
   * generate(top_k=1); see generate.ts for the others. Every step is one submit against the K/V caches.
   */
  caption(image: Float32Array, options: CaptionOptions = {}): Promise<number[]> {
    return this.exclusive(async () => {
      const search = {
        minLength: options.minLength ?? 5,
        maxLength: Math.min(options.maxLength ?? 30, this.config.text.contextLength),
        onToken: options.onToken,
        signal: options.signal,
      };
      const strategy = options.strategy ?? 'greedy';
      const rows = strategy === 'beam' ? options.numBeams ?? 3 : strategy === 'beam-openclip' ? (options.numBeams ?? 6) / (options.numBeamGroups ?? 3) : 1;
      if (!Number.isInteger(rows) || rows < 1 || rows > MAX_BEAMS) {
        throw new RangeError(`beams per group must be an integer from 1 to ${MAX_BEAMS} (got ${rows})`);
      }
      await this.prepareCaptionImage(image);
      const step = this.gpuStep(rows);
      switch (strategy) {
        case 'greedy':
          return greedy(step, search);
        case 'sample':
          return sample(step, { ...search, topK: options.topK, topP: options.topP, temperature: options.temperature, repetitionPenalty: options.repetitionPenalty, seed: options.seed });
        case 'beam':
          return beamSearch(step, { ...search, numBeams: rows, scoring: 'logprob', lengthPenalty: options.lengthPenalty ?? 1, earlyStopping: true, forceEndAtMax: true, repetitionPenalty: options.repetitionPenalty });
        case 'beam-openclip':
          return beamSearch(step, { ...search, numBeams: rows, scoring: 'raw', lengthPenalty: options.lengthPenalty ?? 1, earlyStopping: false, forceEndAtMax: false, repetitionPenalty: options.repetitionPenalty });
        default:
          throw new RangeError(`unknown caption strategy ${String(strategy)}`);
      }
    });
  }

  /** The decoding step on the GPU: reorder caches, one position for every row, top-k (+ normaliser) read back. */
  private gpuStep(rows: number): StepFn {
    let set = 0;
    return async (req: StepRequest): Promise<StepResult> => {
      const rec = this.gpu.recorder({ label: 'decode step' });
      const ctx = this.ctx(rec);
      const reorder = req.parents !== null && req.parents.some((p, i) => p !== i);
      if (reorder) {
        const index = this.arena.tensor('step.parents', [rows], 'u32');
        this.gpu.write(index, Uint32Array.from(req.parents!));
        const from = this.stepCaches(rows, set);
        const to = this.stepCaches(rows, 1 - set);
        for (let i = 0; i < this.config.text.layers; i++) {
          const t = from.text(i);
          gatherRows(ctx, { src: t, dst: to.text(i), index, rows, stride: t.shape[1]! * t.shape[2]!, count: req.position * t.shape[2]!, label: `reorder text ${i}` });
        }
        for (let i = 0; i < this.config.decoder.layers; i++) {
          const t = from.decoder(i);
          gatherRows(ctx, { src: t, dst: to.decoder(i), index, rows, stride: t.shape[1]! * t.shape[2]!, count: req.position * t.shape[2]!, label: `reorder decoder ${i}` });
        }
        set = 1 - set;
      }
      const ids = this.arena.tensor('step.ids', [rows], 'u32');
      this.gpu.write(ids, Uint32Array.from(req.ids));
      const logits = this.logitsTensor(rows);
      recordDecodeStep(ctx, this.config, ids, rows, req.position, this.stepCaches(rows, set), logits);
      if (req.penalty) {
        const width = this.config.text.contextLength;
        const penaltyIds = this.arena.tensor('step.penalty_ids', [rows, width], 'u32');
        const packed = new Uint32Array(rows * width).fill(NO_TOKEN); // rows with fewer ids are padded with a no-op id
        req.penalty.ids.forEach((row, r) => packed.set(row.slice(0, width), r * width));
        this.gpu.write(penaltyIds, packed);
        const count = Math.min(width, Math.max(...req.penalty.ids.map((r) => r.length)));
        repetitionPenalty(ctx, { logits, ids: penaltyIds, rows, count, idsStride: width, penalty: req.penalty.value, label: 'repetition penalty' });
      }
      let lse: Tensor | null = null;
      if (req.lse !== 'none') {
        lse = this.arena.tensor('step.lse', [rows]);
        logSumExp(ctx, { x: logits, lse, scale: req.scale, blockId: req.lse === 'blocked' && req.blockId !== null ? req.blockId : undefined, label: 'normaliser' });
      }
      const pick = this.recordPick(ctx, rows, req.k, req.blockId);
      const reads = [rec.read(pick.indices), rec.read(pick.values), ...(lse ? [rec.read(lse)] : [])];
      await rec.submit();
      const [indexBytes, valueBytes, lseBytes] = await Promise.all(reads);
      const values = new Float32Array(valueBytes!);
      if (req.scale !== 1) for (let i = 0; i < values.length; i++) values[i] = values[i]! * req.scale;
      return { ids: new Uint32Array(indexBytes!), values, lse: lseBytes ? new Float32Array(lseBytes) : null };
    };
  }

  dispose(): void {
    this.arena.destroy();
    this.weights.destroy();
  }
}

function checkMath(gpu: Gpu, math: MathPrecision | undefined): void {
  if (math === 'f16' && !gpu.device.features.has('shader-f16')) {
    throw new CocaError(`f16 arithmetic needs a GPU with the shader-f16 feature, and ${gpu.adapterName} has none: use math 'f32'`);
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
