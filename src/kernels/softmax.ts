// Softmax over the last dimension (rows of any width: zero-shot probabilities, the vocabulary).
// `x` may be `y` (in place).
import { ShapeError } from '../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, sameRange, type KernelContext } from './common';

const Params = defineUniforms({ rows: 'u32', N: 'u32' });

export const softmaxSpec = cachedSpecs(function softmaxSpec(inPlace: boolean): PipelineSpec {
  return {
    shader: 'softmax',
    defines: { IN_PLACE: inPlace },
    uniforms: Params,
    bindings: inPlace ? [write('y')] : [read('x'), write('y')],
  };
});

export interface SoftmaxArgs {
  /** [..., N] f32: every row of width N. */
  x: Tensor;
  /** Same element count as x; may be x. */
  y: Tensor;
  label: string;
}

export function softmax({ gpu, rec }: KernelContext, { x, y, label }: SoftmaxArgs): void {
  const what = `softmax ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(y, ['f32'], what);
  const N = x.shape[x.shape.length - 1];
  if (N === undefined || N < 1) throw new ShapeError(`${what}: x [${x.shape}] has no rows to normalize`);
  if (numel(y.shape) !== numel(x.shape)) throw new ShapeError(`${what}: y [${y.shape}] differs from x [${x.shape}]`);
  const rows = numel(x.shape) / N;
  if (rows === 0) return;
  const inPlace = sameRange(x, y);
  const pipeline = softmaxSpec(inPlace);
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { rows, N } },
    bindings: bindingsFor(pipeline, { x: inPlace ? undefined : x, y }),
    workgroups: grid1d(rows, gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
