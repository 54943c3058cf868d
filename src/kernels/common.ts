// Helpers shared by the kernel wrappers.
import type { Gpu } from '../gpu/gpu';
import type { Recorder } from '../gpu/recorder';
import type { Tensor } from '../gpu/tensor';

/** Splits a 1-D grid of `count` workgroups into x×y so neither exceeds the per-dimension limit. */
export function grid1d(count: number, maxPerDim = 65535): [number, number] {
  if (count <= maxPerDim) return [Math.max(1, count), 1];
  const y = Math.ceil(count / maxPerDim);
  return [Math.ceil(count / y), y];
}

/** Anything kernels record into: a Recorder, plus the Gpu for its limits and features. */
export interface KernelContext {
  readonly gpu: Gpu;
  readonly rec: Recorder;
  /** Matmuls multiply in f16 and sum in f32 (needs the device's shader-f16); default f32 throughout. */
  readonly f16Math?: boolean;
}

/** True when two tensors are the same bytes (then they must be bound once, read-write). */
export function sameRange(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}

/** PyTorch's nn.LayerNorm default, and CoCa's. */
export const LAYER_NORM_EPS = 1e-5;

/** A LayerNorm's parameters ([width] each, f32 or f16x2, both the same), for kernels that fold one in. */
export interface LayerNormOf {
  gamma: Tensor;
  beta: Tensor;
  /** Default LAYER_NORM_EPS. */
  eps?: number;
}
