// LayerNorm over the last dimension, optionally fused with the residual add before it
// (x ← x + r; y = LN(x)), and optionally on a subset of rows (e.g. the text tower's class-token row).
// Two kernels, chosen by the adapter (or forced with `kernel`): 'gpu' (layernorm.wgsl, one workgroup per
// row with tree reductions) and 'cpu' (layernorm_cpu.wgsl, one invocation per row with no barriers), for
// adapters that run shaders on the CPU, where barriers and workgroup memory are emulated and costly.
import { ShapeError } from '../errors';
import type { Gpu } from '../gpu/gpu';
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, expectShape, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, sameRange, type KernelContext } from './common';
import { isCpuAdapter } from './matmul-cpu';

/** PyTorch's nn.LayerNorm default, and CoCa's. */
export const LAYER_NORM_EPS = 1e-5;

const Params = defineUniforms({
  totalRows: 'u32',
  rows: 'u32',
  D: 'u32',
  eps: 'f32',
  xRows: 'u32',
  xRowOffset: 'u32',
  yRows: 'u32',
  yRowOffset: 'u32',
});

/** Narrow rows (CoCa-tiny's 48–64) waste most of a 256-thread workgroup; wide rows want all of it. */
function workgroupSizeFor(D: number): number {
  return D <= 128 ? 64 : 256;
}

/**
 * Rows per workgroup of the CPU kernel: one SIMD batch of lanes (8 f32 on AVX2), so a few dozen rows
 * still make several workgroups to spread over the cores (16 and 64 measured no faster on llvmpipe).
 */
const CPU_ROWS_PER_GROUP = 8;

/** 'gpu': layernorm.wgsl; 'cpu': layernorm_cpu.wgsl (no workgroup memory, no barriers). */
export type LayerNormKernel = 'gpu' | 'cpu';

/** The kernel layerNorm() uses on this device when not told: CPU adapters get layernorm_cpu.wgsl. */
export function defaultLayerNormKernel(gpu: Gpu): LayerNormKernel {
  return isCpuAdapter(gpu.info) ? 'cpu' : 'gpu';
}

export interface LayerNormVariant {
  residual: boolean;
  inPlace: boolean;
  f16Params: boolean;
  /** Row width: picks the GPU kernel's workgroup size and whether the CPU kernel loads vec4s. */
  D: number;
  /** Default 'gpu'. */
  kernel?: LayerNormKernel;
}

export const layerNormSpec = cachedSpecs(function layerNormSpec({ residual, inPlace, f16Params, D, kernel = 'gpu' }: LayerNormVariant): PipelineSpec {
  const bindings: PipelineSpec['bindings'] = residual
    ? ['uniform', 'write', 'read', 'read', 'read', 'write']
    : inPlace
      ? ['uniform', 'write', 'read', 'read']
      : ['uniform', 'read', 'read', 'read', 'write'];
  if (kernel === 'cpu') {
    const vec4 = D % 4 === 0;
    // vec4: γ/β as vec4s, or 4 fp16 values in a vec2<u32>; scalar: f32, or fp16 pairs in a u32.
    const params = vec4 ? (f16Params ? 'vec2<u32>' : 'vec4<f32>') : f16Params ? 'u32' : 'f32';
    return {
      shader: 'layernorm_cpu',
      defines: { PARAMS: Params.wgsl('Params'), VEC4: vec4, RESIDUAL: residual, IN_PLACE: inPlace, F16_PARAMS: f16Params, PARAM_TYPE: params },
      constants: { WG: CPU_ROWS_PER_GROUP },
      bindings,
    };
  }
  const params = f16Params ? 'u32' : 'f32';
  return {
    shader: 'layernorm',
    defines: { PARAMS: Params.wgsl('Params'), RESIDUAL: residual, IN_PLACE: inPlace, F16_PARAMS: f16Params, PARAM_TYPE: params },
    constants: { WG: workgroupSizeFor(D) },
    bindings,
  };
});

