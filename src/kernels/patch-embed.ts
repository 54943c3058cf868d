// The vision tower's patch embedding: Conv2d(C → Wd, kernel = stride = P, no bias) on [B, C, H, W]
// pixels, written as patch rows into the token activation (after the class token, optionally + positions).
import { ShapeError } from '../errors';
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, expectShape, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import type { KernelContext } from './common';

// shaders/patch_embed.wgsl's tile.
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
    shader: 'patch_embed',
    defines: {
      PARAMS: Params.wgsl('Params'),
      F16_WEIGHTS: f16Weights,
      WEIGHT_TYPE: f16Weights ? 'u32' : 'f32',
      POS: pos,
      POS_F16: Boolean(f16Pos),
      POS_TYPE: f16Pos ? 'u32' : 'f32',
    },
    bindings: pos ? ['uniform', 'read', 'read', 'read', 'write'] : ['uniform', 'read', 'read', 'write'],
  };
});

export interface PatchEmbedArgs {
  /** [B, C, H, W] f32, H and W multiples of P. */
  pixels: Tensor;
  /** conv1.weight [Wd, C, P, P], f32 or f16x2. */
  weight: Tensor;
  /** [B, L_out, Wd] f32: patch n goes to row outRowOffset + n. */
  out: Tensor;
  /** Default 0; 1 leaves row 0 for the class token. */
  outRowOffset?: number;
  /** [L_pos, Wd], f32 or f16x2: adds pos[outRowOffset + n] to patch n. */
  pos?: Tensor;
  label: string;
}

export function patchEmbed({ rec }: KernelContext, args: PatchEmbedArgs): void {
  const { pixels, weight, out, pos, label } = args;
  const what = `patchEmbed ${label}`;
  expectDtype(pixels, ['f32'], what);
  expectDtype(weight, ['f32', 'f16x2'], what);
  expectDtype(out, ['f32'], what);
  if (pixels.shape.length !== 4) throw new ShapeError(`${what}: pixels [${pixels.shape}] are not [B, C, H, W]`);
  if (weight.shape.length !== 4) throw new ShapeError(`${what}: weight [${weight.shape}] is not [Wd, C, P, P]`);
  const [B, C, H, W] = pixels.shape as [number, number, number, number];
  const [Wd, , P] = weight.shape as [number, number, number, number];
  expectShape(weight, [Wd, C, P, P], what);
  if (H % P !== 0 || W % P !== 0) throw new ShapeError(`${what}: a ${H}×${W} image does not split into ${P}×${P} patches`);
  const patchesPerRow = W / P;
  const patches = (H / P) * patchesPerRow;
  const outRowOffset = args.outRowOffset ?? 0;
  if (out.shape.length !== 3 || out.shape[0] !== B || out.shape[2] !== Wd) throw new ShapeError(`${what}: out [${out.shape}] is not [${B}, L, ${Wd}]`);
  const outRows = out.shape[1]!;
  if (!Number.isInteger(outRowOffset) || outRowOffset < 0 || outRowOffset + patches > outRows) {
    throw new ShapeError(`${what}: ${patches} patches from row ${outRowOffset} do not fit the ${outRows} rows of out`);
  }
  if (pos) {
    expectDtype(pos, ['f32', 'f16x2'], what);
    if (pos.shape.length !== 2 || pos.shape[1] !== Wd || pos.shape[0]! < outRowOffset + patches) {
      throw new ShapeError(`${what}: pos ${pos.label} [${pos.shape}] does not cover rows ${outRowOffset}…${outRowOffset + patches - 1} of width ${Wd}`);
    }
  }
  const M = B * patches;
  if (M === 0 || Wd === 0) return;
  rec.dispatch({
    label,
    pipeline: patchEmbedSpec({ f16Weights: weight.dtype === 'f16x2', f16Pos: pos ? pos.dtype === 'f16x2' : undefined }),
    uniforms: {
      layout: Params,
      values: { M, Wd, K: C * P * P, C, H, W, P, patchesPerRow, patches, outRows, outRowOffset },
    },
    bindings: pos ? [pixels, weight, pos, out] : [pixels, weight, out],
    workgroups: [Math.ceil(Wd / TILE_N), Math.ceil(M / TILE_M)],
    output: out,
  });
}
