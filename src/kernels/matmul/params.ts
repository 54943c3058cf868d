// What the matmul variants share: the call's arguments and their checked geometry, the uniform struct,
// the epilogue flags and the bindings. index.ts picks a variant; tiled.ts, gemv.ts and cpu.ts record it.
import { ShapeError } from '../../errors';
import { read, readValues, write, type BindingDecl } from '../../gpu/pipelines';
import { expectDtype, expectShape, numel, type DType, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import type { ShaderDefines } from '../../gpu/wgsl';
import { LAYER_NORM_EPS, type LayerNormOf } from '../common';

/** The sizes, offsets and strides of a product (MatmulGeometry), shared by the tiled and the CPU kernels. */
export const MatmulParams = defineUniforms({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  xOffset: 'u32',
  xRowStride: 'u32',
  xBatchStride: 'u32',
  wOffset: 'u32',
  biasOffset: 'u32',
  yOffset: 'u32',
  yRowStride: 'u32',
  yBatchStride: 'u32',
  /** The CPU kernel: 32-column tiles per workgroup. */
  tilesPerGroup: 'u32',
  /** The LayerNorm fusions' ε. */
  eps: 'f32',
});


export interface MatmulEpilogue {
  /** Products in f16, sums in f32 (shader-f16): the tiled and matrix-vector kernels only. */
  f16Math?: boolean;
  /** Exact GELU applied to x·Wᵀ + b. */
  gelu?: boolean;
  /** y += result instead of y = result: the residual add of a pre-norm block, in place. */
  accumulate?: boolean;
}

/**
 * 'gpu': tiled + matrix-vector kernels; 'cpu': matmul/cpu.wgsl; 'cpu-subgroups': the same with rows of x
 * shared by subgroup broadcasts (needs the 'subgroups' feature with 8-lane subgroups).
 */
export type MatmulKernel = 'gpu' | 'cpu' | 'cpu-subgroups';

export interface MatmulArgs extends MatmulEpilogue {
  /** [M, K] or [B, M, K] (or any layout given by the strides below). */
  x: Tensor;
  /** [N_total, K], f32 or f16x2. */
  w: Tensor;
  bias?: Tensor;
  y: Tensor;
  label: string;
  /** Rows of x (default: all rows of x as [*, K]). */
  M?: number;
  /** Use rows wRowStart .. wRowStart + N of W (and the same slice of the bias): e.g. the K and V parts of in_proj. */
  wRowStart?: number;
  /** Use bias elements biasStart .. biasStart + N instead (W and its bias stored apart); default wRowStart. */
  biasStart?: number;
  N?: number;
  batch?: number;
  /** Element offsets and strides (defaults: dense). */
  xOffset?: number;
  xRowStride?: number;
  xBatchStride?: number;
  yOffset?: number;
  yRowStride?: number;
  yBatchStride?: number;
  /**
   * x's rows are layer-normalized first (a pre-norm block's LayerNorm folded into the product): γ and β of
   * width K. Not with lnAfter.
   */
  ln?: LayerNormOf;
  /**
   * After y is written, LN(y) with these parameters (width N) goes to `out`, dense [batch·M, N]: the next
   * pre-norm block's input. y must be dense (no offset or padding).
   */
  lnAfter?: LayerNormOf & { out: Tensor };
  /** Forces a kernel family (tests, benchmarks); by default defaultMatmulKernel(). */
  kernel?: MatmulKernel;
}

/** Just the epilogue flags of a call (what its spec depends on), so equal calls share one cached spec. */
export function epilogueOf(args: MatmulEpilogue): MatmulEpilogue {
  return { gelu: Boolean(args.gelu), accumulate: Boolean(args.accumulate), f16Math: Boolean(args.f16Math) };
}

/** The defines of lib/matmul_epilogue.wgsl and of the weight format, common to every variant. */
export function epilogueDefines(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue): ShaderDefines {
  return { F16_WEIGHTS: f16Weights, BIAS: bias, GELU: Boolean(epilogue.gelu), ACCUMULATE: Boolean(epilogue.accumulate) };
}

/**
 * x, w, (bias,) y, then the LayerNorm's ln_gamma and ln_beta (when `ln` is their dtype) and h (when `h`):
 * x and w with the given element types, bias and y of f32.
 */
export function matmulBindings(x: BindingDecl, w: BindingDecl, bias: boolean, ln: DType | null = null, h = false): BindingDecl[] {
  const norm = ln ? [readValues('ln_gamma', ln), readValues('ln_beta', ln)] : [];
  return [x, w, ...(bias ? [read('bias')] : []), write('y'), ...norm, ...(h ? [write('h')] : [])];
}

/** The tensors of matmulBindings, by binding name. */
export function matmulTensors(args: MatmulArgs): Record<string, Tensor | undefined> {
  const norm = args.ln ?? args.lnAfter;
  return { x: args.x, w: args.w, bias: args.bias, y: args.y, ln_gamma: norm?.gamma, ln_beta: norm?.beta, h: args.lnAfter?.out };
}

/** Resolved sizes and strides, checked against the tensors' extents. */
export interface MatmulGeometry {
  M: number;
  N: number;
  K: number;
  batch: number;
  xOffset: number;
  xRowStride: number;
  xBatchStride: number;
  wOffset: number;
  biasOffset: number;
  yOffset: number;
  yRowStride: number;
  yBatchStride: number;
  tilesPerGroup: number;
  eps: number;
}

/** Dense batches (rows of consecutive items follow each other) can be folded into one batch of M·batch rows. */
export function foldsBatches(g: MatmulGeometry): boolean {
  return g.batch === 1 || (g.xBatchStride === g.M * g.xRowStride && g.yBatchStride === g.M * g.yRowStride);
}

export function matmulGeometry(args: MatmulArgs): MatmulGeometry {
  const { x, w, bias, y, label } = args;
  const what = `matmul ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(y, ['f32'], what);
  expectDtype(w, ['f32', 'f16x2'], what);
  if (bias) expectDtype(bias, ['f32'], what);
  if (w.shape.length !== 2) throw new ShapeError(`${what}: weight ${w.label} must be [N, K], got [${w.shape}]`);
  const [nTotal, K] = w.shape as [number, number];
  const wRowStart = args.wRowStart ?? 0;
  const N = args.N ?? nTotal - wRowStart;
  if (wRowStart < 0 || N < 1 || wRowStart + N > nTotal) throw new ShapeError(`${what}: rows ${wRowStart}..${wRowStart + N} outside ${w.label} [${w.shape}]`);
  if (w.dtype === 'f16x2' && (wRowStart * K) % 2 !== 0) throw new ShapeError(`${what}: fp16 weight slice must start on an even element`);
  const biasOffset = args.biasStart ?? wRowStart;
  if (bias && (args.biasStart === undefined ? numel(bias.shape) !== nTotal : biasOffset < 0 || biasOffset + N > numel(bias.shape))) {
    throw new ShapeError(`${what}: bias ${bias.label} [${bias.shape}] does not match ${args.biasStart === undefined ? `${nTotal} rows of W` : `elements ${biasOffset}..${biasOffset + N}`}`);
  }
  const batch = args.batch ?? 1;
  const xRowStride = args.xRowStride ?? K;
  const M = args.M ?? numel(x.shape) / batch / xRowStride;
  if (!Number.isInteger(M) || M < 1) throw new ShapeError(`${what}: x ${x.label} [${x.shape}] is not [${batch}, M, ${K}]`);
  const g: MatmulGeometry = {
    M,
    N,
    K,
    batch,
    xOffset: args.xOffset ?? 0,
    xRowStride,
    xBatchStride: args.xBatchStride ?? M * xRowStride,
    wOffset: wRowStart * K,
    biasOffset,
    yOffset: args.yOffset ?? 0,
    yRowStride: args.yRowStride ?? N,
    yBatchStride: args.yBatchStride ?? M * (args.yRowStride ?? N),
    tilesPerGroup: 1,
    eps: (args.ln ?? args.lnAfter)?.eps ?? LAYER_NORM_EPS,
  };
  const lastX = g.xOffset + (batch - 1) * g.xBatchStride + (M - 1) * g.xRowStride + K;
  const lastY = g.yOffset + (batch - 1) * g.yBatchStride + (M - 1) * g.yRowStride + N;
  if (lastX > numel(x.shape)) throw new ShapeError(`${what}: reads past the end of x ${x.label} [${x.shape}]`);
  if (lastY > numel(y.shape)) throw new ShapeError(`${what}: writes past the end of y ${y.label} [${y.shape}]`);
  if (x.buffer === y.buffer) throw new ShapeError(`${what}: x and y must not share a buffer`);
  checkLayerNorms(args, g, what);
  return g;
}

function checkLayerNorms(args: MatmulArgs, g: MatmulGeometry, what: string): void {
  const { ln, lnAfter } = args;
  if (ln && lnAfter) throw new ShapeError(`${what}: give ln or lnAfter, not both`);
  const norm = ln ?? lnAfter;
  if (!norm) return;
  const width = ln ? g.K : g.N;
  expectDtype(norm.gamma, ['f32', 'f16x2'], what);
  if (norm.beta.dtype !== norm.gamma.dtype) throw new ShapeError(`${what}: LayerNorm gamma is ${norm.gamma.dtype} but beta is ${norm.beta.dtype}`);
  expectShape(norm.gamma, [width], what);
  expectShape(norm.beta, [width], what);
  if (lnAfter) {
    const { out } = lnAfter;
    expectDtype(out, ['f32'], what);
    const dense = g.yOffset === 0 && g.yRowStride === g.N && g.yBatchStride === g.M * g.N;
    if (!dense) throw new ShapeError(`${what}: lnAfter needs a dense y (no offset, row stride N, batch stride M·N)`);
    if (numel(out.shape) < g.batch * g.M * g.N) throw new ShapeError(`${what}: lnAfter out ${out.label} [${out.shape}] holds fewer than ${g.batch}·${g.M}·${g.N} values`);
    if (out.buffer === args.y.buffer || out.buffer === args.x.buffer) throw new ShapeError(`${what}: lnAfter out must not share a buffer with x or y`);
  }
}
