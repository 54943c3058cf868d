// CPU references for the decoding kernels (src/kernels/decode), built on the host search's own pieces
// (src/model/generate.ts): what the GPU's token choice must equal. Also the seeded test inputs, shared by
// the Node kernel tests and the Chromium kernel page.
import { beamCandidates, draw, EOT, nextBeams, sampleUniform, type Candidate } from '../../src/model/generate';
import { mulberry32, randn, uniformInts } from './random';

/** One beam-search step's inputs, as topK and logSumExp leave them. */
export interface BeamJob {
  beams: number;
  /** [beams, 2·beams]: candidates best first per row (ties kept, a −∞ tail in some rows). */
  indices: Uint32Array;
  values: Float32Array;
  lse: Float32Array | null;
  scores: Float32Array;
  /** [2, beams, width]: set `src` holds the beams' tokens so far. */
  history: Uint32Array;
  width: number;
  src: 0 | 1;
  length: number;
  /** The end token (generate.ts's EOT, which the host's nextBeams knows). */
  endId: number;
  record: number;
}

export interface BeamOutcome {
  top: Candidate[];
  next: Candidate[];
  /** History set 1 − src, rows < next.length, columns ≤ length. */
  history: number[][];
}

export function beamReference(job: BeamJob): BeamOutcome {
  const top = beamCandidates(job.scores, { ids: job.indices, values: job.values, lse: job.lse }, job.beams);
  const next = nextBeams(top, job.beams);
  const set = job.beams * job.width;
  const history = next.map((c) => [...job.history.subarray(job.src * set + c.beam * job.width, job.src * set + c.beam * job.width + job.length), c.token]);
  return { top, next, history };
}

/**
 * A beam step's inputs, seeded: values with ties across beams and within a row, a −∞ tail on the last row,
 * the end token among the candidates, running scores (the first step's −1e9 when `first`).
 */
export function beamJob(beams: number, seed: number, o: { logprob: boolean; first?: boolean; width?: number }): BeamJob {
  const next = mulberry32(seed);
  const k = 2 * beams;
  const endId = EOT;
  const width = o.width ?? 20;
  const length = 1 + Math.floor(next() * (width - 2));
  const indices = new Uint32Array(beams * k);
  const values = new Float32Array(beams * k);
  for (let r = 0; r < beams; r++) {
    const ids = new Set<number>();
    while (ids.size < k) ids.add(next() < 0.1 ? endId : Math.floor(next() * 60));
    indices.set([...ids], r * k);
    let v = Math.floor(16 * next()) / 4;
    for (let j = 0; j < k; j++) {
      // Quarter steps make exact ties within a row and across rows likely.
      values[r * k + j] = v;
      if (next() < 0.7) v -= Math.floor(next() * 4) / 4;
    }
  }
  if (beams > 1) for (let j = k - 2; j < k; j++) values[(beams - 1) * k + j] = -Infinity;
  const scores = Float32Array.from({ length: beams }, (_, r) => (o.first && r > 0 ? -1e9 : -Math.floor(next() * 8) / 4));
  const lse = o.logprob ? Float32Array.from({ length: beams }, () => 4 + Math.floor(next() * 4) / 4) : null;
  const history = new Uint32Array(2 * beams * width);
  for (let i = 0; i < history.length; i++) history[i] = Math.floor(next() * 49408);
  return { beams, indices, values, lse, scores, history, width, src: next() < 0.5 ? 0 : 1, length, endId, record: Math.floor(next() * 5) };
}

/** Rows of top-k candidates for the token pick, with the normaliser of the whole row. */
export interface PickJob {
  rows: number;
  k: number;
  indices: Uint32Array;
  /** Unscaled logits, best first; a −∞ tail in some rows (blocked or beyond the vocabulary). */
  values: Float32Array;
  lse: Float32Array;
  scale: number;
  topP: number;
  seed: number;
  length: number;
  width: number;
}

export function pickJob(rows: number, k: number, seed: number, o: { scale: number; topP: number; sampleSeed: number }): PickJob {
  const next = mulberry32(seed);
  const width = 12;
  const indices = new Uint32Array(rows * k);
  const values = new Float32Array(rows * k);
  const lse = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let v = 3 * next();
    let sum = 0;
    for (let j = 0; j < k; j++) {
      indices[r * k + j] = Math.floor(next() * 49408);
      values[r * k + j] = r % 3 === 2 && j >= k - 2 && k > 2 ? -Infinity : v;
      sum += Math.exp(values[r * k + j]! * o.scale);
      v -= next();
    }
    // The rest of the vocabulary carries some mass, so top-p has a mass to reach.
    lse[r] = Math.log(sum * (1 + next()));
  }
  return { rows, k, indices, values, lse, scale: Math.fround(o.scale), topP: o.topP, seed: o.sampleSeed, length: 1 + Math.floor(next() * (width - 1)), width };
}

/** Each row's token: greedy takes the first candidate; sampling draws as the host search does. */
export function pickReference(job: PickJob, sample: boolean): number[] {
  return Array.from({ length: job.rows }, (_, r) => {
    const ids = job.indices.subarray(r * job.k, (r + 1) * job.k);
    if (!sample) return ids[0]!;
    const values = job.values.subarray(r * job.k, (r + 1) * job.k).map((v) => Math.fround(v * job.scale));
    return draw(ids, values, job.lse[r]!, job.topP, sampleUniform(job.seed, job.length, r));
  });
}

/** Hugging Face's repetition penalty on each row's distinct ids (those < vocab). */
export function penaltyReference(logits: Float32Array, vocab: number, ids: Uint32Array, o: { rows: number; count: number; stride: number; offset: number; penalty: number }): Float32Array {
  const out = logits.slice();
  for (let r = 0; r < o.rows; r++) {
    const base = o.offset + r * o.stride;
    for (const id of new Set(ids.subarray(base, base + o.count))) {
      if (id >= vocab) continue;
      const v = out[r * vocab + id]!;
      out[r * vocab + id] = v > 0 ? v / o.penalty : v * o.penalty;
    }
  }
  return out;
}

/** Logit rows and two sets of token histories with repeats (ids from 0…40, plus two beyond the vocabulary). */
export interface PenaltyJob {
  logits: Float32Array;
  vocab: number;
  ids: Uint32Array;
  rows: number;
  stride: number;
}

export function penaltyJob(seed: number): PenaltyJob {
  const vocab = 1000;
  const rows = 3;
  const stride = 76;
  const ids = Uint32Array.from(uniformInts(2 * rows * stride, seed + 1, 0, 40));
  ids[rows * stride + 5] = vocab + 3;
  ids[rows * stride + stride + 1] = 0xffffffff;
  return { logits: randn(rows * vocab, seed, 4), vocab, ids, rows, stride };
}
