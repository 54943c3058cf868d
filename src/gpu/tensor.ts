// A tensor is a typed view of a range of a GPU buffer. Kernels validate shapes against these.
import { ShapeError } from '../errors';

/** 'f16x2' = fp16 values packed in pairs into u32 words (element 2i in the low half), read with unpack2x16float. */
export type DType = 'f32' | 'f16x2' | 'u32' | 'i32';

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly label: string;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes needed for `count` elements, rounded to whole 4-byte words (bindings are word-sized). */
export function bytesFor(dtype: DType, count: number): number {
  return dtype === 'f16x2' ? Math.ceil(count / 2) * 4 : count * 4;
}

/** Same bytes, another shape with the same element count. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) {
    throw new ShapeError(`cannot reshape ${t.label} [${t.shape}] to [${shape}]`);
  }
  return { ...t, shape: [...shape] };
}

export function expectShape(t: Tensor, shape: readonly (number | undefined)[], what: string): void {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === undefined || d === t.shape[i]);
  if (!ok) {
    const want = shape.map((d) => (d === undefined ? '*' : String(d))).join(',');
    throw new ShapeError(`${what}: ${t.label} has shape [${t.shape}], expected [${want}]`);
  }
}

export function expectDtype(t: Tensor, dtypes: readonly DType[], what: string): void {
  if (!dtypes.includes(t.dtype)) {
    throw new ShapeError(`${what}: ${t.label} has dtype ${t.dtype}, expected ${dtypes.join(' or ')}`);
  }
}

/**
 * Two tensors [n₁, …] and [n₂, …] of one dtype and equal trailing dimensions that lie back to back in one
 * buffer, as one [n₁ + n₂, …] view (a concatenation without a copy); null when they do not.
 */
export function adjacentRows(a: Tensor, b: Tensor): Tensor | null {
  const trailing = (t: Tensor) => t.shape.slice(1).join(',');
  if (a.buffer !== b.buffer || a.dtype !== b.dtype || trailing(a) !== trailing(b) || a.shape.length === 0) return null;
  if (a.byteOffset + a.byteLength !== b.byteOffset || bytesFor(a.dtype, numel(a.shape)) !== a.byteLength) return null;
  return { ...a, byteLength: a.byteLength + b.byteLength, shape: [a.shape[0]! + b.shape[0]!, ...a.shape.slice(1)], label: `${a.label}+${b.label}` };
}
