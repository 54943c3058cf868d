// The patch embedding's arguments and their checks, shared by its two variants.
import { ShapeError } from '../../errors';
import { expectDtype, expectShape, type Tensor } from '../../gpu/tensor';

/** 'tiled': one tiled kernel gathering pixels as it goes (GPUs); 'im2col': patches as rows, then the matmul (CPU adapters). */
export type PatchEmbedKernel = 'tiled' | 'im2col';

export interface PatchEmbedArgs {
  /** [B, C, H, W] f32, H and W multiples of P. */
  pixels: Tensor;
  /** conv1.weight [Wd, C, P, P], f32 or f16x2. */
  weight: Tensor;
  /** [B, L_out, Wd] f32: patch n goes to row outRowOffset + n. */
  out: Tensor;
  /** Default 0; 1 leaves row 0 for the class token. */
  outRowOffset?: number;
  /** [L_pos, Wd], f32 or f16x2: adds pos[outRowOffset + n] to patch n ('tiled' only). */
  pos?: Tensor;
  /** 'im2col': scratch for the patch rows, at least B·(H/P)·(W/P)·C·P·P values. */
  patches?: Tensor;
  label: string;
  /** Forces a variant (tests, benchmarks); by default 'im2col' on CPU adapters, 'tiled' elsewhere. */
  kernel?: PatchEmbedKernel;
}

export interface PatchGeometry {
  B: number;
  C: number;
  H: number;
  W: number;
  P: number;
  Wd: number;
  patchesPerRow: number;
  patches: number;
  outRows: number;
  outRowOffset: number;
}

export function patchGeometry(args: PatchEmbedArgs): PatchGeometry {
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
  return { B, C, H, W, P, Wd, patchesPerRow, patches, outRows, outRowOffset };
}
