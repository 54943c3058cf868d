// matmul for CPU adapters (Mesa llvmpipe, SwiftShader, WARP): a register-blocked kernel with no
// workgroup memory, for which shaders/matmul/cpu.wgsl explains the design. matmul() picks it on such
// adapters when the shapes allow vec4 loads; everything else goes to the tiled and matrix-vector kernels.
import { bindingsFor, cachedSpecs, read, type PipelineSpec } from '../../gpu/pipelines';
import { numel } from '../../gpu/tensor';
import type { KernelContext } from '../common';
import { epilogueDefines, epilogueOf, foldsBatches, matmulBindings, MatmulParams, type MatmulArgs, type MatmulEpilogue, type MatmulGeometry } from './params';

/** Columns of y per workgroup: 8 lanes × 4 columns. */
const TILE_COLUMNS = 32;
/** Rows of y per workgroup: 8, or 32 with subgroups (where each extra 8 rows cost one vec4 load a lane). */
const TILE_ROWS = 8;
const SUBGROUP_TILE_ROWS = 32;

/**
 * Whether matmul/cpu.wgsl can run this geometry: its vec4 loads need K, x's offset and strides and W's
 * offset to be whole vec4s, and x's last vec4 to lie inside the binding (a runtime-sized array of vec4
 * ends at the last whole vec4).
 */
export function cpuKernelFits(args: MatmulArgs, g: MatmulGeometry): boolean {
  const aligned = [g.K, g.xOffset, g.xRowStride, g.xBatchStride, g.wOffset].every((v) => v % 4 === 0);
  if (!aligned) return false;
  const lastX = g.xOffset + (g.batch - 1) * g.xBatchStride + (g.M - 1) * g.xRowStride + g.K;
  return lastX <= Math.floor(numel(args.x.shape) / 4) * 4;
}

/** `subgroups`: rows of x are shared by subgroup broadcasts (needs 8-lane subgroups), 32 rows a tile. */
export const matmulCpuSpec = cachedSpecs(function matmulCpuSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue, subgroups: boolean): PipelineSpec {
  return {
    shader: 'matmul/cpu',
    defines: { ...epilogueDefines(f16Weights, bias, epilogue), SUBGROUPS: subgroups },
    uniforms: MatmulParams,
    bindings: matmulBindings(read('x', 'vec4<f32>'), read('w', f16Weights ? 'vec2<u32>' : 'vec4<f32>'), bias),
    enables: subgroups ? ['subgroups'] : [],
  };
});

/**
 * Records the CPU kernel. Dense batches are folded into rows. Up to 8 rows (a decoding step) take the
 * 8-row kernel without subgroups: for one row it loads exactly what it needs, and its pipeline does not
 * depend on the number of beams. More rows take the 32-row subgroup kernel when `subgroups` is set.
 */
export function matmulCpu(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry, subgroups: boolean): void {
  const { x, w, bias, y, label } = args;
  const geometry = foldsBatches(g) ? { ...g, M: g.M * g.batch, batch: 1 } : g;
  const broadcast = subgroups && geometry.M > TILE_ROWS;
  const rows = broadcast ? SUBGROUP_TILE_ROWS : TILE_ROWS;
  const pipeline = matmulCpuSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args), broadcast);
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: MatmulParams, values: geometry },
    bindings: bindingsFor(pipeline, { x, w, bias, y }),
    workgroups: [Math.ceil(geometry.M / rows), Math.ceil(geometry.N / TILE_COLUMNS), geometry.batch],
    output: y,
  });
}
