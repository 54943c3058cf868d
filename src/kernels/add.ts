// out = a + b, b broadcast over a's leading dimensions (b's length must divide a's). `a` may be `out`.
import { ShapeError } from '../errors';
import { defineUniforms } from '../gpu/uniforms';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { grid1d, sameRange, type KernelContext } from './common';

const Params = defineUniforms({ length: 'u32', bLength: 'u32' });

export const addSpec = cachedSpecs(function addSpec(inPlace: boolean): PipelineSpec {
  return {
    shader: 'add',
    defines: { IN_PLACE: inPlace },
    uniforms: Params,
    bindings: inPlace ? [read('b'), write('out')] : [read('a'), read('b'), write('out')],
  };
});

export interface AddArgs {
  a: Tensor;
  b: Tensor;
  out: Tensor;
  label: string;
}

export function add({ gpu, rec }: KernelContext, { a, b, out, label }: AddArgs): void {
  for (const t of [a, b, out]) expectDtype(t, ['f32'], `add ${label}`);
  const length = numel(a.shape);
  const bLength = numel(b.shape);
  if (numel(out.shape) !== length) throw new ShapeError(`add ${label}: out [${out.shape}] differs from a [${a.shape}]`);
  if (bLength === 0 || length % bLength !== 0) throw new ShapeError(`add ${label}: b [${b.shape}] does not broadcast over a [${a.shape}]`);
  const inPlace = sameRange(a, out);
  const pipeline = addSpec(inPlace);
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { length, bLength } },
    bindings: bindingsFor(pipeline, { a: inPlace ? undefined : a, b, out }),
    workgroups: grid1d(Math.ceil(length / 256), gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: out,
  });
}
