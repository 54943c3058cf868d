// Caption decoding on the GPU: the image is encoded once (vision tower, then every decoder layer's
// cross-attention K/V), then each step runs the text tower and decoder for one new position per row against
// the K/V caches, and only the top-k candidates per row (and the normaliser when asked) come back. The search
// itself (greedy, beam, sampling) is generate.ts's; this module supplies its step function.
import type { Tensor } from '../gpu/tensor';
import { gatherRows, logSumExp, repetitionPenalty } from '../kernels/generation';
import { topK } from '../kernels/topk';
import type { CacheSet } from './activations';
import type { Ctx } from './blocks';
import { recordCrossKV, recordDecodeStep } from './decoder';
import { beamSearch, EOT, greedy, sample, SAMPLE_MAX_CANDIDATES, type StepFn, type StepRequest, type StepResult } from './generate';
import type { ModelParts } from './parts';
import { recordVision } from './vision';
import { beamsPerGroup, type ResolvedCaption } from '../options';

/**
 * The image a caption attends to: preprocessed pixels [3, S, S] on the host, or a recording that leaves them in
 * a [1, 3, S, S] tensor on the GPU within the caption's first pass (a camera frame, preprocessed there).
 */
export type CaptionImage = Float32Array | ((ctx: Ctx) => Tensor);

/** What a caption call hands the search besides its settings: streaming and cancelling. */
export interface DecodeHooks {
  onToken?: (id: number, index: number) => void;
  signal?: AbortSignal;
}

/** Rows of decoding buffers allocated at load: OpenCLIP's beam search (2 per group) and 'beam' (3) fit. */
const PREALLOCATED_ROWS = 3;
/** An id outside every vocabulary: the repetition-penalty kernel skips it. */
const NO_TOKEN = 0xffffffff;

export class CaptionDecoder {
  constructor(private readonly m: ModelParts) {}

  /**
   * Records every kind of pass decoding runs (not submitted), sizing its buffers for PREALLOCATED_ROWS rows
   * now, so that greedy, sampling and beam search up to that width never grow a buffer (and so never
   * re-create bind groups). `pooled` is the vision tower's output slot.
   */
  recordAll(ctx: Ctx, pooled: Tensor): void {
    const { act, config } = this.m;
    const rows = PREALLOCATED_ROWS;
    const caches = act.stepCaches(rows);
    recordCrossKV(ctx, config, pooled, 1, caches.cross);
    const other = act.stepCaches(rows, 1);
    for (let i = 0; i < config.text.layers; i++) other.text(i);
    for (let i = 0; i < config.decoder.layers; i++) other.decoder(i);
    const parents = act.get('stepParents', rows);
    const logits = act.get('stepLogits', rows);
    recordDecodeStep(ctx, config, act.get('stepIds', rows), rows, 1, caches, logits);
    this.recordPick(ctx, rows, 2 * rows, EOT);
    this.recordPick(ctx, rows, SAMPLE_MAX_CANDIDATES, EOT);
    logSumExp(ctx, { x: logits, lse: act.get('stepLse', rows), label: 'normaliser' });
    repetitionPenalty(ctx, { logits, ids: act.get('penaltyIds', rows), rows, count: 1, idsStride: 1, penalty: 1, label: 'repetition penalty' });
    gatherRows(ctx, { src: caches.text(0), dst: other.text(0), index: parents, rows, stride: 1, count: 1, label: 'reorder' });
  }

  /** The image a caption attends to: vision tower, then every decoder layer's cross-attention K/V (one submit). */
  async prepareImage(image: CaptionImage): Promise<void> {
    const { gpu, act, config, poolerQueries } = this.m;
    const rec = gpu.recorder({ label: 'caption image' });
    const ctx = this.m.ctx(rec);
    const pixels = image instanceof Float32Array ? act.uploadPixels([image]) : image(ctx);
    const { pooled } = recordVision(ctx, config, pixels, 1, poolerQueries);
    recordCrossKV(ctx, config, pooled, 1, act.stepCaches(1).cross); // shared by every row
    await rec.submit();
  }

