// Image patches as matrix rows [B, G·G, C·P·P], so a patch embedding (conv, stride = kernel) is a matmul.
import { ShapeError } from '../errors';
import type { PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, type KernelContext } from './common';

const Params = defineUniforms({ batch: 'u32', channels: 'u32', size: 'u32', patchSize: 'u32', grid: 'u32' });

export const im2colSpec: PipelineSpec = {
  shader: 'im2col',
  defines: { PARAMS: Params.wgsl('Params') },
  bindings: ['uniform', 'read', 'write'],
};

/** pixels [B, C, S, S] → out [B, (S/P)², C·P·P]. */
export function im2col(ctx: KernelContext, args: { pixels: Tensor; out: Tensor; patch: number; label: string }): void {
  const { pixels, out, patch, label } = args;
  expectDtype(pixels, ['f32'], `im2col ${label}`);
  const [batch, channels, size, width] = pixels.shape as [number, number, number, number];
  if (pixels.shape.length !== 4 || size !== width || size % patch !== 0) {
    throw new ShapeError(`im2col ${label}: pixels [${pixels.shape}] is not [B, C, S, S] with S a multiple of ${patch}`);
  }
  const grid = size / patch;
  const count = batch * grid * grid * channels * patch * patch;
  if (numel(out.shape) < count) throw new ShapeError(`im2col ${label}: out [${out.shape}] holds fewer than ${count} values`);
  ctx.rec.dispatch({
    label,
    pipeline: im2colSpec,
    uniforms: { layout: Params, values: { batch, channels, size, patchSize: patch, grid } },
    bindings: [pixels, out],
    workgroups: grid1d(Math.ceil(count / 64), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: out,
  });
}
