// Small kernels for caption search: the log-sum-exp of logit rows, cache reordering for beams, and
// the repetition penalty. Each is one dispatch recorded into the decoding step's submit.
import { ShapeError } from '../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, type KernelContext } from './common';

const LseParams = defineUniforms({ N: 'u32', scale: 'f32', blockId: 'u32' });
const NO_BLOCK = 0xffffffff;
export const logSumExpSpec: PipelineSpec = {
  shader: 'logsumexp',
  uniforms: LseParams,
  bindings: [read('x'), write('lse')],
};

/** lse [R] = log Σ_{j ≠ blockId} exp(scale · x[r, j]) for x [R, N]. */
export function logSumExp(ctx: KernelContext, args: { x: Tensor; lse: Tensor; scale?: number; blockId?: number; label: string }): void {
  const { x, lse, label } = args;
  expectDtype(x, ['f32'], `logSumExp ${label}`);
  const N = x.shape[x.shape.length - 1]!;
  const rows = numel(x.shape) / N;
  if (numel(lse.shape) < rows) throw new ShapeError(`logSumExp ${label}: lse [${lse.shape}] has fewer than ${rows} rows`);
  ctx.rec.dispatch({ label, pipeline: logSumExpSpec, uniforms: { layout: LseParams, values: { N, scale: args.scale ?? 1, blockId: args.blockId ?? NO_BLOCK } }, bindings: bindingsFor(logSumExpSpec, { x, lse }), workgroups: [rows], output: lse });
}

const GatherParams = defineUniforms({ count: 'u32', stride: 'u32' });
export const gatherRowsSpec: PipelineSpec = {
  shader: 'gather_rows',
  uniforms: GatherParams,
  bindings: [read('src'), read('index', 'u32'), write('dst')],
};

/** dst[b, :count] = src[index[b], :count] for b < rows, where a "row" is `stride` elements (a beam's cache). */
export function gatherRows(ctx: KernelContext, args: { src: Tensor; dst: Tensor; index: Tensor; rows: number; stride: number; count: number; label: string }): void {
  const { src, dst, index, rows, stride, count, label } = args;
  if (src.buffer === dst.buffer) throw new ShapeError(`gatherRows ${label}: src and dst must be different buffers`);
  if (count > stride || rows * stride > numel(dst.shape) || rows * stride > numel(src.shape)) {
    throw new ShapeError(`gatherRows ${label}: ${rows} rows of ${count}/${stride} do not fit [${src.shape}] → [${dst.shape}]`);
  }
  const [x, y] = grid1d(Math.ceil(count / 256), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension);
  ctx.rec.dispatch({ label, pipeline: gatherRowsSpec, uniforms: { layout: GatherParams, values: { count, stride } }, bindings: bindingsFor(gatherRowsSpec, { src, index, dst }), workgroups: [x, y, rows], output: dst });
}

const PenaltyParams = defineUniforms({ count: 'u32', idsStride: 'u32', vocab: 'u32', penalty: 'f32' });
export const repetitionPenaltySpec: PipelineSpec = {
  shader: 'repetition_penalty',
  uniforms: PenaltyParams,
  bindings: [read('ids', 'u32'), write('logits')],
};

/** In place on logits [R, V]: row r's first `count` ids in ids[r·idsStride …] are penalised once each. */
export function repetitionPenalty(ctx: KernelContext, args: { logits: Tensor; ids: Tensor; rows: number; count: number; idsStride: number; penalty: number; label: string }): void {
  const { logits, ids, rows, count, idsStride, penalty, label } = args;
  const vocab = logits.shape[logits.shape.length - 1]!;
  if (!(penalty > 0)) throw new ShapeError(`repetitionPenalty ${label}: penalty must be > 0, got ${penalty}`);
  ctx.rec.dispatch({
    label,
    pipeline: repetitionPenaltySpec,
    uniforms: { layout: PenaltyParams, values: { count, idsStride, vocab, penalty } },
    bindings: bindingsFor(repetitionPenaltySpec, { ids, logits }),
    workgroups: [Math.max(1, Math.ceil(count / 64)), rows],
    output: logits,
  });
}
