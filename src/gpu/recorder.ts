// Records the dispatches of a forward pass and submits them as one command buffer.
// Debug mode runs the same steps one submit each, inside error scopes, and reads every step's output
// back by name — the way a parity bug or a validation error is pinned to one kernel in one layer.
import { GpuError } from '../errors';
import type { Gpu } from './gpu';
import type { PipelineSpec } from './pipelines';
import type { UniformLayout, UniformFields, UniformValues } from './uniforms';
import { type Tensor } from './tensor';

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

export class Recorder {
  private readonly steps: RecordedStep[] = [];
  private readonly reads: PendingRead[] = [];
  private uniformBytes = 0;
  private submitted = false;
  /** In debug mode: each step's output, by label (later steps with the same label overwrite). */
  readonly debugOutputs = new Map<string, Float32Array>();

  constructor(
    private readonly gpu: Gpu,
    readonly debug: boolean,
    readonly label: string,
  ) {}

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

  /** Encodes everything recorded into one command buffer, submits it, and resolves pending reads. */
  submit(): Promise<void> {
    if (this.submitted) throw new Error(`recorder ${this.label} was already submitted`);
    this.submitted = true;
    return this.gpu.exclusive(async () => {
      try {
        this.gpu.checkHealthy();
        // Normally a no-op: pipelines are compiled at load. Anything missed compiles here (counted as late).
        await this.gpu.pipelines.prepare(this.steps.map((r) => r.step.pipeline), { late: true });
        this.writeUniforms();
        if (this.debug) await this.runDebug();
        else this.runBatched();
        await this.finishReads();
        this.gpu.checkHealthy();
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

  private runBatched(): void {
    const device = this.gpu.device;
    const encoder = device.createCommandEncoder({ label: this.label });
    if (this.steps.length > 0) {
      const pass = encoder.beginComputePass({ label: this.label });
      for (const recorded of this.steps) this.encode(pass, recorded);
      pass.end();
    }
    this.encodeReadCopies(encoder);
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
    this.encodeReadCopies(encoder);
    device.queue.submit([encoder.finish()]);
    this.gpu.stats.submits++;
  }

  private readLayout(tensors: readonly Tensor[]): { offsets: number[]; total: number } {
    const offsets: number[] = [];
    let total = 0;
    for (const t of tensors) {
      offsets.push(total);
      total += Math.ceil(t.byteLength / 4) * 4;
    }
    return { offsets, total };
  }

  private encodeReadCopies(encoder: GPUCommandEncoder): void {
    if (this.reads.length === 0) return;
    const { offsets, total } = this.readLayout(this.reads.map((r) => r.tensor));
    const staging = this.gpu.stagingBuffer(total);
    this.reads.forEach((r, i) =>
      encoder.copyBufferToBuffer(r.tensor.buffer, r.tensor.byteOffset, staging, offsets[i]!, Math.ceil(r.tensor.byteLength / 4) * 4),
    );
  }

  private async finishReads(): Promise<void> {
    if (this.reads.length === 0) return;
    const bytes = await this.mapStaging(this.reads.map((r) => r.tensor));
    this.reads.forEach((r, i) => r.resolve(bytes[i]!));
  }

  /** Debug mode's per-step read: its own copy and map (the caller already holds the exclusive lock). */
  private async readNow(tensors: readonly Tensor[]): Promise<ArrayBuffer[]> {
    const { offsets, total } = this.readLayout(tensors);
    const staging = this.gpu.stagingBuffer(total);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'debug read' });
    tensors.forEach((t, i) => encoder.copyBufferToBuffer(t.buffer, t.byteOffset, staging, offsets[i]!, Math.ceil(t.byteLength / 4) * 4));
    this.gpu.device.queue.submit([encoder.finish()]);
    return this.mapStaging(tensors);
  }

  private async mapStaging(tensors: readonly Tensor[]): Promise<ArrayBuffer[]> {
    const { offsets, total } = this.readLayout(tensors);
    const staging = this.gpu.stagingBuffer(total);
    this.gpu.stats.hostWaits++;
    await staging.mapAsync(GPUMapMode.READ, 0, Math.ceil(total / 8) * 8 || 8);
    try {
      const mapped = staging.getMappedRange(0, Math.ceil(total / 8) * 8 || 8);
      return tensors.map((t, i) => mapped.slice(offsets[i]!, offsets[i]! + t.byteLength));
    } finally {
      staging.unmap();
    }
  }
}
