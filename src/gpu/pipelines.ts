// Compute pipelines, created from shaders/**/*.wgsl with explicit bind group layouts, cached by a structured key.
// A spec declares the uniform struct and every storage binding (name, access, element type); the WGSL
// declarations (`@group(0) @binding(n) var<…>`) are generated from it and prepended to the shader, and
// dispatches name their tensors, so binding order can never drift between WGSL and TypeScript.
import { preprocessWgsl, type ShaderDefines } from './wgsl';
import type { ShaderLibrary } from './shader-library';
import type { GpuStats } from './stats';
import type { DType, Tensor } from './tensor';
import type { UniformFields, UniformLayout } from './uniforms';

/** How a kernel uses each binding (all in @group(0); the uniform struct, when there is one, is binding 0). */
export type BindingKind = 'uniform' | 'read' | 'write';

/** One storage binding: `var<storage, read|read_write> name: array<type>`. */
export interface BindingDecl {
  readonly name: string;
  readonly access: 'read' | 'write';
  /** WGSL element type of the array: 'f32', 'u32', 'vec4<f32>', 'vec2<u32>'. */
  readonly type: string;
  /**
   * Also generate `fn <name>_at(i: u32) -> f32`, element i of a tensor of this dtype (f16x2: pairs of
   * fp16 packed in u32 words, element 2j in the low half).
   */
  readonly at?: 'f32' | 'f16x2';
}

/** A read-only binding of `type` elements. */
export function read(name: string, type = 'f32'): BindingDecl {
  return { name, access: 'read', type };
}

/** A read-write binding of `type` elements. */
export function write(name: string, type = 'f32'): BindingDecl {
  return { name, access: 'write', type };
}

/** A read-only f32 or f16x2 tensor read element by element through the generated `<name>_at(i)`. */
export function readValues(name: string, dtype: DType): BindingDecl {
  if (dtype !== 'f32' && dtype !== 'f16x2') throw new Error(`readValues ${name}: ${dtype} is not f32 or f16x2`);
  return { name, access: 'read', type: dtype === 'f16x2' ? 'u32' : 'f32', at: dtype };
}

/** Everything that changes a shader's code. Per-call sizes go in uniforms, never here. */
export interface PipelineSpec {
  /** shaders/<shader>.wgsl, e.g. 'matmul/tiled'. */
  readonly shader: string;
  readonly entryPoint?: string;
  readonly defines?: ShaderDefines;
  /** WGSL `override` constants. */
  readonly constants?: Readonly<Record<string, number>>;
  /** The uniform struct, declared as `struct Params` and bound as `params` at binding 0. */
  readonly uniforms?: UniformLayout<UniformFields>;
  /** Storage bindings in binding order (after the uniforms). */
  readonly bindings: readonly BindingDecl[];
  /** WGSL extensions the shader needs ('f16', 'subgroups'). */
  readonly enables?: readonly string[];
}

export interface CachedPipeline {
  readonly key: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** The bind group layout's entries of a spec, in binding order. */
export function bindingKinds(spec: PipelineSpec): BindingKind[] {
  return [...(spec.uniforms ? ['uniform' as const] : []), ...spec.bindings.map((b) => b.access)];
}

/** Canonical JSON of a spec: keys sorted, so equal specs give equal keys. */
export function pipelineKey(spec: PipelineSpec): string {
  const sorted = (o: Readonly<Record<string, unknown>> | undefined): [string, unknown][] =>
    Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    spec.shader,
    spec.entryPoint ?? 'main',
    sorted(spec.defines),
    sorted(spec.constants),
    spec.uniforms ? Object.entries(spec.uniforms.fields) : null,
    spec.bindings.map((b) => [b.name, b.access, b.type, b.at ?? '']),
    spec.enables ?? [],
  ]);
}

/** The generated head of a shader: enable directives, the uniform struct and every binding's declaration. */
export function bindingDeclarations(spec: PipelineSpec): string {
  const lines = (spec.enables ?? []).map((e) => `enable ${e};`);
  lines.push(`// Bindings generated from the pipeline spec of ${spec.shader}.`);
  let binding = 0;
  if (spec.uniforms) {
    lines.push(spec.uniforms.wgsl('Params'), `@group(0) @binding(${binding++}) var<uniform> params: Params;`);
  }
  for (const b of spec.bindings) {
    const access = b.access === 'read' ? 'read' : 'read_write';
    lines.push(`@group(0) @binding(${binding++}) var<storage, ${access}> ${b.name}: array<${b.type}>;`);
  }
  for (const b of spec.bindings) {
    if (b.at === 'f16x2') lines.push(`fn ${b.name}_at(i: u32) -> f32 { return unpack2x16float(${b.name}[i >> 1u])[i & 1u]; }`);
    else if (b.at === 'f32') lines.push(`fn ${b.name}_at(i: u32) -> f32 { return ${b.name}[i]; }`);
  }
  return lines.join('\n');
}

/**
 * The tensors of a dispatch in the spec's binding order, by name. Every declared binding must be given
 * exactly once; a tensor bound read-write must not also be bound elsewhere (WebGPU forbids it).
 */
export function bindingsFor(spec: PipelineSpec, tensors: Readonly<Record<string, Tensor | undefined>>): Tensor[] {
  const names = new Set(spec.bindings.map((b) => b.name));
  for (const [name, t] of Object.entries(tensors)) {
    if (t !== undefined && !names.has(name)) throw new Error(`[${spec.shader}] no binding named ${name}`);
  }
  return spec.bindings.map((b) => {
    const t = tensors[b.name];
    if (!t) throw new Error(`[${spec.shader}] binding ${b.name} was not given a tensor`);
    return t;
  });
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

  /** The complete WGSL of a spec: generated declarations, then the preprocessed shader (for error messages and tests). */
  code(spec: PipelineSpec): string {
    const body = preprocessWgsl(this.shaders.source(spec.shader), spec.defines ?? {}, spec.shader, (name) => this.shaders.source(name));
    return `${bindingDeclarations(spec)}\n${body}`;
  }

  private describe(spec: PipelineSpec, key: string): { descriptor: GPUComputePipelineDescriptor; layout: GPUBindGroupLayout } {
    const layout = this.bindGroupLayout(bindingKinds(spec));
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