  /**
   * A caption as token ids (start and end tokens included). 'greedy' is exactly OpenCLIP's
   * generate(top_k=1); see generate.ts for the others. Every step is one submit against the K/V caches.
   * The caller runs it alone on the model (passes share the activation buffers).
   */
  async caption(image: CaptionImage, caption: ResolvedCaption, hooks: DecodeHooks = {}): Promise<number[]> {
    const search = { minLength: caption.minLength, maxLength: caption.maxLength, onToken: hooks.onToken, signal: hooks.signal };
    const rows = beamsPerGroup(caption);
    await this.prepareImage(image);
    const step = this.step(rows);
    switch (caption.strategy) {
      case 'greedy':
        return greedy(step, search);
      case 'sample':
        return sample(step, { ...search, topK: caption.topK ?? undefined, topP: caption.topP, temperature: caption.temperature, repetitionPenalty: caption.repetitionPenalty, seed: caption.seed });
      case 'beam':
        return beamSearch(step, { ...search, numBeams: rows, scoring: 'logprob', lengthPenalty: caption.lengthPenalty, earlyStopping: true, forceEndAtMax: true, repetitionPenalty: caption.repetitionPenalty });
      case 'beam-openclip':
        return beamSearch(step, { ...search, numBeams: rows, scoring: 'raw', lengthPenalty: caption.lengthPenalty, earlyStopping: false, forceEndAtMax: false, repetitionPenalty: caption.repetitionPenalty });
    }
  }

  /** The decoding step on the GPU: reorder caches, one position for every row, top-k (+ normaliser) read back. */
  step(rows: number): StepFn {
    const { gpu, act, config } = this.m;
    let set: CacheSet = 0;
    return async (req: StepRequest): Promise<StepResult> => {
      const rec = gpu.recorder({ label: 'decode step' });
      const ctx = this.m.ctx(rec);
      const reorder = req.parents !== null && req.parents.some((p, i) => p !== i);
      if (reorder) {
        const index = act.get('stepParents', rows);
        gpu.write(index, Uint32Array.from(req.parents!));
        const from = act.stepCaches(rows, set);
        const to = act.stepCaches(rows, set === 0 ? 1 : 0);
        for (let i = 0; i < config.text.layers; i++) {
          const t = from.text(i);
          gatherRows(ctx, { src: t, dst: to.text(i), index, rows, stride: t.shape[1]! * t.shape[2]!, count: req.position * t.shape[2]!, label: `reorder text ${i}` });
        }
        for (let i = 0; i < config.decoder.layers; i++) {
          const t = from.decoder(i);
          gatherRows(ctx, { src: t, dst: to.decoder(i), index, rows, stride: t.shape[1]! * t.shape[2]!, count: req.position * t.shape[2]!, label: `reorder decoder ${i}` });
        }
        set = set === 0 ? 1 : 0;
      }
      const ids = act.get('stepIds', rows);
      gpu.write(ids, Uint32Array.from(req.ids));
      const logits = act.get('stepLogits', rows);
      recordDecodeStep(ctx, config, ids, rows, req.position, act.stepCaches(rows, set), logits);
      if (req.penalty) {
        const width = config.text.contextLength;
        const penaltyIds = act.get('penaltyIds', rows);
        const packed = new Uint32Array(rows * width).fill(NO_TOKEN); // rows with fewer ids are padded with a no-op id
        req.penalty.ids.forEach((row, r) => packed.set(row.slice(0, width), r * width));
        gpu.write(penaltyIds, packed);
        const count = Math.min(width, Math.max(...req.penalty.ids.map((r) => r.length)));
        repetitionPenalty(ctx, { logits, ids: penaltyIds, rows, count, idsStride: width, penalty: req.penalty.value, label: 'repetition penalty' });
      }
      let lse: Tensor | null = null;
      if (req.lse !== 'none') {
        lse = act.get('stepLse', rows);
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

  /** The best k candidates per row (the end token optionally blocked). */
  private recordPick(ctx: Ctx, rows: number, k: number, blockId: number | null): { indices: Tensor; values: Tensor } {
    const { act } = this.m;
    const indices = act.get('pickIds', rows, k);
    const values = act.get('pickValues', rows, k);
    topK(ctx, { x: act.get('stepLogits', rows), k, indices, values, blockId: blockId ?? undefined, label: 'pick' });
    return { indices, values };
  }
}
