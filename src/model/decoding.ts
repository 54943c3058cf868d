// Caption decoding on the GPU: the image is encoded once (vision tower, then every decoder layer's
// cross-attention K/V), then each step runs the text tower and decoder for one new position per row against
// the K/V caches, and chooses the next token on the GPU (gpu-search.ts), where the next step reads it.
// Steps are queued back to back, one submit each, with no wait between them; every STEPS_PER_READ steps a
// trailing readback copies what the host needs (the token history, or beam search's step records) to a
// staging buffer of its own and maps it while the GPU goes on. So a 30-token greedy caption waits for the
// GPU 4 times instead of 28. The host-driven search (generate.ts over a step function that reads every
// step's candidates back) stays as the reference the tests compare with.
import { numel, type Tensor } from '../gpu/tensor';
import { TrailingReads, type TrailingRead } from '../gpu/readback';
import { BEAM_RECORD_WORDS, gatherRows } from '../kernels/decode';
import type { CacheSet } from './activations';
import type { Ctx } from './blocks';
import { recordCrossKV, recordDecodeStep } from './decoder';
import { beamSearch, checkAbort, greedy, sample, sampleSettings, type BeamOptions, type SampleOptions, type SearchOptions, type StepFn, type StepRequest, type StepResult } from './generate';
import { BeamGpuSearch, recordCandidates, SingleRowGpuSearch, type CandidateRequest, type GpuSearch } from './gpu-search';
import type { ModelParts } from './parts';
import { recordVision, TOKENS_ONLY } from './vision';
import { beamsPerGroup, resolveCaptionOptions, type ResolvedCaption } from '../options';

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

/** How steps are queued: steps per trailing readback, and readbacks queued beyond the one awaited. */
export interface DecodeSchedule {
  stepsPerRead: number;
  lookahead: number;
}

/** Steps between readbacks: a 30-token greedy caption (28 steps, then a forced end) waits 4 times. */
export const STEPS_PER_READ = 8;

/**
 * On a GPU the next chunk of steps is queued before the host waits for the last one, so the GPU never idles
 * on the host; a caption that ends early wastes at most two chunks of cheap steps. On a CPU adapter a step
 * costs far more than the wait, so only one chunk is in flight (at most STEPS_PER_READ − 1 wasted steps).
 */
export function defaultSchedule(cpuAdapter: boolean): DecodeSchedule {
  return { stepsPerRead: STEPS_PER_READ, lookahead: cpuAdapter ? 0 : 1 };
}

/** Rows of decoding buffers allocated at load: OpenCLIP's beam search (2 per group) and 'beam' (3) fit. */
const PREALLOCATED_ROWS = 3;
/** An id outside every vocabulary: the repetition-penalty kernel skips it. */
const NO_TOKEN = 0xffffffff;

/** A caption's settings as generate.ts's search options. */
type Search = { kind: 'greedy'; o: SearchOptions } | { kind: 'sample'; o: SampleOptions } | { kind: 'beam'; o: BeamOptions };

function searchFor(caption: ResolvedCaption, hooks: DecodeHooks): Search {
  const o = { minLength: caption.minLength, maxLength: caption.maxLength, onToken: hooks.onToken, signal: hooks.signal };
  const numBeams = beamsPerGroup(caption);
  switch (caption.strategy) {
    case 'greedy':
      return { kind: 'greedy', o };
    case 'sample':
      return { kind: 'sample', o: { ...o, topK: caption.topK ?? undefined, topP: caption.topP, temperature: caption.temperature, repetitionPenalty: caption.repetitionPenalty, seed: caption.seed } };
    case 'beam':
      return { kind: 'beam', o: { ...o, numBeams, scoring: 'logprob', lengthPenalty: caption.lengthPenalty, earlyStopping: true, forceEndAtMax: true, repetitionPenalty: caption.repetitionPenalty } };
    case 'beam-openclip':
      return { kind: 'beam', o: { ...o, numBeams, scoring: 'raw', lengthPenalty: caption.lengthPenalty, earlyStopping: false, forceEndAtMax: false, repetitionPenalty: caption.repetitionPenalty } };
  }
}

function gpuSearch(m: ModelParts, search: Search): GpuSearch {
  switch (search.kind) {
    case 'greedy':
      return new SingleRowGpuSearch(m, search.o, null);
    case 'sample':
      return new SingleRowGpuSearch(m, search.o, sampleSettings(search.o));
    case 'beam':
      return new BeamGpuSearch(m, search.o);
  }
}

