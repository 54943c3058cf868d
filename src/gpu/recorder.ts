// Records the dispatches of a forward pass and submits them as one command buffer (with gpu.timing on,
// timed: host phases, and GPU timestamps per pass or per dispatch, see timing.ts).
// Debug mode runs the same steps one submit each, inside error scopes, and reads every step's output
// back by name — the way a parity bug or a validation error is pinned to one kernel in one layer.
import { GpuError } from '../errors';
import type { GpuDeviceInfo } from './device';
import type { PipelineCache, PipelineSpec } from './pipelines';
import type { GpuStats } from './stats';
import type { UniformLayout, UniformFields, UniformValues } from './uniforms';
import { type Tensor } from './tensor';
import { parseTimestamps, passTimestampIndices, timestampCount, TIMESTAMP_BYTES, type HostPhases, type PassTimer, type QueryBufferMaker, type TimingMode } from './timing';

export interface DispatchStep<F extends UniformFields = UniformFields> {
  /** Names the step in debug output and error messages, e.g. "visual.resblocks.3.attn". */
  readonly label: string;
  readonly pipeline: PipelineSpec;
  readonly uniforms?: { readonly layout: UniformLayout<F>; readonly values: UniformValues<F> };
  /** Storage bindings in @binding order (after the uniform struct, if any). */
  readonly bindings: readonly Tensor[];
  readonly workgroups: readonly [number, number?, number?];
  /** The tensor this step writes; debug mode reads it back under `label`. */
  readonly output?: Tensor;
}

interface RecordedStep {
  step: DispatchStep;
  uniformOffset: number;
  uniformSize: number;
}

interface PendingRead {
  tensor: Tensor;
  resolve: (bytes: ArrayBuffer) => void;
  reject: (error: unknown) => void;
}

/**
 * What a recorder uses of the GPU that makes it (gpu.ts's Gpu, which satisfies this). Declared here so
 * that the recorder does not import gpu.ts, which imports the recorder.
 */
export interface RecorderGpu extends QueryBufferMaker {
  readonly info: GpuDeviceInfo;
  readonly stats: GpuStats;
  readonly pipelines: PipelineCache;
  readonly timing: PassTimer;
  checkHealthy(): void;
  exclusive<T>(job: () => Promise<T>): Promise<T>;
  uniforms(byteLength: number): GPUBuffer;
  stagingBuffer(byteLength: number): GPUBuffer;
  bindGroup(layout: GPUBindGroupLayout, layoutKey: string, uniformOffset: number, uniformSize: number, ranges: readonly Tensor[]): GPUBindGroup;
}

export class Recorder {
  private readonly steps: RecordedStep[] = [];
  private readonly reads: PendingRead[] = [];
  private uniformBytes = 0;
  private submitted = false;
  /** With timing on: when recording started (the host's "record" phase runs from here to submit()). */
  private readonly createdAt: number;
  /** In debug mode: each step's output, by label (later steps with the same label overwrite). */
  readonly debugOutputs = new Map<string, Float32Array>();

  constructor(
    private readonly gpu: RecorderGpu,
    readonly debug: boolean,
    readonly label: string,
  ) {
    this.createdAt = gpu.timing.mode === 'off' ? 0 : performance.now();
  }

  get dispatchCount(): number {
    return this.steps.length;
  }

