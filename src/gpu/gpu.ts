// The GPU core: one device, its pipelines, its buffers and the recorder that turns a forward pass
// into one submit. Everything the kernels and the model need from WebGPU goes through here.
import { DeviceLostError, GpuError } from '../errors';
import { adapterFacts, type AdapterFacts } from './adapter';
import { describeAdapter, type GpuDeviceInfo } from './device';
import { PipelineCache } from './pipelines';
import type { ShaderLibrary } from './shader-library';
import { newStats, type GpuStats } from './stats';
import { bytesFor, numel, type DType, type Tensor } from './tensor';
import { Recorder } from './recorder';
import { PassTimer } from './timing';

type Purpose = keyof GpuStats['bytes'];

export class Gpu {
  readonly device: GPUDevice;
  readonly info: GpuDeviceInfo;
  /** What the adapter is and can do, decided once (kernels pick their variants from these). */
  readonly facts: AdapterFacts;
  readonly stats: GpuStats = newStats();
  readonly pipelines: PipelineCache;
  /** Off by default; a profiler sets the mode and reads the passes timed (timing.ts). */
  readonly timing: PassTimer;
  /** Bind groups by (layout, uniform slot, bound ranges); a pass recorded twice reuses them all. */
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private staging: GPUBuffer | null = null;
  private uniformBuffer: GPUBuffer | null = null;
  private queueTail: Promise<unknown> = Promise.resolve();
  private lostInfo: GPUDeviceLostInfo | null = null;
  private uncaptured: GPUError[] = [];

  constructor(info: GpuDeviceInfo, shaders: ShaderLibrary) {
    this.info = info;
    this.device = info.device;
    this.facts = adapterFacts(info);
    this.pipelines = new PipelineCache(this.device, shaders, this.stats);
    this.timing = new PassTimer(info.hasTimestampQuery);
    void this.device.lost.then((lost) => {
      this.lostInfo = lost;
    });
    this.device.addEventListener('uncapturederror', (event) => {
      this.uncaptured.push((event as GPUUncapturedErrorEvent).error);
    });
  }

  get adapterName(): string {
    return describeAdapter(this.info.adapter);
  }

  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /** Throws DeviceLostError if the device is gone, GpuError if an uncaptured GPU error happened. */
  checkHealthy(): void {
    if (this.lostInfo) {
      throw new DeviceLostError(
        `The GPU device was lost (${this.lostInfo.reason}: ${this.lostInfo.message || 'no message'}). ` +
          'The model must be reloaded onto a new device.',
      );
    }
    const errors = this.uncaptured.splice(0);
    if (errors.length > 0) {
      throw new GpuError(`GPU error: ${errors.map((e) => e.message).join('; ')}`);
    }
  }

  createBuffer(purpose: Purpose, byteLength: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
    if (size > this.info.limits.maxBufferSize) {
      throw new GpuError(
        `${label}: a buffer of ${(size / 2 ** 20).toFixed(1)} MiB exceeds this adapter's maxBufferSize ` +
          `(${(this.info.limits.maxBufferSize / 2 ** 20).toFixed(1)} MiB)`,
      );
    }
    const buffer = this.device.createBuffer({ size, usage, label });
    this.bufferIds.set(buffer, this.nextBufferId++);
    this.stats.buffersCreated++;
    this.stats.bytes[purpose] += size;
    return buffer;
  }

  destroyBuffer(purpose: Purpose, buffer: GPUBuffer): void {
    this.stats.bytes[purpose] -= buffer.size;
    this.dropBindGroupsOf(buffer);
    buffer.destroy();
  }

  /** A standalone storage tensor (weights uploaded one by one, test inputs). */
  createTensor(shape: readonly number[], dtype: DType, label: string, purpose: Purpose = 'activations'): Tensor {
    const byteLength = bytesFor(dtype, numel(shape));
    const buffer = this.createBuffer(
      purpose,
      byteLength,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      label,
    );
    return { buffer, byteOffset: 0, byteLength, shape: [...shape], dtype, label };
  }

