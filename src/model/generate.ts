// Caption search over a step function: greedy, beam search (OpenCLIP's default and the standard one)
// and sampling. The algorithms here are pure; the model supplies `step`, which runs one decoding step
// for every live row on the GPU and returns only each row's top-k candidates (never the logits).
import { CocaError } from '../errors';
import { MAX_BEAMS } from '../options';

export const SOT = 49406;
export const EOT = 49407;

export interface StepRequest {
  /** The newest token of each row. */
  ids: readonly number[];
  /** Their position in the sequence (the same for every row). */
  position: number;
  /** Row r continues the sequence (and the caches) of previous row parents[r]; null: unchanged. */
  parents: readonly number[] | null;
  /** Candidates per row. */
  k: number;
  /** Never picked (the end token before the minimum length); also left out of the normaliser when `lse` is 'blocked'. */
  blockId: number | null;
  /** logits × scale before ranking (1 / temperature). */
  scale: number;
  /** Distinct ids per row whose logits get the repetition penalty first. */
  penalty: { value: number; ids: readonly (readonly number[])[] } | null;
  /** The normaliser log Σ exp(scale · logits): over every token, or without blockId, or not needed. */
  lse: 'all' | 'blocked' | 'none';
}

export interface StepResult {
  /** [rows × k] candidate ids, best first per row, and their scaled logits. */
  ids: Uint32Array;
  values: Float32Array;
  /** [rows], when asked for. */
  lse: Float32Array | null;
}

export type StepFn = (request: StepRequest) => Promise<StepResult>;

export interface SearchOptions {
  /** Sequences shorter than this (start token included) cannot end. OpenCLIP: 5. */
  minLength: number;
  /** Longest sequence, start and end tokens included. OpenCLIP: 30. */
  maxLength: number;
  /** Streams tokens: greedy and sampling, each token as chosen; beam search, the best beam's newest token. */
  onToken?: (id: number, index: number) => void;
  signal?: AbortSignal;
}

/** Throws the signal's reason (an AbortError) once it is aborted. */
export function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException('The caption was aborted', 'AbortError');
}

/** The end token while the sequence (start token included) is shorter than minLength, else nothing. */
export function blockedAt(length: number, minLength: number): number | null {
  return length < minLength ? EOT : null;
}

/**
 * The tokens of a one-row caption (greedy decoding, sampling) as they are chosen: streamed, complete at the
 * end token or at maxLength. The end token is forced when the sequence would reach maxLength, so a step
 * runs only while `stepNeeded`: at most maxLength − 2 steps (SingleRowCaption.maxSteps).
 */
export class SingleRowCaption {
  readonly tokens = [SOT];

  constructor(private readonly o: SearchOptions) {}

  static maxSteps(maxLength: number): number {
    return Math.max(0, maxLength - 2);
  }

  get done(): boolean {
    return this.tokens[this.tokens.length - 1] === EOT || this.tokens.length >= this.o.maxLength;
  }

  /** A step chooses the next token; otherwise it is the forced end token. */
  get stepNeeded(): boolean {
    return this.tokens.length + 1 < this.o.maxLength;
  }

  push(id: number): void {
    this.tokens.push(id);
    this.o.onToken?.(id, this.tokens.length - 1);
  }
}

/** OpenCLIP's generate(generation_type='top_k', top_k=1): argmax, end blocked below minLength, forced at maxLength. */
export async function greedy(step: StepFn, o: SearchOptions): Promise<number[]> {
  const caption = new SingleRowCaption(o);
  while (!caption.done) {
    checkAbort(o.signal);
    const length = caption.tokens.length;
    const next = caption.stepNeeded
      ? (await step({ ids: [caption.tokens[length - 1]!], position: length - 1, parents: null, k: 1, blockId: blockedAt(length, o.minLength), scale: 1, penalty: null, lse: 'none' })).ids[0]!
      : EOT;
    caption.push(next);
  }
  return caption.tokens;
}

export interface SampleOptions extends SearchOptions {
  topK?: number;
  topP?: number;
  temperature?: number;
  repetitionPenalty?: number;
  seed?: number;
}

/** Most candidates a sampling step reads back: top-k above it is capped, and top-p looks no further. */
export const SAMPLE_MAX_CANDIDATES = 32;

