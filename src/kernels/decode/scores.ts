// Kernels on a decoding step's logit rows: the log-sum-exp normaliser and the repetition penalty.
import { ShapeError } from '../../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import type { KernelContext } from '../common';

const LseParams = defineUniforms({ N: 'u32', scale: 'f32', blockId: 'u32' });
const NO_BLOCK = 0xffffffff;
export const logSumExpSpec: PipelineSpec = {
  shader: 'decode/logsumexp',
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

const PenaltyParams = defineUniforms({ count: 'u32', idsStride: 'u32', idsOffset: 'u32', vocab: 'u32', penalty: 'f32' });
export const repetitionPenaltySpec: PipelineSpec = {
  shader: 'decode/repetition_penalty',
  uniforms: PenaltyParams,
  bindings: [read('ids', 'u32'), write('logits')],
};

export interface RepetitionPenaltyArgs {
  /** [R, V] f32, penalised in place. */
  logits: Tensor;
  /** u32: row r's ids at idsOffset + r·idsStride, `count` of them; duplicates are penalised once, ids ≥ V skipped. */
  ids: Tensor;
  rows: number;
  count: number;
  idsStride: number;
  idsOffset?: number;
  penalty: number;
  label: string;
}

/** Hugging Face's repetition penalty on each row's distinct ids: logit / penalty if positive, × penalty if not. */
export function repetitionPenalty(ctx: KernelContext, args: RepetitionPenaltyArgs): void {
  const { logits, ids, rows, count, idsStride, penalty, label } = args;
  const idsOffset = args.idsOffset ?? 0;
  const what = `repetitionPenalty ${label}`;
  expectDtype(logits, ['f32'], what);
  expectDtype(ids, ['u32'], what);
  const vocab = logits.shape[logits.shape.length - 1]!;
  if (!(penalty > 0)) throw new ShapeError(`${what}: penalty must be > 0, got ${penalty}`);
  if (count > idsStride) throw new ShapeError(`${what}: ${count} ids do not fit rows of ${idsStride}`);
  if (rows * vocab > numel(logits.shape)) throw new ShapeError(`${what}: logits [${logits.shape}] have fewer than ${rows} rows`);
  if (rows > 0 && idsOffset + (rows - 1) * idsStride + count > numel(ids.shape)) throw new ShapeError(`${what}: ${rows} rows of ${count} ids at ${idsOffset} overrun ids [${ids.shape}]`);
  ctx.rec.dispatch({
    label,
    pipeline: repetitionPenaltySpec,
    uniforms: { layout: PenaltyParams, values: { count, idsStride, idsOffset, vocab, penalty } },
    bindings: bindingsFor(repetitionPenaltySpec, { ids, logits }),
    workgroups: [Math.max(1, Math.ceil(count / 64)), rows],
    output: logits,
  });
}