/** Rejects with the signal's AbortError as soon as it is aborted, without waiting for `promise`. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  checkAbort(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      try {
        checkAbort(signal);
      } catch (error) {
        reject(error);
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class CaptionDecoder {
  private readonly schedule: DecodeSchedule;
  private reads: TrailingReads | null = null;

  constructor(
    private readonly m: ModelParts,
    schedule?: DecodeSchedule,
  ) {
    this.schedule = schedule ?? defaultSchedule(m.gpu.facts.cpu);
    if (!(Number.isInteger(this.schedule.stepsPerRead) && this.schedule.stepsPerRead >= 1 && Number.isInteger(this.schedule.lookahead) && this.schedule.lookahead >= 0)) {
      throw new RangeError(`decode schedule ${JSON.stringify(this.schedule)}: stepsPerRead must be an integer ≥ 1 and lookahead an integer ≥ 0`);
    }
  }

  /**
   * Records every kind of pass decoding runs (not submitted), sizing its buffers for PREALLOCATED_ROWS rows
   * now, so that greedy, sampling and beam search up to that width never grow a buffer (and so never
   * re-create bind groups). `pooled` is the vision tower's output slot.
   */
  recordAll(ctx: Ctx, pooled: Tensor): void {
    const { act, config } = this.m;
    const rows = PREALLOCATED_ROWS;
    recordCrossKV(ctx, config, pooled, 1, act.stepCaches(rows).cross);
    const kinds = [
      resolveCaptionOptions({ strategy: 'greedy' }),
      resolveCaptionOptions({ strategy: 'sample', repetitionPenalty: 2 }),
      resolveCaptionOptions({ strategy: 'beam', numBeams: rows, repetitionPenalty: 2 }),
      resolveCaptionOptions({ strategy: 'beam-openclip' }),
    ];
    // Step 1 of a beam search reorders the caches from one set into the other.
    for (const caption of kinds) gpuSearch(this.m, searchFor(caption, {})).record(ctx, 1);
  }

  /** The image a caption attends to: vision tower, then every decoder layer's cross-attention K/V (one submit). */
  async prepareImage(image: CaptionImage): Promise<void> {
    const { gpu, act, config, poolerQueries } = this.m;
    const rec = gpu.recorder({ label: 'caption image' });
    const ctx = this.m.ctx(rec);
    const pixels = image instanceof Float32Array ? act.uploadPixels([image]) : image(ctx);
    const { pooled } = recordVision(ctx, config, pixels, 1, poolerQueries, TOKENS_ONLY);
    recordCrossKV(ctx, config, pooled!, 1, act.stepCaches(1).cross); // shared by every row
    await rec.submit();
  }

  /**
   * Captions of several images: the vision tower runs once for the whole batch (one submit), then each image
   * in turn has its row of image tokens gathered, its cross-attention K/V computed, and its caption decoded as
   * `caption` does, so every caption equals the one `caption` gives for that image alone. The signal cancels
   * the batch (within a step or two); captions of a batch do not stream. Settings are checked first.
   */
  async captionBatch(images: readonly Float32Array[], caption: ResolvedCaption, hooks: Pick<DecodeHooks, 'signal'> = {}): Promise<number[][]> {
    const searches = images.map(() => gpuSearch(this.m, searchFor(caption, { signal: hooks.signal })));
    if (images.length === 0) return [];
    const { gpu, act, config, poolerQueries } = this.m;
    const rec = gpu.recorder({ label: 'caption images' });
    const { pooled } = recordVision(this.m.ctx(rec), config, act.uploadPixels(images), images.length, poolerQueries, TOKENS_ONLY);
    await rec.submit();
    const tokens = act.get('captionTokens');
    const row = act.get('captionRow');
    const results: number[][] = [];
    for (const [i, search] of searches.entries()) {
      checkAbort(hooks.signal);
      // Written before the submit below, after every earlier one: only this image's gather reads it.
      gpu.write(row, Uint32Array.of(i));
      const rec = gpu.recorder({ label: 'caption image' });
      const ctx = this.m.ctx(rec);
      gatherRows(ctx, { src: pooled!, dst: tokens, index: row, rows: 1, stride: numel(tokens.shape), count: numel(tokens.shape), label: 'caption image tokens' });
      recordCrossKV(ctx, config, tokens, 1, act.stepCaches(1).cross);
      await rec.submit();
      results.push(await this.decode(search, { signal: hooks.signal }));
    }
    return results;
  }

  /**
   * A caption as token ids (start and end tokens included), the token choice fed forward on the GPU.
   * 'greedy' is exactly OpenCLIP's generate(top_k=1); see generate.ts for the others. Tokens stream (onToken)
   * as the trailing reads bring them, STEPS_PER_READ at a time. An abort rejects at once; steps already
   * queued still run on the GPU, their results unread. The caller runs it alone on the model (passes share
   * the activation buffers).
   */
  async caption(image: CaptionImage, caption: ResolvedCaption, hooks: DecodeHooks = {}): Promise<number[]> {
    const search = gpuSearch(this.m, searchFor(caption, hooks)); // settings are checked before any GPU work
    await this.prepareImage(image);
    return this.decode(search, hooks);
  }

  /** Steps queued back to back from the prepared image, read back behind the GPU, until the search ends. */
  private async decode(search: GpuSearch, hooks: DecodeHooks): Promise<number[]> {
    const { gpu } = this.m;
    const { stepsPerRead, lookahead } = this.schedule;
    search.start();
    const reads = this.trailingReads();
    const inFlight: { from: number; to: number; read: TrailingRead }[] = [];
    let queued = 0;
    const queue = async (): Promise<void> => {
      while (queued < search.steps && inFlight.length <= lookahead) {
        checkAbort(hooks.signal);
        const from = queued;
        const to = Math.min(from + stepsPerRead, search.steps);
        for (let s = from; s < to; s++) {
          const rec = gpu.recorder({ label: 'decode step' });
          search.record(this.m.ctx(rec), s);
          await rec.submit();
        }
        const range = search.readback(from, to);
        inFlight.push({ from, to, read: await reads.start(range.tensor, range.byteOffset, range.byteLength) });
        queued = to;
      }
    };
    await queue();
    for (let chunk = inFlight.shift(); chunk; chunk = inFlight.shift()) {
      const bytes = await abortable(chunk.read.bytes(), hooks.signal);
      if (search.consume(bytes, chunk.from, chunk.to)) break;
      await queue();
    }
    return search.result();
  }

  /** The same caption by the host-driven search (generate.ts, one readback per step): the reference for tests. */
  async captionHostDriven(image: Float32Array, caption: ResolvedCaption, hooks: DecodeHooks = {}): Promise<number[]> {
    const search = searchFor(caption, hooks);
    await this.prepareImage(image);
    const step = this.hostStep(beamsPerGroup(caption));
    switch (search.kind) {
      case 'greedy':
        return greedy(step, search.o);
      case 'sample':
        return sample(step, search.o);
      case 'beam':
        return beamSearch(step, search.o);
    }
  }

  /** Releases the trailing reads' staging buffers (the arena holds everything else). */
  dispose(): void {
    this.reads?.destroy();
    this.reads = null;
  }

  /** Staging for the reads in flight: the larger of a token history row and a chunk of beam records. */
  private trailingReads(): TrailingReads {
    const L = this.m.config.text.contextLength;
    this.reads ??= new TrailingReads(this.m.gpu, this.schedule.lookahead + 1, 4 * Math.max(L, this.schedule.stepsPerRead * BEAM_RECORD_WORDS), 'caption tokens');
    return this.reads;
  }

  /** The host-driven decoding step: reorder caches, one position for every row, top-k (+ normaliser) read back. */
  private hostStep(rows: number): StepFn {
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
      recordDecodeStep(ctx, config, ids, rows, req.position, act.stepCaches(rows, set), act.get('stepLogits', rows));
      let penalty: CandidateRequest['penalty'] = null;
      if (req.penalty) {
        const width = config.text.contextLength;
        const history = act.get('tokenHistory', rows);
        const packed = new Uint32Array(rows * width).fill(NO_TOKEN); // rows with fewer ids are padded with a no-op id
        req.penalty.ids.forEach((row, r) => packed.set(row.slice(0, width), r * width));
        gpu.write(history, packed);
        const count = Math.min(width, Math.max(...req.penalty.ids.map((r) => r.length)));
        penalty = { value: req.penalty.value, ids: history, offset: 0, stride: width, count };
      }
      const lse = req.lse === 'none' ? null : { scale: req.scale, blocked: req.lse === 'blocked' };
      const pick = recordCandidates(ctx, this.m, rows, { k: req.k, blockId: req.blockId, penalty, lse });
      const reads = [rec.read(pick.indices), rec.read(pick.values), ...(pick.lse ? [rec.read(pick.lse)] : [])];
      await rec.submit();
      const [indexBytes, valueBytes, lseBytes] = await Promise.all(reads);
      const values = new Float32Array(valueBytes!);
      if (req.scale !== 1) for (let i = 0; i < values.length; i++) values[i] = values[i]! * req.scale;
      return { ids: new Uint32Array(indexBytes!), values, lse: lseBytes ? new Float32Array(lseBytes) : null };
    };
  }
}
