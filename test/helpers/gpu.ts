// One software-adapter GPU per test file (Dawn in Node), and small helpers to run kernels on it.
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/gpu';
import { nodeGpu } from '../../src/gpu/dawn-node';
import { nodeShaders } from '../../src/gpu/shaders-node';
import type { DType, Tensor } from '../../src/gpu/tensor';
import type { KernelContext } from '../../src/kernels/common';
import { f16ArrayToF32, f32ArrayToF16, packF16Pairs } from '../../src/io/fp16';

let shared: Promise<Gpu> | null = null;

export function testGpu(): Promise<Gpu> {
  shared ??= acquireDevice({ gpu: nodeGpu() }).then((info) => new Gpu(info, nodeShaders()));
  return shared;
}

export function upload(gpu: Gpu, data: Float32Array | Uint32Array | Int32Array, shape: readonly number[], dtype: DType = 'f32', label = 'input'): Tensor {
  const t = gpu.createTensor(shape, dtype, label);
  gpu.write(t, data);
  return t;
}

/** Records what `body` dispatches into one pass, submits it, and reads `outputs` back as Float32Arrays. */
export async function run(gpu: Gpu, body: (ctx: KernelContext) => void, outputs: readonly Tensor[]): Promise<Float32Array[]> {
  const rec = gpu.recorder();
  body({ gpu, rec });
  const reads = outputs.map((t) => rec.read(t));
  await rec.submit();
  return (await Promise.all(reads)).map((bytes) => new Float32Array(bytes));
}

/** fp16 weights as the runtime stores them, and the f32 values they really hold (for the reference). */
export function asF16Weights(values: Float32Array): { packed: Uint32Array; rounded: Float32Array } {
  const halves = f32ArrayToF16(values);
  return { packed: packF16Pairs(halves), rounded: f16ArrayToF32(halves) };
}

/** Uploads weights as f32 or as packed fp16; returns the tensor and the values the GPU will see. */
export function uploadWeights(gpu: Gpu, values: Float32Array, shape: readonly number[], dtype: 'f32' | 'f16x2', label = 'weight'): { tensor: Tensor; seen: Float32Array } {
  if (dtype === 'f32') return { tensor: upload(gpu, values, shape, 'f32', label), seen: values };
  const { packed, rounded } = asF16Weights(values);
  return { tensor: upload(gpu, packed, shape, 'f16x2', label), seen: rounded };
}

export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]!));
  return m;
}

export { maxAbsDiff } from '../../src/bench/harness';

/** Cosine similarity of two vectors (the golden README's bound for fp16 paths). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}