export interface LayerNormArgs {
  /** [..., L, D] f32: the leading dimensions are batch items of L rows each (a 2-D [M, D] is one item). */
  x: Tensor;
  /** [D], f32 or f16x2 (both the same). */
  gamma: Tensor;
  beta: Tensor;
  /** [..., Ly, D] f32 with the same batch items as x (any shape with B·Ly·D elements); may be x itself. */
  y: Tensor;
  /** Same shape as x: x ← x + residual before normalizing (the sum is the new residual stream). */
  residual?: Tensor;
  eps?: number;
  /** Normalize only rows offset … offset + count − 1 of each item (default: all L). */
  rows?: { offset: number; count: number };
  /** They land at rows yRowOffset … of each item of y (default 0; in place: where they are). */
  yRowOffset?: number;
  label: string;
  /** Forces a kernel (tests, benchmarks); by default defaultLayerNormKernel(). */
  kernel?: LayerNormKernel;
}

export function layerNorm({ gpu, rec }: KernelContext, args: LayerNormArgs): void {
  const { x, gamma, beta, y, residual, label } = args;
  const what = `layerNorm ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(y, ['f32'], what);
  expectDtype(gamma, ['f32', 'f16x2'], what);
  if (beta.dtype !== gamma.dtype) throw new ShapeError(`${what}: gamma is ${gamma.dtype} but beta is ${beta.dtype}`);
  if (x.shape.length < 2) throw new ShapeError(`${what}: x [${x.shape}] needs at least 2 dimensions`);
  const D = x.shape[x.shape.length - 1]!;
  const L = x.shape[x.shape.length - 2]!;
  const batch = numel(x.shape.slice(0, -2));
  expectShape(gamma, [D], what);
  expectShape(beta, [D], what);
  if (y.shape[y.shape.length - 1] !== D || numel(y.shape) % (batch * D) !== 0) {
    throw new ShapeError(`${what}: y [${y.shape}] is not ${batch} item(s) of rows of width ${D} (x is [${x.shape}])`);
  }
  const yRows = numel(y.shape) / (batch * D);
  const { offset, count } = args.rows ?? { offset: 0, count: L };
  if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count > L) {
    throw new ShapeError(`${what}: rows ${offset}…${offset + count - 1} are outside the ${L} rows of x`);
  }
  const inPlace = sameRange(x, y);
  const yRowOffset = args.yRowOffset ?? (inPlace ? offset : 0);
  if (yRowOffset + count > yRows) throw new ShapeError(`${what}: rows ${yRowOffset}…${yRowOffset + count - 1} are outside the ${yRows} rows of y`);
  if (inPlace && (yRows !== L || yRowOffset !== offset)) throw new ShapeError(`${what}: in place, each row must stay where it is`);
  if (residual) {
    expectDtype(residual, ['f32'], what);
    expectShape(residual, x.shape, what);
    if (inPlace) throw new ShapeError(`${what}: with a residual, y must differ from x (x receives x + residual)`);
    if (sameRange(residual, x) || sameRange(residual, y)) throw new ShapeError(`${what}: residual must be its own tensor`);
  }
  const totalRows = batch * count;
  if (totalRows === 0) return;
  const kernel = args.kernel ?? defaultLayerNormKernel(gpu);
  const groups = kernel === 'cpu' ? Math.ceil(totalRows / CPU_ROWS_PER_GROUP) : totalRows;
  rec.dispatch({
    label,
    pipeline: layerNormSpec({ residual: residual !== undefined, inPlace, f16Params: gamma.dtype === 'f16x2', D, kernel }),
    uniforms: {
      layout: Params,
      values: { totalRows, rows: count, D, eps: args.eps ?? LAYER_NORM_EPS, xRows: L, xRowOffset: offset, yRows, yRowOffset },
    },
    bindings: residual ? [x, residual, gamma, beta, y] : inPlace ? [x, gamma, beta] : [x, gamma, beta, y],
    workgroups: grid1d(groups, gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
