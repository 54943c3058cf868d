// y = GELU(x), exact (erf) form, elementwise. `x` may be `y` (in place).
import { ShapeError } from '../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, sameRange, type KernelContext } from './common';

const WORKGROUP_SIZE = 256; // shaders/gelu.wgsl @workgroup_size

const Params = defineUniforms({ length: 'u32' });

export const geluSpec = cachedSpecs(function geluSpec(inPlace: boolean): PipelineSpec {
  return {
    shader: 'gelu',
    defines: { IN_PLACE: inPlace },
    uniforms: Params,
    bindings: inPlace ? [write('y')] : [read('x'), write('y')],
  };
});

export interface GeluArgs {
  x: Tensor;
  y: Tensor;
  label: string;
}

export function gelu({ gpu, rec }: KernelContext, { x, y, label }: GeluArgs): void {
  expectDtype(x, ['f32'], `gelu ${label}`);
  expectDtype(y, ['f32'], `gelu ${label}`);
  const length = numel(x.shape);
  if (numel(y.shape) !== length) throw new ShapeError(`gelu ${label}: y [${y.shape}] differs from x [${x.shape}]`);
  const inPlace = sameRange(x, y);
  if (length === 0) return;
  const pipeline = geluSpec(inPlace);
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { length } },
    bindings: bindingsFor(pipeline, { x: inPlace ? undefined : x, y }),
    workgroups: grid1d(Math.ceil(length / WORKGROUP_SIZE), gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
