// One software-adapter GPU per test file (Dawn in Node), and small helpers to run kernels on it.
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/gpu';
import { nodeGpu } from '../../src/gpu/dawn-node';
import { nodeShaders } from '../../src/gpu/shaders-node';
import type { DType, Tensor } from '../../src/gpu/tensor';
import type { KernelContext } from '../../src/kernels/common';

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
