// Rows scaled to unit Euclidean length, as torch.nn.functional.normalize (norm clamped at 1e-12):
// the image and text embeddings before cosine similarity. `x` may be `y` (in place).
import { ShapeError } from '../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, sameRange, type KernelContext } from './common';

const Params = defineUniforms({ rows: 'u32', D: 'u32' });

export const l2NormalizeSpec = cachedSpecs(function l2NormalizeSpec(inPlace: boolean): PipelineSpec {
  return {
    shader: 'l2norm',
    defines: { IN_PLACE: inPlace },
    uniforms: Params,
    bindings: inPlace ? [write('y')] : [read('x'), write('y')],
  };
});

export interface L2NormalizeArgs {
  /** [..., D] f32: every row of width D. */
  x: Tensor;
  /** Same element count as x; may be x. */
  y: Tensor;
  label: string;
}

export function l2Normalize({ gpu, rec }: KernelContext, { x, y, label }: L2NormalizeArgs): void {
  const what = `l2Normalize ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(y, ['f32'], what);
  const D = x.shape[x.shape.length - 1];
  if (D === undefined || D < 1) throw new ShapeError(`${what}: x [${x.shape}] has no rows to normalize`);
  if (numel(y.shape) !== numel(x.shape)) throw new ShapeError(`${what}: y [${y.shape}] differs from x [${x.shape}]`);
  const rows = numel(x.shape) / D;
  if (rows === 0) return;
  const inPlace = sameRange(x, y);
  const pipeline = l2NormalizeSpec(inPlace);
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { rows, D } },
    bindings: bindingsFor(pipeline, { x: inPlace ? undefined : x, y }),
    workgroups: grid1d(rows, gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
