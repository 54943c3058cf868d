// generate.ts's searches with the token choice on the GPU: each step records the decoder for one position
// of every row, the candidates (repetition penalty, normaliser, top-k) and the choice itself — greedy's
// argmax, a seeded top-p draw, or beam search's ranking with its cache and history reorder — which writes
// the ids the next step's embedding gather reads. The host learns the outcome only from trailing
// readbacks (decoding.ts queues the steps and reads): the token history of a one-row caption, or a record
// per beam-search step, which the host replays through generate.ts's own bookkeeping to stream tokens and
// decide when the caption is complete. Steps that ran past that point are ignored.
import { GpuError } from '../errors';
import type { Tensor } from '../gpu/tensor';
import { beamSelect, gatherRows, logSumExp, parseBeamRecord, pickToken, repetitionPenalty, BEAM_RECORD_WORDS } from '../kernels/decode';
import { topK } from '../kernels/topk';
import type { Ctx } from './blocks';
import { recordDecodeStep } from './decoder';
import { BeamSearch, blockedAt, checkAbort, EOT, INITIAL_OTHER_SCORE, seedWords, SingleRowCaption, SOT, type BeamOptions, type SampleSettings, type SearchOptions } from './generate';
import type { ModelParts } from './parts';

/** What the decoding loop (decoding.ts) needs from a strategy run on the GPU. */
export interface GpuSearch {
  readonly rows: number;
  /** The most steps the search can take: no more are queued. */
  readonly steps: number;
  /** Writes the caption's starting state (queued, so it lands before the first step). */
  start(): void;
  /** Records step `s` (the token at index s + 1 of every row). */
  record(ctx: Ctx, s: number): void;
  /** The bytes the host reads back after steps [from, to). */
  readback(from: number, to: number): { tensor: Tensor; byteOffset: number; byteLength: number };
  /** Takes those bytes, streaming the steps' tokens; true once the caption is complete (later steps are ignored). */
  consume(bytes: ArrayBuffer, from: number, to: number): boolean;
  /** The caption, start and end tokens included: once complete, or once every step is consumed. */
  result(): number[];
}

/** What the candidates of a step are made from, after the decoder's logits. */
export interface CandidateRequest {
  k: number;
  blockId: number | null;
  /** Repetition penalty over each row's ids: `stride` per row from `offset`, `count` of them. */
  penalty: { value: number; ids: Tensor; offset: number; stride: number; count: number } | null;
  /** The normaliser log Σ exp(scale · logits), over every token or without blockId; null: none. */
  lse: { scale: number; blocked: boolean } | null;
}

/** The repetition penalty (in place), the normaliser and each row's top k, recorded after a step's logits. */
export function recordCandidates(ctx: Ctx, m: ModelParts, rows: number, c: CandidateRequest): { indices: Tensor; values: Tensor; lse: Tensor | null } {
  const { act } = m;
  const logits = act.get('stepLogits', rows);
  if (c.penalty) {
    const p = c.penalty;
    repetitionPenalty(ctx, { logits, ids: p.ids, rows, count: p.count, idsStride: p.stride, idsOffset: p.offset, penalty: p.value, label: 'repetition penalty' });
  }
  let lse: Tensor | null = null;
  if (c.lse) {
    lse = act.get('stepLse', rows);
    logSumExp(ctx, { x: logits, lse, scale: c.lse.scale, blockId: c.lse.blocked && c.blockId !== null ? c.blockId : undefined, label: 'normaliser' });
  }
  const indices = act.get('pickIds', rows, c.k);
  const values = act.get('pickValues', rows, c.k);
  topK(ctx, { x: logits, k: c.k, indices, values, blockId: c.blockId ?? undefined, label: 'pick' });
  return { indices, values, lse };
}

/**
 * Greedy decoding (sampling: null) or sampling, one row: the chosen token goes to the next step's id and
 * to the token history, which the host reads back (its first L words) and cuts at the end token.
 */
export class SingleRowGpuSearch implements GpuSearch {
  readonly rows = 1;
  readonly steps: number;
  private readonly caption: SingleRowCaption;

  constructor(
    private readonly m: ModelParts,
    private readonly o: SearchOptions,
    private readonly sampling: SampleSettings | null,
  ) {
    this.caption = new SingleRowCaption(o);
    this.steps = SingleRowCaption.maxSteps(o.maxLength);
  }

  start(): void {
    const { gpu, act } = this.m;
    gpu.write(act.get('stepIds', 1), Uint32Array.of(SOT));
    gpu.write(act.get('tokenHistory', 1), Uint32Array.of(SOT));
  }

  record(ctx: Ctx, s: number): void {
    const { act, config } = this.m;
    const L = config.text.contextLength;
    const length = s + 1;
    const ids = act.get('stepIds', 1);
    const history = act.get('tokenHistory', 1);
    recordDecodeStep(ctx, config, ids, 1, s, act.stepCaches(1), act.get('stepLogits', 1));
    const sampling = this.sampling;
    const k = sampling ? sampling.k : 1;
    const penalty = sampling?.repetitionPenalty ? { value: sampling.repetitionPenalty, ids: history, offset: 0, stride: L, count: length } : null;
    const pick = recordCandidates(ctx, this.m, 1, { k, blockId: blockedAt(length, this.o.minLength), penalty, lse: sampling ? { scale: sampling.scale, blocked: true } : null });
    const draw = sampling ? { values: pick.values, lse: pick.lse!, scale: sampling.scale, topP: sampling.topP, seed: seedWords(sampling.seed) } : undefined;
    pickToken(ctx, { indices: pick.indices, k, ids, history, historyStride: L, length, draw, label: 'next token' });
  }

