// Caption search over a step function: greedy, beam search (OpenCLIP's default and the standard one)
// and sampling. The algorithms here are pure; the model supplies `step`, which runs one decoding step
// for every live row on the GPU and returns only each row's top-k candidates (never the logits).
import { CocaError } from '../errors';

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

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException('The caption was aborted', 'AbortError');
}

/** OpenCLIP's generate(generation_type='top_k', top_k=1): argmax, end blocked below minLength, forced at maxLength. */
export async function greedy(step: StepFn, o: SearchOptions): Promise<number[]> {
  const tokens = [SOT];
  while (tokens[tokens.length - 1] !== EOT && tokens.length < o.maxLength) {
    checkAbort(o.signal);
    let next = EOT; // forced when the sequence would reach maxLength
    if (tokens.length + 1 < o.maxLength) {
      const r = await step({ ids: [tokens[tokens.length - 1]!], position: tokens.length - 1, parents: null, k: 1, blockId: tokens.length < o.minLength ? EOT : null, scale: 1, penalty: null, lse: 'none' });
      next = r.ids[0]!;
    }
    tokens.push(next);
    o.onToken?.(next, tokens.length - 1);
  }
  return tokens;
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

/** mulberry32: a small seeded PRNG, so a seed reproduces a caption. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Sampling as Hugging Face's processors and warpers do it: min length and repetition penalty, then
 * temperature, top-k, top-p (the smallest set of most likely tokens whose probability reaches p),
 * then a draw. Probabilities are exact (the normaliser covers the whole vocabulary); top-p considers at
 * most the SAMPLE_MAX_CANDIDATES most likely tokens.
 */
export async function sample(step: StepFn, o: SampleOptions): Promise<number[]> {
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new CocaError(`temperature must be > 0 (got ${temperature}); use greedy for temperature 0`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new CocaError(`topP must be in (0, 1] (got ${topP})`);
  const k = Math.min(o.topK ?? SAMPLE_MAX_CANDIDATES, SAMPLE_MAX_CANDIDATES);
  if (!(k >= 1)) throw new CocaError(`topK must be ≥ 1 (got ${o.topK})`);
  const random = seededRandom(o.seed ?? 0);
  const tokens = [SOT];
  while (tokens[tokens.length - 1] !== EOT && tokens.length < o.maxLength) {
    checkAbort(o.signal);
    let next = EOT;
    if (tokens.length + 1 < o.maxLength) {
      const penalty = o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1 ? { value: o.repetitionPenalty, ids: [[...new Set(tokens)]] } : null;
      const r = await step({ ids: [tokens[tokens.length - 1]!], position: tokens.length - 1, parents: null, k, blockId: tokens.length < o.minLength ? EOT : null, scale: 1 / temperature, penalty, lse: 'blocked' });
      next = draw(r.ids, r.values, r.lse![0]!, topP, random());
    }
    tokens.push(next);
    o.onToken?.(next, tokens.length - 1);
  }
  return tokens;
}

/** Picks from candidates (best first) with probabilities exp(value − lse), cut to the top-p set, by u ∈ [0, 1). */
export function draw(ids: ArrayLike<number>, values: ArrayLike<number>, lse: number, topP: number, u: number): number {
  const probs: number[] = [];
  let mass = 0;
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isFinite(values[i]!)) break; // blocked or beyond the vocabulary
    const p = Math.exp(values[i]! - lse);
    probs.push(p);
    mass += p;
    if (mass >= topP) break; // the smallest prefix reaching p (Hugging Face keeps the token that crosses it)
  }
  let target = u * mass;
  for (let i = 0; i < probs.length; i++) {
    target -= probs[i]!;
    if (target < 0) return ids[i]!;
  }
  return ids[probs.length - 1]!;
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

/**
 * Beam search with Hugging Face's BeamSearchScorer semantics (transformers ≥ 4.36: a hypothesis that ends
 * is normalised by its length counting the end token). Each step takes the 2·numBeams best (beam, token)
 * candidates; an end token among the first numBeams makes a finished hypothesis, the others continue.
 * OpenCLIP's default generate() is this with raw-logit scores, 2 beams per group, no early stopping and no
 * forced end (its 3 groups of 2 beams are identical without a diversity penalty: see README).
 */
export async function beamSearch(step: StepFn, o: BeamOptions): Promise<number[]> {
  const B = o.numBeams;
  if (!(Number.isInteger(B) && B >= 1 && B <= 8)) throw new CocaError(`numBeams must be an integer from 1 to 8 (got ${B})`);
  let beams = Array.from({ length: B }, (_, i) => ({ tokens: [SOT], score: i === 0 ? 0 : -1e9 }));
  let parents: number[] | null = null;
  const hyps = new Hypotheses(B, o.lengthPenalty);
  let done = false;
  for (;;) {
    checkAbort(o.signal);
    const curLen = beams[0]!.tokens.length;
    if (o.forceEndAtMax && curLen + 1 >= o.maxLength) break;
    const penalty = o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1 ? { value: o.repetitionPenalty, ids: beams.map((b) => [...new Set(b.tokens)]) } : null;
    const r = await step({
      ids: beams.map((b) => b.tokens[b.tokens.length - 1]!),
      position: curLen - 1,
      parents,
      k: 2 * B,
      blockId: curLen < o.minLength ? EOT : null,
      scale: 1,
      penalty,
      lse: o.scoring === 'logprob' ? 'all' : 'none',
    });
    const candidates: { beam: number; token: number; total: number }[] = [];
    beams.forEach((b, row) => {
      const norm = r.lse ? r.lse[row]! : 0;
      for (let j = 0; j < 2 * B; j++) {
        const value = r.values[row * 2 * B + j]!;
        if (Number.isFinite(value)) candidates.push({ beam: row, token: r.ids[row * 2 * B + j]!, total: b.score + value - norm });
      }
    });
    candidates.sort((a, c) => c.total - a.total); // stable: ties keep (beam, rank) order
    const top = candidates.slice(0, 2 * B);
    const next: { tokens: number[]; score: number }[] = [];
    const nextParents: number[] = [];
    for (const [rank, c] of top.entries()) {
      if (c.token === EOT) {
        if (rank >= B) continue;
        hyps.add(beams[c.beam]!.tokens, c.total, curLen + 1);
      } else {
        next.push({ tokens: [...beams[c.beam]!.tokens, c.token], score: c.total });
        nextParents.push(c.beam);
      }
      if (next.length === B) break;
    }
    done = done || hyps.isDone(top[0]!.total, curLen + 1, o.earlyStopping);
    if (done) break;
    if (next.length < B) throw new CocaError('beam search ran out of candidates');
    beams = next;
    parents = nextParents;
    o.onToken?.(beams[0]!.tokens[curLen]!, curLen);
    if (!o.forceEndAtMax && curLen + 1 >= o.maxLength) break;
  }
  if (!done) for (const b of beams) hyps.add(b.tokens, b.score, b.tokens.length);
  const best = hyps.best().tokens;
  return best.length < o.maxLength ? [...best, EOT] : best;
}
