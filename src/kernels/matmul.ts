// y = x·Wᵀ + b (W stored [N, K], PyTorch Linear layout), with optional exact-GELU and residual-add epilogues.
// M ≤ GEMV_MAX_ROWS goes to the matrix-vector kernel, which reads each weight once for all rows.
import { ShapeError } from '../errors';
import type { PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import type { KernelContext } from './common';
import { GELU_WGSL } from './gelu-wgsl';
import { gemv, GEMV_MAX_ROWS } from './gemv';

const Params = defineUniforms({
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
});

const TILE_M = 64;
const TILE_N = 64;

export interface MatmulEpilogue {
  /** Exact GELU applied to x·Wᵀ + b. */
  gelu?: boolean;
  /** y += result instead of y = result: the residual add of a pre-norm block, in place. */
  accumulate?: boolean;
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
}

export function matmulSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue): PipelineSpec {
  return {
    shader: 'matmul',
    defines: {
      PARAMS: Params.wgsl('Params'),
      F16_WEIGHTS: f16Weights,
      BIAS: bias,
      GELU: Boolean(epilogue.gelu),
      ACCUMULATE: Boolean(epilogue.accumulate),
      GELU_FNS: epilogue.gelu ? GELU_WGSL : '',
    },
    bindings: bias ? ['uniform', 'read', 'read', 'read', 'write'] : ['uniform', 'read', 'read', 'write'],
  };
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

export function matmul(ctx: KernelContext, args: MatmulArgs): void {
  const g = matmulGeometry(args);
  const foldable = g.batch === 1 || (g.xBatchStride === g.M * g.xRowStride && g.yBatchStride === g.M * g.yRowStride);
  if (g.M * g.batch <= GEMV_MAX_ROWS && foldable) {
    gemv(ctx, args, g);
    return;
  }
  const { x, w, bias, y, label } = args;
  const spec = matmulSpec(w.dtype === 'f16x2', bias !== undefined, args);
  ctx.rec.dispatch({
    label,
    pipeline: spec,
    uniforms: { layout: Params, values: g },
    bindings: bias ? [x, w, bias, y] : [x, w, y],
    workgroups: [Math.ceil(g.N / TILE_N), Math.ceil(g.M / TILE_M), g.batch],
    output: y,
  });
}
