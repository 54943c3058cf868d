// The patch embedding as one tiled kernel for GPUs (shaders/patch_embed/tiled.wgsl): the im2col is never
// materialized, each K-tile of pixels is gathered straight into workgroup memory.
import { bindingsFor, cachedSpecs, read, readValues, write, type PipelineSpec } from '../../gpu/pipelines';
import { defineUniforms } from '../../gpu/uniforms';
import type { KernelContext } from '../common';
import type { PatchEmbedArgs, PatchGeometry } from './params';

// shaders/patch_embed/tiled.wgsl's tile.
const TILE_M = 32;
const TILE_N = 64;

const Params = defineUniforms({
  M: 'u32',
  Wd: 'u32',
  K: 'u32',
  C: 'u32',
  H: 'u32',
  W: 'u32',
  P: 'u32',
  patchesPerRow: 'u32',
  patches: 'u32',
  outRows: 'u32',
  outRowOffset: 'u32',
});

export interface PatchEmbedVariant {
  f16Weights: boolean;
  /** undefined: no positional table; otherwise whether it is f16x2. */
  f16Pos?: boolean;
}

export const patchEmbedSpec = cachedSpecs(function patchEmbedSpec({ f16Weights, f16Pos }: PatchEmbedVariant): PipelineSpec {
  const pos = f16Pos !== undefined;
  return {
    shader: 'patch_embed/tiled',
    defines: { POS: pos },
    uniforms: Params,
    bindings: [read('pixels'), readValues('weight', f16Weights ? 'f16x2' : 'f32'), ...(pos ? [readValues('pos', f16Pos ? 'f16x2' : 'f32')] : []), write('out')],
  };
});

export function patchEmbedTiled({ rec }: KernelContext, args: PatchEmbedArgs, g: PatchGeometry): void {
  const { pixels, weight, out, pos, label } = args;
  const M = g.B * g.patches;
  const pipeline = patchEmbedSpec({ f16Weights: weight.dtype === 'f16x2', f16Pos: pos ? pos.dtype === 'f16x2' : undefined });
  rec.dispatch({
    label,
    pipeline,
    uniforms: {
      layout: Params,
      values: { M, Wd: g.Wd, K: g.C * g.P * g.P, C: g.C, H: g.H, W: g.W, P: g.P, patchesPerRow: g.patchesPerRow, patches: g.patches, outRows: g.outRows, outRowOffset: g.outRowOffset },
    },
    bindings: bindingsFor(pipeline, { pixels, weight, pos, out }),
    workgroups: [Math.ceil(g.Wd / TILE_N), Math.ceil(M / TILE_M)],
    output: out,
  });
}