  /** Writes host data into a tensor's range (queued; ordered before any later submit). */
  write(t: Tensor, data: ArrayBufferView): void {
    if (data.byteLength > t.byteLength) {
      throw new GpuError(`write to ${t.label}: ${data.byteLength} bytes do not fit in ${t.byteLength}`);
    }
    const padded = data.byteLength % 4 === 0 ? data : padToWords(data);
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Starts recording a pass. `debug` submits each step alone, in an error scope, and reads it back. */
  recorder(options: { debug?: boolean; label?: string } = {}): Recorder {
    return new Recorder(this, options.debug ?? false, options.label ?? 'pass');
  }

  /** Reads tensors back to the host through the one reused staging buffer. */
  async read(tensors: readonly Tensor[]): Promise<ArrayBuffer[]> {
    const rec = this.recorder({ label: 'read' });
    const results = tensors.map((t) => rec.read(t));
    await rec.submit();
    return Promise.all(results);
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    const [bytes] = await this.read([t]);
    return new Float32Array(bytes!, 0, t.dtype === 'f32' ? numel(t.shape) : bytes!.byteLength / 4);
  }

  // ---- internals used by Recorder ----

  /** Runs GPU work one job at a time: the staging and uniform buffers are shared between jobs. */
  exclusive<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queueTail.then(job, job);
    this.queueTail = run.catch(() => undefined);
    return run;
  }

  uniforms(byteLength: number): GPUBuffer {
    if (!this.uniformBuffer || this.uniformBuffer.size < byteLength) {
      if (this.uniformBuffer) this.destroyBuffer('uniforms', this.uniformBuffer);
      const size = Math.max(byteLength, 64 * 1024) * 2;
      this.uniformBuffer = this.createBuffer('uniforms', size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'uniforms');
    }
    return this.uniformBuffer;
  }

  stagingBuffer(byteLength: number): GPUBuffer {
    if (!this.staging || this.staging.size < byteLength) {
      if (this.staging) this.destroyBuffer('staging', this.staging);
      const size = Math.max(byteLength, 64 * 1024);
      this.staging = this.createBuffer('staging', size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, 'staging');
    }
    return this.staging;
  }

  bindGroup(layout: GPUBindGroupLayout, layoutKey: string, uniformOffset: number, uniformSize: number, ranges: readonly Tensor[]): GPUBindGroup {
    const uniforms = this.uniformBuffer;
    // Each tensor is bound from its offset to the end of its buffer (kernels index by uniforms and check
    // extents on the host), so views of different sizes on the same slot share one bind group: a pass with
    // fewer rows reuses the bind groups of a pass with more.
    const maxBinding = this.info.limits.maxStorageBufferBindingSize;
    const bindSize = (t: Tensor): number => Math.min(t.buffer.size - t.byteOffset, Math.floor(maxBinding / 4) * 4);
    const parts = [layoutKey, uniformSize > 0 ? `${this.idOf(uniforms!)}@${uniformOffset}` : '-'];
    for (const t of ranges) parts.push(`${this.idOf(t.buffer)}@${t.byteOffset}`);
    const key = parts.join('|');
    let group = this.bindGroups.get(key);
    if (!group) {
      const entries: GPUBindGroupEntry[] = [];
      if (uniformSize > 0) entries.push({ binding: 0, resource: { buffer: uniforms!, offset: uniformOffset, size: uniformSize } });
      ranges.forEach((t, i) =>
        entries.push({
          binding: i + (uniformSize > 0 ? 1 : 0), // the uniform struct, when there is one, is binding 0
          resource: { buffer: t.buffer, offset: t.byteOffset, size: bindSize(t) },
        }),
      );
      group = this.device.createBindGroup({ layout, entries });
      this.bindGroups.set(key, group);
      this.stats.bindGroupsCreated++;
    }
    return group;
  }

  private idOf(buffer: GPUBuffer): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buffer, id);
    }
    return id;
  }

  private dropBindGroupsOf(buffer: GPUBuffer): void {
    const id = this.bufferIds.get(buffer);
    if (id === undefined) return;
    for (const key of [...this.bindGroups.keys()]) {
      if (key.includes(`|${id}@`)) this.bindGroups.delete(key);
    }
  }

  destroy(): void {
    this.device.destroy();
  }
}

function padToWords(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}