  dispatch<F extends UniformFields>(step: DispatchStep<F>): void {
    if (this.submitted) throw new Error(`recorder ${this.label} was already submitted`);
    const [x, y = 1, z = 1] = step.workgroups;
    const max = this.gpu.info.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max || x < 1 || y < 1 || z < 1) {
      throw new GpuError(`[${step.pipeline.shader}] ${step.label}: dispatch ${x}×${y}×${z} is outside 1..${max} per dimension`);
    }
    const align = this.gpu.info.limits.minUniformBufferOffsetAlignment;
    const uniformSize = step.uniforms?.layout.byteSize ?? 0;
    const uniformOffset = Math.ceil(this.uniformBytes / align) * align;
    if (uniformSize > 0) this.uniformBytes = uniformOffset + uniformSize;
    this.steps.push({ step: step as DispatchStep, uniformOffset, uniformSize });
  }

  /** The pipelines this pass uses (a pass recorded but never submitted tells the loader what to compile). */
  pipelineSpecs(): PipelineSpec[] {
    return this.steps.map((r) => r.step.pipeline);
  }

  /** Copies a tensor to the host after the pass; the promise resolves once the pass is submitted and done. */
  read(tensor: Tensor): Promise<ArrayBuffer> {
    return new Promise((resolve, reject) => this.reads.push({ tensor, resolve, reject }));
  }

  /**
   * Encodes everything recorded into one command buffer, submits it, and resolves pending reads. With
   * gpu.timing on, the pass's host phases (and GPU timestamps, resolved into the same staging buffer as the
   * reads, in the same submit) go to the timing log; a timed pass that reads nothing still waits for its
   * timestamps. Debug passes are never timed.
   */
  submit(): Promise<void> {
    if (this.submitted) throw new Error(`recorder ${this.label} was already submitted`);
    this.submitted = true;
    const mode: TimingMode = this.debug ? 'off' : this.gpu.timing.mode;
    const recordMs = mode === 'off' ? 0 : performance.now() - this.createdAt;
    return this.gpu.exclusive(async () => {
      try {
        this.gpu.checkHealthy();
        const clock = mode === 'off' ? null : new PhaseClock(recordMs);
        // Normally a no-op: pipelines are compiled at load. Anything missed compiles here (counted as late).
        await this.gpu.pipelines.prepare(this.steps.map((r) => r.step.pipeline), { late: true });
        this.writeUniforms();
        const timestamps = timestampCount(mode, this.steps.length);
        if (this.debug) await this.runDebug();
        else this.runBatched(mode, timestamps);
        clock?.lap('submitMs');
        const ticks = await this.finishReads(timestamps, clock);
        this.gpu.checkHealthy();
        if (clock) this.recordTiming(mode, ticks, clock.phases);
      } catch (error) {
        for (const r of this.reads) r.reject(error);
        throw error;
      }
    });
  }

  private writeUniforms(): void {
    if (this.uniformBytes === 0) return;
    const bytes = new ArrayBuffer(this.uniformBytes);
    const view = new DataView(bytes);
    for (const { step, uniformOffset } of this.steps) {
      step.uniforms?.layout.pack(step.uniforms.values, view, uniformOffset);
    }
    const buffer = this.gpu.uniforms(this.uniformBytes);
    this.gpu.device.queue.writeBuffer(buffer, 0, bytes);
  }

  private encode(pass: GPUComputePassEncoder, recorded: RecordedStep): void {
    const { step, uniformOffset, uniformSize } = recorded;
    const { pipeline, layout, key } = this.gpu.pipelines.get(step.pipeline);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.gpu.bindGroup(layout, key, uniformOffset, uniformSize, step.bindings));
    const [x, y = 1, z = 1] = step.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.gpu.stats.dispatches++;
  }

  /**
   * One compute pass for every step; in 'dispatch' timing mode a pass per step, so that each dispatch gets
   * its own begin and end timestamps. Then the read copies and the timestamp resolve, all in one submit.
   */
  private runBatched(mode: TimingMode, timestamps: number): void {
    const device = this.gpu.device;
    const encoder = device.createCommandEncoder({ label: this.label });
    const querySet = timestamps > 0 ? this.gpu.timing.querySlots(this.gpu, timestamps).set : null;
    const passPerStep = mode === 'dispatch';
    let pass: GPUComputePassEncoder | null = null;
    for (const [i, recorded] of this.steps.entries()) {
      pass ??= encoder.beginComputePass(querySet ? { label: this.label, timestampWrites: { querySet, ...passTimestampIndices(passPerStep ? i : 0) } } : { label: this.label });
      this.encode(pass, recorded);
      if (passPerStep) {
        pass.end();
        pass = null;
      }
    }
    pass?.end();
    this.encodeReadCopies(encoder, timestamps);
    device.queue.submit([encoder.finish()]);
    this.gpu.stats.submits++;
  }

  private async runDebug(): Promise<void> {
    const device = this.gpu.device;
    for (const recorded of this.steps) {
      const { step } = recorded;
      const name = `[${step.pipeline.shader}] ${step.label}`;
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      const encoder = device.createCommandEncoder({ label: name });
      const pass = encoder.beginComputePass({ label: name });
      this.encode(pass, recorded);
      pass.end();
      device.queue.submit([encoder.finish()]);
      this.gpu.stats.submits++;
      const oom = await device.popErrorScope();
      const invalid = await device.popErrorScope();
      const error = invalid ?? oom;
      if (error) throw new GpuError(`${name}: ${error.message}`);
      if (step.output) {
        const [bytes] = await this.readNow([step.output]);
        this.debugOutputs.set(step.label, new Float32Array(bytes!));
      }
    }
    const encoder = device.createCommandEncoder({ label: `${this.label} reads` });
    this.encodeReadCopies(encoder, 0);
    device.queue.submit([encoder.finish()]);
    this.gpu.stats.submits++;
  }

  /** Where each tensor, then the timestamps (if any), lie in the staging buffer. */
  private readLayout(tensors: readonly Tensor[], timestamps = 0): { offsets: number[]; timestampOffset: number; total: number } {
    const offsets: number[] = [];
    let total = 0;
    for (const t of tensors) {
      offsets.push(total);
      total += Math.ceil(t.byteLength / 4) * 4;
    }
    const timestampOffset = Math.ceil(total / TIMESTAMP_BYTES) * TIMESTAMP_BYTES;
    if (timestamps > 0) total = timestampOffset + timestamps * TIMESTAMP_BYTES;
    return { offsets, timestampOffset, total };
  }

  private encodeReadCopies(encoder: GPUCommandEncoder, timestamps: number): void {
    if (this.reads.length === 0 && timestamps === 0) return;
    const { offsets, timestampOffset, total } = this.readLayout(this.reads.map((r) => r.tensor), timestamps);
    const staging = this.gpu.stagingBuffer(total);
    this.reads.forEach((r, i) =>
      encoder.copyBufferToBuffer(r.tensor.buffer, r.tensor.byteOffset, staging, offsets[i]!, Math.ceil(r.tensor.byteLength / 4) * 4),
    );
    if (timestamps > 0) {
      const { set, resolve } = this.gpu.timing.querySlots(this.gpu, timestamps);
      encoder.resolveQuerySet(set, 0, timestamps, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, timestampOffset, timestamps * TIMESTAMP_BYTES);
    }
  }

  /** Resolves the pending reads from one map of the staging buffer; returns the pass's timestamps, if any. */
  private async finishReads(timestamps: number, clock: PhaseClock | null): Promise<BigUint64Array | null> {
    if (this.reads.length === 0 && timestamps === 0) return null;
    const { bytes, ticks } = await this.mapStaging(this.reads.map((r) => r.tensor), timestamps, clock);
    this.reads.forEach((r, i) => r.resolve(bytes[i]!));
    return ticks;
  }

  /** Debug mode's per-step read: its own copy and map (the caller already holds the exclusive lock). */
  private async readNow(tensors: readonly Tensor[]): Promise<ArrayBuffer[]> {
    const { offsets, total } = this.readLayout(tensors);
    const staging = this.gpu.stagingBuffer(total);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'debug read' });
    tensors.forEach((t, i) => encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, offsets[i]!, Math.ceil(t.byteLength / 4) * 4));
    this.gpu.device.queue.submit([encoder.finish()]);
    return (await this.mapStaging(tensors, 0, null)).bytes;
  }

  /** Maps the staging buffer (a host wait, counted in GpuStats) and copies each tensor's bytes and the timestamps out. */
  private async mapStaging(tensors: readonly Tensor[], timestamps: number, clock: PhaseClock | null): Promise<{ bytes: ArrayBuffer[]; ticks: BigUint64Array | null }> {
    const { offsets, timestampOffset, total } = this.readLayout(tensors, timestamps);
    const staging = this.gpu.stagingBuffer(total);
    const size = Math.ceil(total / 8) * 8 || 8;
    this.gpu.stats.hostWaits++;
    await staging.mapAsync(GPUMapMode.READ, 0, size);
    clock?.lap('waitMs');
    try {
      const mapped = staging.getMappedRange(0, size);
      const bytes = tensors.map((t, i) => mapped.slice(offsets[i]!, offsets[i]! + t.byteLength));
      const ticks = timestamps > 0 ? new BigUint64Array(mapped.slice(timestampOffset, timestampOffset + timestamps * TIMESTAMP_BYTES)) : null;
      return { bytes, ticks };
    } finally {
      staging.unmap();
      clock?.lap('readbackMs');
    }
  }

  private recordTiming(mode: TimingMode, ticks: BigUint64Array | null, host: HostPhases): void {
    const dispatches = this.steps.map(({ step }) => ({ kernel: step.pipeline.shader, label: step.label }));
    const gpu = ticks && (mode === 'pass' || mode === 'dispatch') ? parseTimestamps(ticks, mode, dispatches) : null;
    this.gpu.timing.record({ label: this.label, dispatches: dispatches.length, gpuMs: gpu?.gpuMs ?? null, perDispatch: gpu?.perDispatch ?? null, host });
  }
}

/** Host time split into phases: each lap adds the time since the previous one to a phase. */
class PhaseClock {
  readonly phases: HostPhases;
  private last = performance.now();

  constructor(recordMs: number) {
    this.phases = { recordMs, submitMs: 0, waitMs: 0, readbackMs: 0 };
  }

  lap(phase: Exclude<keyof HostPhases, 'recordMs'>): void {
    const now = performance.now();
    this.phases[phase] += now - this.last;
    this.last = now;
  }
}
