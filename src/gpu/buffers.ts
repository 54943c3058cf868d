// Long-lived weight buffers and the reusable activation arena.
import { GpuError } from '../errors';
import type { Gpu } from './gpu';
import { bytesFor, numel, type DType, type Tensor } from './tensor';

// A function, not a constant: in Node the GPUBufferUsage global exists only once Dawn is set up.
const storageUsage = (): GPUBufferUsageFlags => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
/** Weight chunks are at most this big even where the adapter allows more: smaller allocations fail less. */
const MAX_WEIGHT_CHUNK_BYTES = 256 * 2 ** 20;

/**
 * Weights packed into a few large buffers. Lay out every tensor first (`add`), then `allocate` once,
 * then `write` tensors as they stream in. Each tensor is bound on its own (offset-aligned) range,
 * so one tensor must fit one binding: the model splits the few that do not (e.g. L/14's vocabulary).
 */
export class WeightStore {
  private readonly entries = new Map<string, { shape: number[]; dtype: DType; chunk: number; byteOffset: number; byteLength: number }>();
  private readonly chunkSizes: number[] = [];
  private chunks: GPUBuffer[] = [];
  readonly maxTensorBytes: number;

  constructor(private readonly gpu: Gpu) {
    const limits = gpu.info.limits;
    this.maxTensorBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, MAX_WEIGHT_CHUNK_BYTES);
  }

  add(name: string, shape: readonly number[], dtype: DType): void {
    if (this.chunks.length > 0) throw new Error('WeightStore: add() after allocate()');
    if (this.entries.has(name)) throw new Error(`WeightStore: ${name} added twice`);
    const byteLength = bytesFor(dtype, numel(shape));
    if (byteLength > this.maxTensorBytes) {
      throw new GpuError(
        `${name} needs ${(byteLength / 2 ** 20).toFixed(1)} MiB in one binding; this adapter allows ` +
          `${(this.maxTensorBytes / 2 ** 20).toFixed(1)} MiB. Use fp16 weights, or a GPU with a larger maxStorageBufferBindingSize.`,
      );
    }
    const align = this.gpu.info.limits.minStorageBufferOffsetAlignment;
    let chunk = this.chunkSizes.length - 1;
    let byteOffset = chunk >= 0 ? Math.ceil(this.chunkSizes[chunk]! / align) * align : 0;
    if (chunk < 0 || byteOffset + byteLength > this.maxTensorBytes) {
      this.chunkSizes.push(0);
      chunk++;
      byteOffset = 0;
    }
    this.chunkSizes[chunk] = byteOffset + byteLength;
    this.entries.set(name, { shape: [...shape], dtype, chunk, byteOffset, byteLength });
  }

  allocate(): void {
    this.chunks = this.chunkSizes.map((size, i) => this.gpu.createBuffer('weights', size, storageUsage(), `weights.${i}`));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  tensor(name: string): Tensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`WeightStore: no tensor ${name}`);
    const buffer = this.chunks[e.chunk];
    if (!buffer) throw new Error('WeightStore: tensor() before allocate()');
    return { buffer, byteOffset: e.byteOffset, byteLength: e.byteLength, shape: e.shape, dtype: e.dtype, label: name };
  }

  write(name: string, data: Float32Array | Uint32Array | Int32Array): void {
    this.gpu.write(this.tensor(name), data);
  }

  get byteSize(): number {
    return this.chunks.reduce((sum, b) => sum + b.size, 0);
  }

  destroy(): void {
    for (const b of this.chunks) this.gpu.destroyBuffer('weights', b);
    this.chunks = [];
  }
}

/**
 * Activations: one buffer per named slot, reused by every pass that asks for the same slot and grown
 * only when a bigger shape first appears (a larger batch). After the first call of each kind no
 * buffer is created, and bind groups stay cached because the ranges do not move.
 */
export class Arena {
  private readonly slots = new Map<string, GPUBuffer>();

  constructor(private readonly gpu: Gpu) {}

  tensor(name: string, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const byteLength = bytesFor(dtype, numel(shape));
    let buffer = this.slots.get(name);
    if (!buffer || buffer.size < byteLength) {
      if (buffer) this.gpu.destroyBuffer('activations', buffer);
      buffer = this.gpu.createBuffer('activations', byteLength, storageUsage(), `arena.${name}`);
      this.slots.set(name, buffer);
    }
    return { buffer, byteOffset: 0, byteLength, shape: [...shape], dtype, label: name };
  }

  get byteSize(): number {
    let total = 0;
    for (const b of this.slots.values()) total += b.size;
    return total;
  }

  destroy(): void {
    for (const b of this.slots.values()) this.gpu.destroyBuffer('activations', b);
    this.slots.clear();
  }
}
