// Top-k over the last dimension (greedy decoding's argmax is k = 1, top-k sampling k ≤ 32), with an
// optional blocked token id (the end token before the minimum caption length).
import { ShapeError } from '../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, type KernelContext } from './common';

/** Candidates each thread keeps in private memory: shaders/topk.wgsl MAX_K. */
export const TOPK_MAX_K = 32;
/** blockId meaning "block nothing". */
const NO_BLOCK = 0xffffffff;

const Params = defineUniforms({ rows: 'u32', N: 'u32', rowStride: 'u32', rowOffset: 'u32', k: 'u32', blockId: 'u32' });

export const topKSpec: PipelineSpec = {
  shader: 'topk',
  uniforms: Params,
  bindings: [read('x'), write('indices', 'u32'), write('values')],
};

export interface TopKArgs {
  /** [B, N] f32, or [B, L, N] of which row `position` of each item is used (default: the last, L − 1). */
  x: Tensor;
  k: number;
  /** [B, k] u32 (or i32): column indices, best first. */
  indices: Tensor;
  /** [B, k] f32: their values. */
  values: Tensor;
  position?: number;
  /** This column is never picked, as if it were −inf (e.g. the end token before min_seq_len). */
  blockId?: number;
  label: string;
}

export function topK({ gpu, rec }: KernelContext, args: TopKArgs): void {
  const { x, k, indices, values, label } = args;
  const what = `topK ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(indices, ['u32', 'i32'], what);
  expectDtype(values, ['f32'], what);
  if (x.shape.length !== 2 && x.shape.length !== 3) throw new ShapeError(`${what}: x [${x.shape}] is not [B, N] or [B, L, N]`);
  const B = x.shape[0]!;
  const N = x.shape[x.shape.length - 1]!;
  const L = x.shape.length === 3 ? x.shape[1]! : 1;
  const position = args.position ?? L - 1;
  if (!Number.isInteger(position) || position < 0 || position >= L) throw new ShapeError(`${what}: position ${position} is outside the ${L} rows of each item`);
  const blocked = args.blockId !== undefined && args.blockId >= 0 && args.blockId < N;
  if (args.blockId !== undefined && (!Number.isInteger(args.blockId) || args.blockId < 0)) throw new ShapeError(`${what}: blockId ${args.blockId} is not a column index`);
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) throw new ShapeError(`${what}: k = ${k} is outside 1…${TOPK_MAX_K}`);
  if (k > N - (blocked ? 1 : 0)) throw new ShapeError(`${what}: k = ${k} exceeds the ${N - (blocked ? 1 : 0)} pickable columns`);
  if (numel(indices.shape) !== B * k || numel(values.shape) !== B * k) {
    throw new ShapeError(`${what}: indices [${indices.shape}] and values [${values.shape}] must both be [${B}, ${k}]`);
  }
  if (B === 0) return;
  rec.dispatch({
    label,
    pipeline: topKSpec,
    uniforms: {
      layout: Params,
      values: { rows: B, N, rowStride: L * N, rowOffset: position * N, k, blockId: blocked ? args.blockId! : NO_BLOCK },
    },
    bindings: bindingsFor(topKSpec, { x, indices, values }),
    workgroups: grid1d(B, gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: indices,
  });
}

export type ArgmaxArgs = Omit<TopKArgs, 'k'>;

/** The first index of each row's maximum (k = 1): greedy decoding's next token. */
export function argmax(ctx: KernelContext, args: ArgmaxArgs): void {
  topK(ctx, { ...args, k: 1 });
}
