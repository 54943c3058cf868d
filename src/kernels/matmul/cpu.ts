// matmul for CPU adapters (Mesa llvmpipe, SwiftShader, WARP): a register-blocked kernel with no
// workgroup memory in its main loop (shaders/matmul/cpu.wgsl, lib/matmul_cpu_tile.wgsl explain the
// design). matmul() picks it on such adapters when the shapes allow vec4 loads; everything else goes to
// the tiled and matrix-vector kernels. Its LayerNorm fusions: LN_IN for up to 8 rows (a decoding step),
// LN_OUT (a workgroup owns whole rows and normalizes them after writing them) for any number of rows.
import type { Gpu } from '../../gpu/gpu';
import { bindingsFor, cachedSpecs, read, type PipelineSpec } from '../../gpu/pipelines';
import { numel, type DType } from '../../gpu/tensor';
import type { KernelContext } from '../common';
import { epilogueDefines, epilogueOf, foldsBatches, matmulBindings, MatmulParams, matmulTensors, type MatmulArgs, type MatmulEpilogue, type MatmulGeometry } from './params';

/** Columns of y per tile: 8 lanes × 4 columns. */
const TILE_COLUMNS = 32;
/** Rows of y per workgroup: 8, or 32 with subgroups (where each extra 8 rows cost one vec4 load a lane). */
const TILE_ROWS = 8;
const SUBGROUP_TILE_ROWS = 32;
/**
 * LN_IN normalizes a workgroup's rows once for all its column tiles: it takes up to this many tiles, and
 * fewer when that would leave fewer than MIN_LN_IN_GROUPS workgroups to spread over the cores. On llvmpipe
 * (2 cores) a decoding step's MLP up-projection (64 tiles) with 8 workgroups ran as fast as a LayerNorm
 * pass and the plain product, and with 16 about 5% slower (reading the normalized row from workgroup
 * memory costs more than from the binding, and every workgroup normalizes it).
 */
const MAX_LN_IN_TILES = 8;
const MIN_LN_IN_GROUPS = 8;
/** LN_IN's normalized rows never take more workgroup memory than this (bytes). */
const MAX_XN_BYTES = 32768;
/** Workgroup memory LN_IN needs besides the normalized rows (the lanes' partial sums, rounded up). */
const LN_IN_EXTRA_BYTES = 64;

/** vec4s of normalized rows LN_IN can hold on this device. */
export function cpuLnInCapacity(gpu: Gpu): number {
  return Math.floor((Math.min(MAX_XN_BYTES, gpu.facts.limits.maxComputeWorkgroupStorageSize) - LN_IN_EXTRA_BYTES) / 16);
}

/**
 * The workgroup memory a kernel that normalizes up to `rows` rows of width K declares, in vec4s: what they
 * need, rounded up to a power of two (one pipeline per model width), at most `capacity`. Declaring the
 * device's whole capacity instead made SwiftShader's compiler take 10–15 s per pipeline.
 */
export function normalizedRowsVec4(rows: number, K: number, capacity: number): number {
  return Math.min(capacity, 2 ** Math.ceil(Math.log2(Math.max(1, (rows * K) / 4))));
}

/** Rows the kernel computes as one product (dense batches folded into rows). */
function foldedGeometry(g: MatmulGeometry): MatmulGeometry {
  return foldsBatches(g) ? { ...g, M: g.M * g.batch, batch: 1 } : g;
}

/**
 * Whether matmul/cpu.wgsl can run this call: its vec4 loads need K, x's offset and strides and W's offset
 * to be whole vec4s, and x's last vec4 to lie inside the binding (a runtime-sized array of vec4 ends at the
 * last whole vec4); LN_IN needs at most 8 rows (of each batch item) and room for them in workgroup memory.
 */
export function cpuKernelFits(gpu: Gpu, args: MatmulArgs, g: MatmulGeometry): boolean {
  const aligned = [g.K, g.xOffset, g.xRowStride, g.xBatchStride, g.wOffset].every((v) => v % 4 === 0);
  if (!aligned) return false;
  const lastX = g.xOffset + (g.batch - 1) * g.xBatchStride + (g.M - 1) * g.xRowStride + g.K;
  if (lastX > Math.floor(numel(args.x.shape) / 4) * 4) return false;
  const rows = foldedGeometry(g).M;
  return !args.ln || (rows <= TILE_ROWS && (rows * g.K) / 4 <= cpuLnInCapacity(gpu));
}

export interface CpuMatmulVariant {
  f16Weights: boolean;
  bias: boolean;
  /** Rows of x shared by subgroup broadcasts (needs 8-lane subgroups), 32 rows a tile. */
  subgroups: boolean;
  /** dtype of the LayerNorm folded before (LN_IN) or after (LN_OUT) the product; null for none. */
  lnIn: DType | null;
  lnOut: DType | null;
  /** LN_IN's workgroup memory, in vec4s (cpuLnInCapacity). */
  xnVec4: number;
}

export const matmulCpuSpec = cachedSpecs(function matmulCpuSpec(v: CpuMatmulVariant, epilogue: MatmulEpilogue): PipelineSpec {
  const ln = v.lnIn ?? v.lnOut;
  return {
    shader: 'matmul/cpu',
    defines: { ...epilogueDefines(v.f16Weights, v.bias, epilogue), SUBGROUPS: v.subgroups, LN_IN: v.lnIn !== null, LN_OUT: v.lnOut !== null, XN_VEC4: v.xnVec4 },
    uniforms: MatmulParams,
    bindings: matmulBindings(read('x', 'vec4<f32>'), read('w', v.f16Weights ? 'vec2<u32>' : 'vec4<f32>'), v.bias, ln, v.lnOut !== null),
    enables: v.subgroups ? ['subgroups'] : [],
  };
});

/**
 * Records the CPU kernel. Dense batches are folded into rows. Up to 8 rows (a decoding step) take the
 * 8-row kernel without subgroups: for one row it loads exactly what it needs, and its pipeline does not
 * depend on the number of beams. More rows take the 32-row subgroup kernel when `subgroups` is set.
 */
export function matmulCpu(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry, subgroups: boolean): void {
  const { w, bias, y, label, ln, lnAfter } = args;
  const geometry = foldedGeometry(g);
  const broadcast = subgroups && geometry.M > TILE_ROWS && !ln;
  const rows = broadcast ? SUBGROUP_TILE_ROWS : TILE_ROWS;
  const tiles = Math.ceil(geometry.N / TILE_COLUMNS);
  const tilesPerGroup = lnAfter ? tiles : ln ? Math.max(1, Math.min(MAX_LN_IN_TILES, Math.floor(tiles / MIN_LN_IN_GROUPS))) : 1;
  const pipeline = matmulCpuSpec(
    {
      f16Weights: w.dtype === 'f16x2',
      bias: bias !== undefined,
      subgroups: broadcast,
      lnIn: ln?.gamma.dtype ?? null,
      lnOut: lnAfter?.gamma.dtype ?? null,
      xnVec4: ln ? normalizedRowsVec4(TILE_ROWS, geometry.K, cpuLnInCapacity(ctx.gpu)) : 0,
    },
    epilogueOf(args),
  );
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: MatmulParams, values: { ...geometry, tilesPerGroup } },
    bindings: bindingsFor(pipeline, matmulTensors(args)),
    workgroups: [Math.ceil(geometry.M / rows), Math.ceil(tiles / tilesPerGroup), geometry.batch],
    output: y,
  });
}
