// What the Node side sends the kernel worker (test/browser/kernel-worker.ts) and what comes back.
import type { BeamRun, PickRun } from '../helpers/decode-kernels';

/** Decoding-kernel jobs by their seeds (the worker builds them as the Node side does, test/reference/decode.ts). */
export interface DecodeJobs {
  beams: { beams: number; seed: number; logprob: boolean; first: boolean }[];
  picks: { rows: number; k: number; seed: number; scale: number; topP: number; sampleSeed: number; sample: boolean }[];
  penalty: { seed: number; count: number; penalty: number };
}

export interface DecodeResults {
  beams: BeamRun[];
  picks: PickRun[];
  penalty: number[];
}

/** The sizes of the fused kernels' inputs (fixed; the Node side builds the same). */
export const FUSED = { rows: 3, K: 48, N: 64, L: 17, batch: 2, heads: 4, position: 5, capacity: 10, queries: 9 } as const;

export interface KernelJob {
  x: Float32Array; // [M, K]
  w: Float32Array; // [N, K]
  b: Float32Array; // [N]
  M: number;
  K: number;
  N: number;
  qkv: Float32Array; // [L, 3D]
  L: number;
  D: number;
  heads: number;
  gamma: Float32Array; // [K]
  beta: Float32Array;
  /** Fused kernels, of FUSED's sizes (F = FUSED.K = the model width, 48). */
  rowsIn: Float32Array; // [rows, F]
  sequence: Float32Array; // [batch, L, F]
  wide: Float32Array; // [L, N]: rows of width N
  inProj: Float32Array; // [3F, F]
  inBias: Float32Array; // [3F]
  up: Float32Array; // [N, F]
  down: Float32Array; // [N, F]
  norm: Float32Array; // [2, F]: γ, β
  normWide: Float32Array; // [2, N]: γ, β
  cache: Float32Array; // [rows, capacity, 2F]
  positions: Float32Array; // [L, N]
  classRow: Float32Array; // [N]
  decode: DecodeJobs;
}

export interface KernelResults {
  adapter: string;
  matmulF32: Float32Array;
  matmulF16: Float32Array;
  attention: Float32Array;
  layerNorm: Float32Array;
  /** LN(rowsIn)·upᵀ, fp16 weights (the CPU kernel's LN_IN). */
  lnMatmul: Float32Array;
  /** y = wide + sequence[0]·downᵀ (accumulated onto wide), then h = LN(y) with normWide (the CPU kernel's LN_OUT). */
  matmulY: Float32Array;
  matmulH: Float32Array;
  /** Causal self-attention of both items of `sequence`, projected by inProj / inBias. */
  sequenceAttention: Float32Array;
  /** One step at FUSED.position for the rows of rowsIn: out, and the cache after. */
  stepOut: Float32Array;
  stepCache: Float32Array;
  /** l2normalize(LN(sequence[b, L − 1])·upᵀ) and its raw projection. */
  featuresRaw: Float32Array;
  features: Float32Array;
  /** ln_pre(wide with row 0 = classRow, + positions), in place. */
  lnPre: Float32Array;
  decode: DecodeResults;
}

