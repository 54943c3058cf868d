// Beam search's cache reorder: each beam's rows gathered from the beam it continues.
import { ShapeError } from '../../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import { grid1d, type KernelContext } from '../common';

const GatherParams = defineUniforms({ count: 'u32', stride: 'u32' });
export const gatherRowsSpec: PipelineSpec = {
  shader: 'decode/gather_rows',
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