  readback(): { tensor: Tensor; byteOffset: number; byteLength: number } {
    return { tensor: this.m.act.get('tokenHistory', 1), byteOffset: 0, byteLength: 4 * this.m.config.text.contextLength };
  }

  consume(bytes: ArrayBuffer, from: number, to: number): boolean {
    const history = new Uint32Array(bytes);
    for (let s = from; s < to && !this.caption.done; s++) {
      checkAbort(this.o.signal);
      this.caption.push(history[s + 1]!);
    }
    return this.caption.done;
  }

  result(): number[] {
    if (!this.caption.done) {
      if (this.caption.stepNeeded) throw new GpuError(`decoding stopped at token ${this.caption.tokens.length} of at most ${this.o.maxLength}`);
      this.caption.push(EOT); // forced: the sequence would reach maxLength
    }
    return this.caption.tokens;
  }
}

/**
 * Beam search: the GPU ranks every beam's candidates, continues the best beams (ids, parents, scores,
 * reordered token histories; the caches are reordered at the start of the next step) and records the ranked
 * candidates of each step; the host replays the records through generate.ts's BeamSearch, which keeps the
 * finished hypotheses, streams the best beam's token and says when the search is over. The host's replay and
 * the GPU's choice are the same code path's rules in two languages: a disagreement is reported, not hidden.
 */
export class BeamGpuSearch implements GpuSearch {
  readonly rows: number;
  readonly steps: number;
  private readonly search: BeamSearch;

  constructor(
    private readonly m: ModelParts,
    private readonly o: BeamOptions,
  ) {
    this.search = new BeamSearch(o);
    this.rows = o.numBeams;
    this.steps = BeamSearch.maxSteps(o);
  }

  start(): void {
    const { gpu, act, config } = this.m;
    const B = this.rows;
    const L = config.text.contextLength;
    gpu.write(act.get('stepIds', B), new Uint32Array(B).fill(SOT));
    const history = new Uint32Array(B * L);
    for (let r = 0; r < B; r++) history[r * L] = SOT;
    gpu.write(act.get('tokenHistory', B), history);
    gpu.write(act.get('beamScores', B), Float32Array.from({ length: B }, (_, r) => (r === 0 ? 0 : INITIAL_OTHER_SCORE)));
  }

  record(ctx: Ctx, s: number): void {
    const { act, config } = this.m;
    const B = this.rows;
    const L = config.text.contextLength;
    // Step s reads history set s % 2 and writes the other; its caches are set (s + 1) % 2, gathered from the other.
    const from = s % 2 === 0 ? 0 : 1;
    const set = from === 0 ? 1 : 0;
    const parents = act.get('stepParents', B);
    if (s > 0) {
      // Row r continues beam parents[r] (the previous step's choice): copy its cached positions 0…s−1.
      const src = act.stepCaches(B, from);
      const dst = act.stepCaches(B, set);
      for (let i = 0; i < config.text.layers; i++) {
        const t = src.text(i);
        gatherRows(ctx, { src: t, dst: dst.text(i), index: parents, rows: B, stride: t.shape[1]! * t.shape[2]!, count: s * t.shape[2]!, label: `reorder text ${i}` });
      }
      for (let i = 0; i < config.decoder.layers; i++) {
        const t = src.decoder(i);
        gatherRows(ctx, { src: t, dst: dst.decoder(i), index: parents, rows: B, stride: t.shape[1]! * t.shape[2]!, count: s * t.shape[2]!, label: `reorder decoder ${i}` });
      }
    }
    const ids = act.get('stepIds', B);
    const history = act.get('tokenHistory', B);
    recordDecodeStep(ctx, config, ids, B, s, act.stepCaches(B, set), act.get('stepLogits', B));
    const length = s + 1;
    const value = this.o.repetitionPenalty;
    const penalty = value !== undefined && value !== 1 ? { value, ids: history, offset: from * B * L, stride: L, count: length } : null;
    const c = recordCandidates(ctx, this.m, B, { k: 2 * B, blockId: blockedAt(length, this.o.minLength), penalty, lse: this.o.scoring === 'logprob' ? { scale: 1, blocked: false } : null });
    beamSelect(ctx, {
      beams: B,
      indices: c.indices,
      values: c.values,
      lse: c.lse,
      scores: act.get('beamScores', B),
      history,
      historyStride: L,
      src: from,
      length,
      ids,
      parents,
      records: act.get('beamRecords'),
      record: s,
      endId: EOT,
      label: 'beam step',
    });
  }

  readback(from: number, to: number): { tensor: Tensor; byteOffset: number; byteLength: number } {
    const bytes = 4 * BEAM_RECORD_WORDS;
    return { tensor: this.m.act.get('beamRecords'), byteOffset: from * bytes, byteLength: (to - from) * bytes };
  }

  consume(bytes: ArrayBuffer, from: number, to: number): boolean {
    const words = new Uint32Array(bytes);
    for (let s = from; s < to && this.search.running; s++) {
      checkAbort(this.o.signal);
      const record = parseBeamRecord(words, s - from);
      const length = this.search.length;
      const parents = this.search.advance(record.top);
      if (parents === null) break;
      const agree = record.next.length === parents.length && record.next.every((n, r) => n.beam === parents[r] && n.token === this.search.beams[r]!.tokens[length]);
      if (!agree) {
        throw new GpuError(`beam step ${s}: the GPU continued ${JSON.stringify(record.next)} where the host's replay continues beams ${JSON.stringify(parents)}`);
      }
    }
    return !this.search.running;
  }

  result(): number[] {
    if (this.search.running) throw new GpuError(`beam search stopped after ${this.search.length} tokens with beams still running`);
    return this.search.result();
  }
}