/** A sampling search's settings, checked, as both the host-driven and the GPU-fed search use them. */
export interface SampleSettings {
  /** Candidates the draw looks at: min(topK, SAMPLE_MAX_CANDIDATES). */
  k: number;
  /** 1 / temperature as an f32, the value the GPU multiplies by. */
  scale: number;
  topP: number;
  /** null: no repetition penalty. */
  repetitionPenalty: number | null;
  seed: number;
}

export function sampleSettings(o: SampleOptions): SampleSettings {
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new CocaError(`temperature must be > 0 (got ${temperature}); use greedy for temperature 0`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new CocaError(`topP must be in (0, 1] (got ${topP})`);
  const k = Math.min(o.topK ?? SAMPLE_MAX_CANDIDATES, SAMPLE_MAX_CANDIDATES);
  if (!(k >= 1)) throw new CocaError(`topK must be ≥ 1 (got ${o.topK})`);
  const penalty = o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1 ? o.repetitionPenalty : null;
  return { k, scale: Math.fround(1 / temperature), topP, repetitionPenalty: penalty, seed: o.seed ?? 0 };
}

/** lowbias32 (Chris Wellons' integer hash): a bijection of u32 with good avalanche. */
function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** A seed (any safe integer) as the two u32 words of its 64-bit two's complement, low word first. */
export function seedWords(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

/**
 * The sampling PRNG, counter-based: the uniform number in [0, 1) of draw (seed, step, row), a hash of the
 * three with 24 bits kept so that it is exact in f32. The GPU computes the same (shaders/decode/pick.wgsl),
 * so a draw needs no state carried from one step to the next.
 */
export function sampleUniform(seed: number, step: number, row: number): number {
  const [lo, hi] = seedWords(seed);
  let h = 0x243f6a88;
  for (const word of [lo, hi, step >>> 0, row >>> 0]) h = mix32((h ^ word) >>> 0);
  return (h >>> 8) / 2 ** 24;
}

/**
 * Sampling as Hugging Face's processors and warpers do it: min length and repetition penalty, then
 * temperature, top-k, top-p (the smallest set of most likely tokens whose probability reaches p),
 * then a draw. Probabilities are exact (the normaliser covers the whole vocabulary); top-p considers at
 * most the SAMPLE_MAX_CANDIDATES most likely tokens. The draw of the token at index i uses
 * sampleUniform(seed, i, 0).
 */
export async function sample(step: StepFn, o: SampleOptions): Promise<number[]> {
  const s = sampleSettings(o);
  const caption = new SingleRowCaption(o);
  while (!caption.done) {
    checkAbort(o.signal);
    const tokens = caption.tokens;
    let next = EOT;
    if (caption.stepNeeded) {
      const penalty = s.repetitionPenalty !== null ? { value: s.repetitionPenalty, ids: [[...new Set(tokens)]] } : null;
      const r = await step({ ids: [tokens[tokens.length - 1]!], position: tokens.length - 1, parents: null, k: s.k, blockId: blockedAt(tokens.length, o.minLength), scale: s.scale, penalty, lse: 'blocked' });
      next = draw(r.ids, r.values, r.lse![0]!, s.topP, sampleUniform(s.seed, tokens.length, 0));
    }
    caption.push(next);
  }
  return caption.tokens;
}

/**
 * Picks from candidates (best first) with probabilities exp(value − lse), cut to the top-p set, by u ∈ [0, 1).
 * The arithmetic is f32, step for step as the GPU does it (shaders/decode/pick.wgsl), so the two agree
 * except where u lands within an f32 rounding of a boundary between two candidates.
 */
export function draw(ids: ArrayLike<number>, values: ArrayLike<number>, lse: number, topP: number, u: number): number {
  const f = Math.fround;
  const probs: number[] = [];
  let mass = 0;
  const cut = f(topP);
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isFinite(values[i]!)) break; // blocked or beyond the vocabulary
    const p = f(Math.exp(f(values[i]! - lse)));
    probs.push(p);
    mass = f(mass + p);
    if (mass >= cut) break; // the smallest prefix reaching p (Hugging Face keeps the token that crosses it)
  }
  let target = f(u * mass);
  for (let i = 0; i < probs.length; i++) {
    target = f(target - probs[i]!);
    if (target < 0) return ids[i]!;
  }
  return ids[Math.max(probs.length, 1) - 1]!;
}

