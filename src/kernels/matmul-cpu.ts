// matmul for CPU adapters (Mesa llvmpipe, SwiftShader, WARP): a register-blocked kernel with no
// workgroup memory, for which shaders/matmul_cpu.wgsl explains the design. matmul() picks it on such
// adapters when the shapes allow vec4 loads; everything else goes to the tiled and matrix-vector kernels.
import type { GpuDeviceInfo } from '../gpu/device';
import type { Gpu } from '../gpu/gpu';
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { numel } from '../gpu/tensor';
import type { KernelContext } from './common';
import { GELU_WGSL } from './gelu-wgsl';
import type { MatmulArgs, MatmulEpilogue, MatmulGeometry } from './matmul';
import { epilogueOf, MatmulParams } from './matmul-common';

const Params = MatmulParams;

/** Columns of y per workgroup: 8 lanes × 4 columns. */
const TILE_COLUMNS = 32;
/** Rows of y per workgroup: 8, or 32 with subgroups (where each extra 8 rows cost one vec4 load a lane). */
const TILE_ROWS = 8;
const SUBGROUP_TILE_ROWS = 32;
/** The subgroup size the SUBGROUPS variant's broadcasts (lanes 0..7 of a one-subgroup workgroup) assume. */
const SUBGROUP_LANES = 8;

/**
 * Whether the adapter runs shaders on the CPU, where matmul_cpu.wgsl beats the tiled kernel by 5–15×.
 * Dawn reports Mesa's llvmpipe as a fallback adapter of architecture 'software' and Chrome's SwiftShader
 * as architecture 'swiftshader'; the names catch adapters that report less.
 */
export function isCpuAdapter(info: GpuDeviceInfo): boolean {
  const a = info.adapter;
  if (a.isFallbackAdapter || a.architecture === 'software' || a.architecture === 'swiftshader') return true;
  return /llvmpipe|lavapipe|swiftshader|basic render driver|\bwarp\b/i.test(`${a.description} ${a.device} ${a.vendor}`);
}

/** Whether the device has subgroups and they are exactly 8 lanes wide (llvmpipe on AVX2). */
export function hasEightLaneSubgroups(gpu: Gpu): boolean {
  if (!gpu.device.features.has('subgroups')) return false;
  const info = (gpu.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return info?.subgroupMinSize === SUBGROUP_LANES && info.subgroupMaxSize === SUBGROUP_LANES;
}

/**
 * Whether matmul_cpu.wgsl can run this geometry: its vec4 loads need K, x's offset and strides and W's
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
    shader: 'matmul_cpu',
    defines: {
      PARAMS: Params.wgsl('Params'),
      SUBGROUPS: subgroups,
      F16_WEIGHTS: f16Weights,
      BIAS: bias,
      GELU: Boolean(epilogue.gelu),
      ACCUMULATE: Boolean(epilogue.accumulate),
      GELU_FNS: epilogue.gelu ? GELU_WGSL : '',
    },
    bindings: bias ? ['uniform', 'read', 'read', 'read', 'write'] : ['uniform', 'read', 'read', 'write'],
  };
});

/**
 * Records the CPU kernel. Dense batches are folded into rows. Up to 8 rows (a decoding step) take the
 * 8-row kernel without subgroups: for one row it loads exactly what it needs, and its pipeline does not
 * depend on the number of beams. More rows take the 32-row subgroup kernel when `subgroups` is set.
 */
export function matmulCpu(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry, subgroups: boolean): void {
  const { x, w, bias, y, label } = args;
  const foldable = g.batch === 1 || (g.xBatchStride === g.M * g.xRowStride && g.yBatchStride === g.M * g.yRowStride);
  const geometry = foldable ? { ...g, M: g.M * g.batch, batch: 1 } : g;
  const broadcast = subgroups && geometry.M > TILE_ROWS;
  const rows = broadcast ? SUBGROUP_TILE_ROWS : TILE_ROWS;
  ctx.rec.dispatch({
    label,
    pipeline: matmulCpuSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args), broadcast),
    uniforms: { layout: Params, values: geometry },
    bindings: bias ? [x, w, bias, y] : [x, w, y],
    workgroups: [Math.ceil(geometry.M / rows), Math.ceil(geometry.N / TILE_COLUMNS), geometry.batch],
    output: y,
  });
}
