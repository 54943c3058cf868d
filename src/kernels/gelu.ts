// y = GELU(x), exact (erf) form, elementwise. `x` may be `y` (in place).
import { ShapeError } from '../errors';
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, sameRange, type KernelContext } from './common';
import { GELU_WGSL } from './gelu-wgsl';

const WORKGROUP_SIZE = 256; // shaders/gelu.wgsl @workgroup_size

const Params = defineUniforms({ length: 'u32' });

export const geluSpec = cachedSpecs(function geluSpec(inPlace: boolean): PipelineSpec {
  return {
    shader: 'gelu',
    defines: { PARAMS: Params.wgsl('Params'), IN_PLACE: inPlace, GELU_FNS: GELU_WGSL },
    bindings: inPlace ? ['uniform', 'write'] : ['uniform', 'read', 'write'],
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
  rec.dispatch({
    label,
    pipeline: geluSpec(inPlace),
    uniforms: { layout: Params, values: { length } },
    bindings: inPlace ? [y] : [x, y],
    workgroups: grid1d(Math.ceil(length / WORKGROUP_SIZE), gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
