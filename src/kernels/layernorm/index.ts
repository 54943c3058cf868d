// LayerNorm over the last dimension, optionally fused with the residual add before it
// (x ← x + r; y = LN(x)) or, in place, with a positional table and a class row (the vision tower's ln_pre
// input), and optionally on a subset of rows (e.g. the text tower's class-token row).
// Two kernels, chosen by the adapter (or forced with `kernel`): 'gpu' (layernorm/gpu.wgsl, one workgroup per
// row with tree reductions) and 'cpu' (layernorm/cpu.wgsl, one invocation per row with no barriers), for
// adapters that run shaders on the CPU, where barriers and workgroup memory are emulated and costly.
import { ShapeError } from '../../errors';
import type { Gpu } from '../../gpu/gpu';
import { bindingsFor } from '../../gpu/pipelines';
import { expectDtype, expectShape, numel, type Tensor } from '../../gpu/tensor';
import { grid1d, LAYER_NORM_EPS, sameRange, type KernelContext } from '../common';
import { CPU_ROWS_PER_GROUP, layerNormCpuSpec } from './cpu';
import { layerNormGpuSpec } from './gpu';
import { LayerNormParams } from './params';

export { LAYER_NORM_EPS } from '../common';

/** 'gpu': layernorm/gpu.wgsl; 'cpu': layernorm/cpu.wgsl (no workgroup memory, no barriers). */
export type LayerNormKernel = 'gpu' | 'cpu';

/** The kernel layerNorm() uses on this device when not told: CPU adapters get layernorm/cpu.wgsl. */
export function defaultLayerNormKernel(gpu: Gpu): LayerNormKernel {
  return gpu.facts.cpu ? 'cpu' : 'gpu';
}

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
  /**
   * In place only: [P, D] (f32 or f16x2) positional rows added first, row j of each item getting row j of
   * the table (the vision tower's positional embedding); written back with the normalized rows.
   */
  positions?: Tensor;
  /** With positions: [D] (f32 or f16x2) replacing row 0 of each item first (the class embedding). */
  classRow?: Tensor;
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
  const { positions, classRow } = args;
  if (positions) {
    expectDtype(positions, ['f32', 'f16x2'], what);
    if (!inPlace) throw new ShapeError(`${what}: positions are added in place (give y = x)`);
    if (positions.shape.length !== 2 || positions.shape[1] !== D || positions.shape[0]! < offset + count) {
      throw new ShapeError(`${what}: positions ${positions.label} [${positions.shape}] do not cover rows ${offset}…${offset + count - 1} of width ${D}`);
    }
  }
  if (classRow) {
    expectDtype(classRow, ['f32', 'f16x2'], what);
    if (!positions) throw new ShapeError(`${what}: a class row comes with positions`);
    expectShape(classRow, [D], what);
  }
  const totalRows = batch * count;
  if (totalRows === 0) return;
  const kernel = args.kernel ?? defaultLayerNormKernel(gpu);
  const groups = kernel === 'cpu' ? Math.ceil(totalRows / CPU_ROWS_PER_GROUP) : totalRows;
  const mode = { residual: residual !== undefined, inPlace, positions: positions?.dtype ?? null, classRow: classRow?.dtype ?? null };
  const pipeline = (kernel === 'cpu' ? layerNormCpuSpec : layerNormGpuSpec)(mode, gamma.dtype === 'f16x2', D);
  rec.dispatch({
    label,
    pipeline,
    uniforms: {
      layout: LayerNormParams,
      values: { totalRows, rows: count, D, eps: args.eps ?? LAYER_NORM_EPS, xRows: L, xRowOffset: offset, yRows, yRowOffset },
    },
    bindings: bindingsFor(pipeline, { x, r: residual, gamma, beta, y: inPlace ? undefined : y, pos: positions, cls: classRow }),
    workgroups: grid1d(groups, gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