export interface BeamOptions extends SearchOptions {
  /** Beams (per group, for OpenCLIP's grouped search). */
  numBeams: number;
  /** 'logprob': standard beam search; 'raw': OpenCLIP's default, which sums raw logits. */
  scoring: 'logprob' | 'raw';
  lengthPenalty: number;
  /** Stop as soon as numBeams hypotheses have ended (true), or only when no running beam can beat them (false). */
  earlyStopping: boolean;
  /**
   * true: the end token is forced at maxLength like greedy decoding, so 1 beam equals greedy.
   * false (OpenCLIP): stop at maxLength and keep the running beams as they are.
   */
  forceEndAtMax: boolean;
  repetitionPenalty?: number;
}

interface Hypothesis {
  tokens: number[];
  score: number;
}

/** Hugging Face's BeamHypotheses: the best `capacity` finished sequences, scored sum / length^lengthPenalty. */
class Hypotheses {
  readonly items: Hypothesis[] = [];
  private worst = 1e9;

  constructor(
    private readonly capacity: number,
    private readonly lengthPenalty: number,
  ) {}

  add(tokens: number[], sum: number, length: number): void {
    const score = sum / length ** this.lengthPenalty;
    if (this.items.length < this.capacity || score > this.worst) {
      this.items.push({ tokens, score });
      if (this.items.length > this.capacity) {
        let worstAt = 0;
        this.items.forEach((h, i) => {
          if (h.score < this.items[worstAt]!.score) worstAt = i;
        });
        this.items.splice(worstAt, 1);
        this.worst = Math.min(...this.items.map((h) => h.score));
      } else {
        this.worst = Math.min(score, this.worst);
      }
    }
  }

  isDone(bestSum: number, length: number, earlyStopping: boolean): boolean {
    if (this.items.length < this.capacity) return false;
    if (earlyStopping) return true;
    return this.worst >= bestSum / length ** this.lengthPenalty;
  }

  /** The highest score; among equal scores the one added last (Python's stable sort, then pop()). */
  best(): Hypothesis {
    let best = this.items[0]!;
    for (const h of this.items) if (h.score >= best.score) best = h;
    return best;
  }
}

/** A continuation of beam `beam` by `token`, with the beam's running score after it. */
export interface Candidate {
  beam: number;
  token: number;
  total: number;
}

/**
 * The 2·B best continuations of B beams, best first (equal totals keep (beam, rank) order, as a stable sort
 * does): each beam's candidates scored score + value − lse (raw scoring: no lse), in f32 and in that order,
 * as the GPU computes them. Non-finite values (blocked, beyond the vocabulary) are no candidates.
 */
export function beamCandidates(scores: ArrayLike<number>, r: StepResult, B: number): Candidate[] {
  const k = 2 * B;
  const candidates: Candidate[] = [];
  for (let row = 0; row < B; row++) {
    const norm = r.lse ? r.lse[row]! : 0;
    for (let j = 0; j < k; j++) {
      const value = r.values[row * k + j]!;
      if (Number.isFinite(value)) candidates.push({ beam: row, token: r.ids[row * k + j]!, total: Math.fround(Math.fround(scores[row]! + value) - norm) });
    }
  }
  candidates.sort((a, c) => c.total - a.total); // stable: ties keep (beam, rank) order
  return candidates.slice(0, k);
}

/**
 * Hugging Face's BeamSearchScorer step over ranked candidates: walking down the list, an end token among
 * the first B becomes a finished hypothesis (`onEnd`), one further down is dropped, and every other
 * candidate continues as a beam until B beams are found (fewer when the list runs out).
 */
export function nextBeams(top: readonly Candidate[], B: number, onEnd: (c: Candidate) => void = () => undefined): Candidate[] {
  const next: Candidate[] = [];
  for (const [rank, c] of top.entries()) {
    if (c.token === EOT) {
      if (rank < B) onEnd(c);
    } else {
      next.push(c);
    }
    if (next.length === B) break;
  }
  return next;
}

/** Every beam but the first starts this low, so the first step expands beam 0 alone (Hugging Face's −1e9). */
export const INITIAL_OTHER_SCORE = -1e9;

