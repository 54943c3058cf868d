// Image patches as matrix rows [B, G·G, C·P·P] (shaders/patch_embed/im2col.wgsl), so a patch embedding
// (conv, stride = kernel) is a matmul: the variant for CPU adapters, where the matmul's CPU kernel is far
// faster than the tiled patch kernel.
import { ShapeError } from '../../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, numel, reshape, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import { grid1d, type KernelContext } from '../common';
import { matmul } from '../matmul';
import type { PatchEmbedArgs, PatchGeometry } from './params';

const Params = defineUniforms({ batch: 'u32', channels: 'u32', size: 'u32', patchSize: 'u32', grid: 'u32' });

export const im2colSpec: PipelineSpec = {
  shader: 'patch_embed/im2col',
  uniforms: Params,
  bindings: [read('pixels'), write('out')],
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
    bindings: bindingsFor(im2colSpec, { pixels, out }),
    workgroups: grid1d(Math.ceil(count / 64), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: out,
  });
}

/** The patch embedding as im2col into `patches`, then patches [B·N, C·P·P] · conv1ᵀ into rows outRowOffset.. of out. */
export function patchEmbedIm2col(ctx: KernelContext, args: PatchEmbedArgs, g: PatchGeometry): void {
  const { pixels, weight, out, patches, pos, label } = args;
  const what = `patchEmbed ${label}`;
  if (pos) throw new ShapeError(`${what}: the im2col variant adds no positions; add them afterwards or use the tiled variant`);
  if (!patches) throw new ShapeError(`${what}: the im2col variant needs a 'patches' scratch tensor of ${g.B * g.patches * g.C * g.P * g.P} values`);
  im2col(ctx, { pixels, out: patches, patch: g.P, label: `${label}.im2col` });
  matmul(ctx, {
    x: patches,
    w: reshape(weight, [g.Wd, g.C * g.P * g.P]),
    y: out,
    M: g.patches,
    batch: g.B,
    yOffset: g.outRowOffset * g.Wd,
    yRowStride: g.Wd,
    yBatchStride: g.outRows * g.Wd,
    label,
  });
}
