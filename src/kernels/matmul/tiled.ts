// The workgroup-memory tiled matmul for GPUs (shaders/matmul/tiled.wgsl): any shape, 64×64 blocks of y, or
// 32×32 when 64×64 blocks would leave a big GPU idle; optionally with x's LayerNorm folded in (LN_IN).
import { bindingsFor, cachedSpecs, read, readValues, type PipelineSpec } from '../../gpu/pipelines';
import type { DType } from '../../gpu/tensor';
import type { KernelContext } from '../common';
import { epilogueDefines, epilogueOf, matmulBindings, MatmulParams, matmulTensors, type MatmulArgs, type MatmulEpilogue, type MatmulGeometry, type MatmulKernel } from './params';

/** The tiled kernel's block of y: 64×64, or 32×32 (SMALL_TILES) when 64×64 blocks would be too few. */
const TILE = 64;
const SMALL_TILE = 32;
/**
 * Fewer 64×64 blocks than this leave a big GPU (132 SMs on an H100/H200) mostly idle, so such products
 * take 32×32 blocks: ViT-B/32's M=50 layers ran up to 2× faster on an H200 that way. Batched images
 * (M=400) keep 64×64 blocks, which reuse each loaded element twice as often.
 */
const MIN_LARGE_TILE_BLOCKS = 128;

/** `ln`: the dtype of the folded LayerNorm's γ and β, or null for none. */
export const matmulSpec = cachedSpecs(function matmulSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue, smallTiles: boolean = false, ln: DType | null = null): PipelineSpec {
  const f16Math = Boolean(epilogue.f16Math);
  return {
    shader: 'matmul/tiled',
    defines: { ...epilogueDefines(f16Weights, bias, epilogue), SMALL_TILES: smallTiles, F16_MATH: f16Math, LN_IN: ln !== null },
    uniforms: MatmulParams,
    bindings: matmulBindings(read('x'), readValues('w', f16Weights ? 'f16x2' : 'f32'), bias, ln),
    enables: f16Math ? ['f16'] : [],
  };
});

/**
 * Records the tiled kernel. Small tiles only help a GPU with many cores: `family` 'cpu' (a shape the CPU
 * kernel cannot take) keeps the large ones, which were 2× faster on llvmpipe.
 */
export function matmulTiled(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry, family: MatmulKernel): void {
  const { w, bias, y, label } = args;
  const smallTiles = family === 'gpu' && Math.ceil(g.M / TILE) * Math.ceil(g.N / TILE) * g.batch < MIN_LARGE_TILE_BLOCKS;
  const tile = smallTiles ? SMALL_TILE : TILE;
  const pipeline = matmulSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args), smallTiles, args.ln?.gamma.dtype ?? null);
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: MatmulParams, values: g },
    bindings: bindingsFor(pipeline, matmulTensors(args)),
    workgroups: [Math.ceil(g.N / tile), Math.ceil(g.M / tile), g.batch],
    output: y,
  });
}