/**
 * Beam search with Hugging Face's BeamSearchScorer semantics (transformers ≥ 4.36: a hypothesis that ends
 * is normalised by its length counting the end token), one step at a time: `advance` takes a step's
 * ranked candidates (beamCandidates, or the GPU's), keeps the finished hypotheses and streams the best
 * beam's newest token. The host-driven search (beamSearch) and the GPU-fed one (model/gpu-search.ts) both
 * run it, so they cannot differ in the bookkeeping.
 * OpenCLIP's default generate() is this with raw-logit scores, 2 beams per group, no early stopping and no
 * forced end (its 3 groups of 2 beams are identical without a diversity penalty: see README).
 */
export class BeamSearch {
  /** Each beam's tokens and running score (an f32 sum). */
  beams: { tokens: number[]; score: number }[];
  private readonly hyps: Hypotheses;
  private done = false;
  private stopped = false;

  constructor(private readonly o: BeamOptions) {
    const B = o.numBeams;
    if (!(Number.isInteger(B) && B >= 1 && B <= MAX_BEAMS)) throw new CocaError(`numBeams must be an integer from 1 to ${MAX_BEAMS} (got ${B})`);
    this.beams = Array.from({ length: B }, (_, i) => ({ tokens: [SOT], score: i === 0 ? 0 : INITIAL_OTHER_SCORE }));
    this.hyps = new Hypotheses(B, o.lengthPenalty);
  }

  /** The most steps a search with these options runs. */
  static maxSteps(o: Pick<BeamOptions, 'maxLength' | 'forceEndAtMax'>): number {
    return o.forceEndAtMax ? Math.max(0, o.maxLength - 2) : Math.max(1, o.maxLength - 1);
  }

  /** Tokens in every beam (the start token included). */
  get length(): number {
    return this.beams[0]!.tokens.length;
  }

  /** Whether the search takes another step. */
  get running(): boolean {
    return !this.stopped && !(this.o.forceEndAtMax && this.length + 1 >= this.o.maxLength);
  }

  /** The host-driven step's request: every beam's newest token, its 2·B candidates and the scores' normaliser. */
  request(parents: readonly number[] | null): StepRequest {
    const penalty = this.o.repetitionPenalty !== undefined && this.o.repetitionPenalty !== 1 ? { value: this.o.repetitionPenalty, ids: this.beams.map((b) => [...new Set(b.tokens)]) } : null;
    return {
      ids: this.beams.map((b) => b.tokens[b.tokens.length - 1]!),
      position: this.length - 1,
      parents,
      k: 2 * this.o.numBeams,
      blockId: blockedAt(this.length, this.o.minLength),
      scale: 1,
      penalty,
      lse: this.o.scoring === 'logprob' ? 'all' : 'none',
    };
  }

  /** One step: the next beams from the ranked candidates. Returns their parents, or null once the search is over. */
  advance(top: readonly Candidate[]): number[] | null {
    const B = this.o.numBeams;
    const length = this.length;
    if (top.length === 0) throw new CocaError('beam search ran out of candidates');
    const next = nextBeams(top, B, (c) => this.hyps.add(this.beams[c.beam]!.tokens, c.total, length + 1));
    this.done = this.hyps.isDone(top[0]!.total, length + 1, this.o.earlyStopping);
    if (this.done) {
      this.stopped = true;
      return null;
    }
    if (next.length < B) throw new CocaError('beam search ran out of candidates');
    this.beams = next.map((c) => ({ tokens: [...this.beams[c.beam]!.tokens, c.token], score: c.total }));
    this.o.onToken?.(this.beams[0]!.tokens[length]!, length);
    if (!this.o.forceEndAtMax && length + 1 >= this.o.maxLength) this.stopped = true;
    return next.map((c) => c.beam);
  }

  /** The best finished sequence (the running beams count as finished if the search ran out of length). */
  result(): number[] {
    if (!this.done) for (const b of this.beams) this.hyps.add(b.tokens, b.score, b.tokens.length);
    const best = this.hyps.best().tokens;
    return best.length < this.o.maxLength ? [...best, EOT] : best;
  }
}

/** Beam search over a step function (see BeamSearch). */
export async function beamSearch(step: StepFn, o: BeamOptions): Promise<number[]> {
  const search = new BeamSearch(o);
  let parents: number[] | null = null;
  while (search.running) {
    checkAbort(o.signal);
    const r = await step(search.request(parents));
    parents = search.advance(beamCandidates(search.beams.map((b) => b.score), r, o.numBeams));
  }
  return search.result();
}
