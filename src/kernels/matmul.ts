// y = x·Wᵀ + b (W stored [N, K], PyTorch Linear layout), with optional exact-GELU and residual-add epilogues.
// Two kernel families, chosen by the adapter (or forced with `kernel`):
// - 'gpu': the workgroup-memory tiled kernel, and for M ≤ GEMV_MAX_ROWS the matrix-vector kernel, which
//   reads each weight once for all rows. They take any shape.
// - 'cpu' / 'cpu-subgroups': matmul_cpu.wgsl, register-blocked with no workgroup memory, for adapters
//   that run shaders on the CPU (llvmpipe, SwiftShader), where it is 5–15× faster. It needs vec4-aligned
//   shapes (K, offsets and strides multiples of 4); other shapes fall back to the 'gpu' kernels.
import { CocaError, ShapeError } from '../errors';
import type { Gpu } from '../gpu/gpu';
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import type { KernelContext } from './common';
import { GELU_WGSL } from './gelu-wgsl';
import { gemv, GEMV_MAX_ROWS } from './gemv';
import { cpuKernelFits, hasEightLaneSubgroups, isCpuAdapter, matmulCpu } from './matmul-cpu';
import { epilogueOf, MatmulParams } from './matmul-common';

const Params = MatmulParams;

/** The tiled kernel's block of y: 64×64, or 32×32 (SMALL_TILES) when 64×64 blocks would be too few. */
const TILE = 64;
const SMALL_TILE = 32;
/**
 * Fewer 64×64 blocks than this leave a big GPU (132 SMs on an H100/H200) mostly idle, so such products
 * take 32×32 blocks: ViT-B/32's M=50 layers ran up to 2× faster on an H200 that way. Batched images
 * (M=400) keep 64×64 blocks, which reuse each loaded element twice as often.
 */
const MIN_LARGE_TILE_BLOCKS = 128;

export interface MatmulEpilogue {
  /** Products in f16, sums in f32 (shader-f16): the tiled and matrix-vector kernels only. */
  f16Math?: boolean;
  /** Exact GELU applied to x·Wᵀ + b. */
  gelu?: boolean;
  /** y += result instead of y = result: the residual add of a pre-norm block, in place. */
  accumulate?: boolean;
}

/**
 * 'gpu': tiled + matrix-vector kernels; 'cpu': matmul_cpu.wgsl; 'cpu-subgroups': the same with rows of x
 * shared by subgroup broadcasts (needs the 'subgroups' feature with 8-lane subgroups).
 */
export type MatmulKernel = 'gpu' | 'cpu' | 'cpu-subgroups';

/** The family matmul() uses on this device when not told: CPU adapters get matmul_cpu.wgsl. */
export function defaultMatmulKernel(gpu: Gpu): MatmulKernel {
  if (!isCpuAdapter(gpu.info)) return 'gpu';
  return hasEightLaneSubgroups(gpu) ? 'cpu-subgroups' : 'cpu';
}

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
  N?: number;
  batch?: number;
  /** Element offsets and strides (defaults: dense). */
  xOffset?: number;
  xRowStride?: number;
  xBatchStride?: number;
  yOffset?: number;
  yRowStride?: number;
  yBatchStride?: number;
  /** Forces a kernel family (tests, benchmarks); by default defaultMatmulKernel(). */
  kernel?: MatmulKernel;
}

export const matmulSpec = cachedSpecs(function matmulSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue, smallTiles: boolean = false): PipelineSpec {
  return {
    shader: 'matmul',
    defines: {
      PARAMS: Params.wgsl('Params'),
      SMALL_TILES: smallTiles,
      F16_WEIGHTS: f16Weights,
      BIAS: bias,
      GELU: Boolean(epilogue.gelu),
      ACCUMULATE: Boolean(epilogue.accumulate),
      GELU_FNS: epilogue.gelu ? GELU_WGSL : '',
      F16_MATH: Boolean(epilogue.f16Math),
    },
    bindings: bias ? ['uniform', 'read', 'read', 'read', 'write'] : ['uniform', 'read', 'read', 'write'],
  };
});

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
  if (bias && numel(bias.shape) !== nTotal) throw new ShapeError(`${what}: bias ${bias.label} [${bias.shape}] does not match ${nTotal} rows of W`);
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
    biasOffset: wRowStart,
    yOffset: args.yOffset ?? 0,
    yRowStride: args.yRowStride ?? N,
    yBatchStride: args.yBatchStride ?? M * (args.yRowStride ?? N),
  };
  const lastX = g.xOffset + (batch - 1) * g.xBatchStride + (M - 1) * g.xRowStride + K;
  const lastY = g.yOffset + (batch - 1) * g.yBatchStride + (M - 1) * g.yRowStride + N;
  if (lastX > numel(x.shape)) throw new ShapeError(`${what}: reads past the end of x ${x.label} [${x.shape}]`);
  if (lastY > numel(y.shape)) throw new ShapeError(`${what}: writes past the end of y ${y.label} [${y.shape}]`);
  if (x.buffer === y.buffer) throw new ShapeError(`${what}: x and y must not share a buffer`);
  return g;
}

export function matmul(ctx: KernelContext, callArgs: MatmulArgs): void {
  const f16Math = callArgs.f16Math ?? ctx.f16Math ?? false;
  if (f16Math && !ctx.gpu.device.features.has('shader-f16')) {
    throw new CocaError(`matmul ${callArgs.label}: f16 arithmetic needs a GPU with shader-f16; load the model with f32 arithmetic`);
  }
  const args = { ...callArgs, f16Math };
  const g = matmulGeometry(args);
  // f16 arithmetic lives in the tiled and matrix-vector kernels.
  const kernel = f16Math ? 'gpu' : args.kernel ?? defaultMatmulKernel(ctx.gpu);
  if (kernel === 'cpu-subgroups' && !hasEightLaneSubgroups(ctx.gpu)) {
    throw new ShapeError(`matmul ${args.label}: the 'cpu-subgroups' kernel needs the 'subgroups' feature with 8-lane subgroups`);
  }
  if (kernel !== 'gpu' && cpuKernelFits(args, g)) {
    matmulCpu(ctx, args, g, kernel === 'cpu-subgroups');
    return;
  }
  const foldable = g.batch === 1 || (g.xBatchStride === g.M * g.xRowStride && g.yBatchStride === g.M * g.yRowStride);
  if (g.M * g.batch <= GEMV_MAX_ROWS && foldable) {
    gemv(ctx, args, g);
    return;
  }
  const { x, w, bias, y, label } = args;
  // Small tiles only help a GPU with many cores; a CPU adapter here (a shape matmul_cpu.wgsl cannot
  // take) keeps the large ones, which were 2× faster on llvmpipe.
  const smallTiles = kernel === 'gpu' && Math.ceil(g.M / TILE) * Math.ceil(g.N / TILE) * g.batch < MIN_LARGE_TILE_BLOCKS;
  const tile = smallTiles ? SMALL_TILE : TILE;
  ctx.rec.dispatch({
    label,
    pipeline: matmulSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args), smallTiles),
    uniforms: { layout: Params, values: g },
    bindings: bias ? [x, w, bias, y] : [x, w, y],
    workgroups: [Math.ceil(g.N / tile), Math.ceil(g.M / tile), g.batch],
    output: y,
  });
}
