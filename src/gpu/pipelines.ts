// Compute pipelines, created from shaders/*.wgsl with explicit bind group layouts, cached by a structured key.
import { preprocessWgsl, type ShaderDefines } from './wgsl';
import type { ShaderLibrary } from './shader-library';
import type { GpuStats } from './stats';

/** How a kernel uses each binding, in @binding order (all in @group(0)). */
export type BindingKind = 'uniform' | 'read' | 'write';

/** Everything that changes a shader's code. Per-call sizes go in uniforms, never here. */
export interface PipelineSpec {
  readonly shader: string;
  readonly entryPoint?: string;
  readonly defines?: ShaderDefines;
  /** WGSL `override` constants. */
  readonly constants?: Readonly<Record<string, number>>;
  readonly bindings: readonly BindingKind[];
}

export interface CachedPipeline {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** Canonical JSON of a spec: keys sorted, so equal specs give equal keys. */
export function pipelineKey(spec: PipelineSpec): string {
  const sorted = (o: Readonly<Record<string, unknown>> | undefined): [string, unknown][] =>
    Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([spec.shader, spec.entryPoint ?? 'main', sorted(spec.defines), sorted(spec.constants), spec.bindings]);
}

/**
 * Wraps a spec factory so that equal arguments (primitives, or flat objects of primitives) return the same
 * spec object; PipelineCache then finds its pipeline by identity, without rebuilding the key per dispatch.
 */
export function cachedSpecs<A extends unknown[]>(make: (...args: A) => PipelineSpec): (...args: A) => PipelineSpec {
  const specs = new Map<string, PipelineSpec>();
  const part = (a: unknown): string =>
    typeof a === 'object' && a !== null
      ? Object.entries(a)
          .filter(([, v]) => v === undefined || typeof v !== 'object')
          .sort(([x], [y]) => (x < y ? -1 : 1))
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(',')
      : String(a);
  return (...args: A): PipelineSpec => {
    const key = args.map(part).join('|');
    let spec = specs.get(key);
    if (!spec) {
      spec = make(...args);
      specs.set(key, spec);
    }
    return spec;
  };
}

export class PipelineCache {
  private readonly pipelines = new Map<string, CachedPipeline>();
  /** The same pipelines by spec object: the per-dispatch lookup for specs from cachedSpecs(). */
  private readonly bySpec = new WeakMap<PipelineSpec, CachedPipeline>();
  private readonly pending = new Map<string, Promise<CachedPipeline>>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();

  constructor(
    private readonly device: GPUDevice,
    private readonly shaders: ShaderLibrary,
    private readonly stats: GpuStats,
  ) {}

  /** Compiles every spec not yet compiled, in parallel. Call at load so inference never waits on a compiler. */
  async prepare(specs: Iterable<PipelineSpec>, options: { late?: boolean } = {}): Promise<void> {
    const jobs: Promise<CachedPipeline>[] = [];
    for (const spec of specs) {
      if (this.bySpec.has(spec)) continue;
      const done = this.pipelines.get(pipelineKey(spec));
      if (done) this.bySpec.set(spec, done);
      else jobs.push(this.getAsync(spec, options.late ?? false));
    }
    await Promise.all(jobs);
  }

  async getAsync(spec: PipelineSpec, late = false): Promise<CachedPipeline> {
    const key = pipelineKey(spec);
    const done = this.pipelines.get(key);
    if (done) return done;
    let job = this.pending.get(key);
    if (!job) {
      const { descriptor, layout } = this.describe(spec, key);
      job = this.device.createComputePipelineAsync(descriptor).then(
        (pipeline) => {
          const entry = { key, pipeline, layout };
          this.pipelines.set(key, entry);
          this.pending.delete(key);
          this.stats.pipelinesCreated++;
          if (late) this.stats.pipelinesCreatedLate++;
          return entry;
        },
        (error: unknown) => {
          this.pending.delete(key);
          const message = error instanceof Error ? error.message : String(error);
          throw new Error(`[${spec.shader}] pipeline creation failed: ${message}`);
        },
      );
      this.pending.set(key, job);
    }
    return job;
  }

  /** The compiled pipeline. Synchronous compilation is never used (it also upsets Dawn in Node): prepare first. */
  get(spec: PipelineSpec): CachedPipeline {
    const known = this.bySpec.get(spec);
    if (known) return known;
    const done = this.pipelines.get(pipelineKey(spec));
    if (!done) throw new Error(`[${spec.shader}] pipeline used before it was prepared`);
    this.bySpec.set(spec, done);
    return done;
  }

  get size(): number {
    return this.pipelines.size;
  }

  /** The preprocessed WGSL of a spec (for error messages and tests). */
  code(spec: PipelineSpec): string {
    return preprocessWgsl(this.shaders.source(spec.shader), spec.defines ?? {}, `${spec.shader}.wgsl`);
  }

  private describe(spec: PipelineSpec, key: string): { descriptor: GPUComputePipelineDescriptor; layout: GPUBindGroupLayout } {
    const layout = this.bindGroupLayout(spec.bindings);
    const module = this.device.createShaderModule({ label: spec.shader, code: this.code(spec) });
    const compute: GPUProgrammableStage = { module, entryPoint: spec.entryPoint ?? 'main' };
    if (spec.constants) compute.constants = { ...spec.constants };
    return {
      layout,
      descriptor: {
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute,
      },
    };
  }

  private bindGroupLayout(bindings: readonly BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      const typeOf = { uniform: 'uniform', read: 'read-only-storage', write: 'storage' } as const;
      layout = this.device.createBindGroupLayout({
        label: key,
        entries: bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: typeOf[kind] },
        })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }
}
