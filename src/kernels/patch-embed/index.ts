// The vision tower's patch embedding: Conv2d(C → Wd, kernel = stride = P, no bias) on [B, C, H, W]
// pixels, written as patch rows into the token activation (after the class token, optionally + positions).
// Two variants, chosen from the adapter facts (or forced with `kernel`): 'tiled' (tiled.ts, one kernel)
// on GPUs; 'im2col' (im2col.ts, patches as rows then the matmul's CPU kernel) on CPU adapters.
import type { Gpu } from '../../gpu/gpu';
import type { KernelContext } from '../common';
import { patchEmbedIm2col } from './im2col';
import { patchGeometry, type PatchEmbedArgs, type PatchEmbedKernel } from './params';
import { patchEmbedTiled } from './tiled';

export type { PatchEmbedArgs, PatchEmbedKernel } from './params';

/** The variant patchEmbed() uses on this device when not told. */
export function defaultPatchEmbedKernel(gpu: Gpu): PatchEmbedKernel {
  return gpu.facts.cpu ? 'im2col' : 'tiled';
}

/** The `patches` scratch a call needs on this device ([B, N, C·P·P]), or null when its variant needs none. */
export function patchEmbedScratch(gpu: Gpu, batch: number, patches: number, patchValues: number): number[] | null {
  return defaultPatchEmbedKernel(gpu) === 'im2col' ? [batch, patches, patchValues] : null;
}

export function patchEmbed(ctx: KernelContext, args: PatchEmbedArgs): void {
  const g = patchGeometry(args);
  if (g.B * g.patches === 0 || g.Wd === 0) return;
  if ((args.kernel ?? defaultPatchEmbedKernel(ctx.gpu)) === 'im2col') patchEmbedIm2col(ctx, args, g);
  else patchEmbedTiled(ctx, args, g);
}
