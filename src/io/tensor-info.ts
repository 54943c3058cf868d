// What a checkpoint index says about one tensor, shared by the safetensors and PyTorch readers.

import { CheckpointFormatError, NonFiniteWeightError } from '../errors';

/** The floating-point dtypes the runtime reads, in safetensors' spelling. */
export type TensorDtype = 'F32' | 'F16' | 'BF16';

export const DTYPE_BYTES: Readonly<Record<TensorDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

/** Where one tensor's bytes are: a contiguous, little-endian, row-major range of the source file. */
export interface TensorInfo {
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Absolute offset in the source. */
  byteOffset: number;
  byteLength: number;
}

export interface IndexOptions {
  /**
   * Dtypes (safetensors spelling: I64, F64, ...) whose tensors are left out of the index instead of
   * rejected. Empty by default: an integer tensor in a CoCa checkpoint is a surprise worth an error.
   */
  skipDtypes?: readonly string[];
}

/** Elements in a tensor of this shape; rejects shapes whose size is not a safe integer. */
export function elementCount(shape: readonly number[], tensor: string): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new CheckpointFormatError('bad-header', `tensor ${tensor} has an invalid dimension ${String(dim)} in shape [${shape.join(', ')}]`);
    }
    count *= dim;
    if (!Number.isSafeInteger(count)) {
      throw new CheckpointFormatError('bad-header', `tensor ${tensor} shape [${shape.join(', ')}] is absurdly large`);
    }
  }
  return count;
}

export function isTensorDtype(dtype: string): dtype is TensorDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** Largest magnitude that rounds to a finite half (65504 is the largest half; from 65520 on, rounding gives ±Inf). */
export const F16_OVERFLOW = 65520;

/**
 * Throws NonFiniteWeightError at the first NaN or ±Inf in `values`, or the first magnitude ≥ `limit` (pass
 * F16_OVERFLOW for weights stored as fp16). `firstIndex` is the element of the tensor that values[0] is.
 */
export function assertFiniteWeights(values: Float32Array, tensor: string, sourceName: string, limit = Infinity, firstIndex = 0): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    // Written so that NaN, failing both comparisons, is caught too.
    if (value > -limit && value < limit) continue;
    const index = firstIndex + i;
    const problem = Number.isFinite(value)
      ? `${value}, beyond the ±65504 of fp16 weights: load it with dtype 'fp32'`
      : `${value}: the checkpoint is corrupt (or was saved from a diverged run); download it again`;
    throw new NonFiniteWeightError(tensor, index, value, `${sourceName}: tensor ${tensor} holds at element ${index} the value ${problem}`);
  }
}
