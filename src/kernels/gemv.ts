// The M ≤ 8 case of matmul (a decoding step, one row per beam): a matrix-vector kernel that reads
// each weight once for all rows, at memory speed. Called through matmul(), which picks it.
import { cachedSpecs, type PipelineSpec } from '../gpu/pipelines';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, type KernelContext } from './common';
import { GELU_WGSL } from './gelu-wgsl';
import type { MatmulArgs, MatmulEpilogue, MatmulGeometry } from './matmul';
import { epilogueOf } from './matmul-common';

export const GEMV_MAX_ROWS = 8;
const COLUMNS_PER_GROUP = 8;

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
});

export const gemvSpec = cachedSpecs(function gemvSpec(f16Weights: boolean, bias: boolean, epilogue: MatmulEpilogue): PipelineSpec {
  return {
    shader: 'gemv',
    defines: {
      PARAMS: Params.wgsl('Params'),
      F16_WEIGHTS: f16Weights,
      BIAS: bias,
      GELU: Boolean(epilogue.gelu),
      ACCUMULATE: Boolean(epilogue.accumulate),
      GELU_FNS: epilogue.gelu ? GELU_WGSL : '',
      F16_MATH: Boolean(epilogue.f16Math),
    },
    bindings: bias ? ['uniform', 'read', 'read', 'read', 'write'] : ['uniform', 'read', 'read', 'write'],
  };
});

/** Rows of all batches are folded into M (matmul checked that x's and y's batches are dense). */
export function gemv(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry): void {
  const { x, w, bias, y, label } = args;
  const rows = g.M * g.batch;
  ctx.rec.dispatch({
    label,
    pipeline: gemvSpec(w.dtype === 'f16x2', bias !== undefined, epilogueOf(args)),
    uniforms: {
      layout: Params,
      values: {
        M: rows,
        N: g.N,
        K: g.K,
        xOffset: g.xOffset,
        xRowStride: g.xRowStride,
        wOffset: g.wOffset,
        biasOffset: g.biasOffset,
        yOffset: g.yOffset,
        yRowStride: g.yRowStride,
      },
    },
    bindings: bias ? [x, w, bias, y] : [x, w, y],
    workgroups: grid1d(Math.ceil(g.N / COLUMNS_PER_GROUP), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: y,
  });
}
