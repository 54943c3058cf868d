// The M ≤ 8 case of matmul (a decoding step, one row per beam): a matrix-vector kernel that reads
// each weight once for all rows, at memory speed (shaders/matmul/gemv.wgsl), optionally with x's
// LayerNorm folded in (LN_IN). Called through matmul(), which picks it.
import { bindingsFor, cachedSpecs, read, readValues, type PipelineSpec } from '../../gpu/pipelines';
import { defineUniforms } from '../../gpu/uniforms';
import type { DType } from '../../gpu/tensor';
import { grid1d, type KernelContext } from '../common';
import { epilogueDefines, epilogueOf, matmulBindings, matmulTensors, type MatmulArgs, type MatmulEpilogue, type MatmulGeometry } from './params';

export const GEMV_MAX_ROWS = 8;
const COLUMNS_PER_GROUP = 8;
/**
 * With LN_IN each workgroup computes the rows' statistics once, so it takes several passes of 8 columns:
 * enough workgroups remain to fill a big GPU (132 SMs on an H200, a few workgroups each), and the
 * statistics cost a fraction of the columns' weight reads instead of a quarter of them.
 */
const LN_IN_GROUPS = 512;

const Params = defineUniforms({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  xOffset: 'u32',
  xRowStride: 'u32',
  wOffset: 'u32',
  biasOffset: 'u32',
  yOffset: 'u32',
  yRowStride: 'u32',
  eps: 'f32',
  /** Passes of 8 columns per workgroup. */
  passes: 'u32',
});

/** `ln`: the dtype of the folded LayerNorm's γ and β, or null for none. */
export const gemvSpec = cachedSpecs(function gemvSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue, ln: DType | null = null): PipelineSpec {
  const f16Math = Boolean(epilogue.f16Math);
  return {
    shader: 'matmul/gemv',
    defines: { ...epilogueDefines(f16Weights, bias, epilogue), F16_MATH: f16Math, LN_IN: ln !== null },
    uniforms: Params,
    bindings: matmulBindings(read('x'), readValues('w', f16Weights ? 'f16x2' : 'f32'), bias, ln),
    enables: f16Math ? ['f16'] : [],
  };
});

/** Rows of all batches are folded into M (matmul checked that x's and y's batches are dense). */
export function gemv(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry): void {
  const { w, bias, y, label } = args;
  const pipeline = gemvSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args), args.ln?.gamma.dtype ?? null);
  const blocks = Math.ceil(g.N / COLUMNS_PER_GROUP);
  const passes = args.ln ? Math.max(1, Math.floor(blocks / LN_IN_GROUPS)) : 1;
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: {
      layout: Params,
      values: {
        M: g.M * g.batch,
        N: g.N,
        K: g.K,
        xOffset: g.xOffset,
        xRowStride: g.xRowStride,
        wOffset: g.wOffset,
        biasOffset: g.biasOffset,
        yOffset: g.yOffset,
        yRowStride: g.yRowStride,
        eps: g.eps,
        passes,
      },
    },
    bindings: bindingsFor(pipeline, matmulTensors(args)),
    workgroups: grid1d(Math.ceil(blocks / passes), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
