// One decoding step's multi-head attention with its LayerNorm and input projection folded in: for R rows
// (one per beam) at one position, LN(x) → q (and k, v, written into each row's cache at that position) →
// attention over the cache. One workgroup per head (shaders/attention/step_gpu.wgsl, step_cpu.wgsl): what
// was a LayerNorm, two projections and an attention pass is one dispatch.
import { ShapeError } from '../../errors';
import type { Gpu } from '../../gpu/gpu';
import { bindingsFor, cachedSpecs, read, readValues, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, expectShape, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import { LAYER_NORM_EPS, type KernelContext, type LayerNormOf } from '../common';
import { attentionGpuDefines } from './gpu';
import { ATTENTION_MAX_HEAD_DIM, attentionFamily, AttentionParams, SCORE_CAPACITY, type AttentionKernel } from './params';
import { normalizedRowsVec4 } from '../matmul/cpu';

const StepParams = defineUniforms({ ...AttentionParams.fields, K: 'u32', eps: 'f32' });

/** Rows (beams) one step takes: the workgroups keep every row's query and statistics. */
export const STEP_MAX_ROWS = 8;
/** The CPU kernel's workgroup memory never exceeds this (bytes). */
const MAX_CPU_WORKGROUP_BYTES = 32768;

export interface StepAttentionArgs {
  /** [R, K] f32, dense: the residual stream's rows at this position (normalized inside, with `ln`). */
  x: Tensor;
  ln: LayerNormOf;
  /** in_proj_weight [3D, K] (q rows, then k, then v), f32 or f16x2, and its f32 bias [3D]. */
  w: Tensor;
  bias: Tensor;
  /**
   * The K/V cache: row j of beam r's keys at offset + r·batchStride + j·rowStride (values D further on).
   * Self-attention writes this step's k and v at row `position` and attends rows 0 .. position;
   * cross-attention (`crossKeys`) attends rows 0 .. crossKeys − 1 and writes nothing (batchStride 0 shares them).
   */
  cache: { tensor: Tensor; offset?: number; rowStride: number; batchStride: number };
  position: number;
  crossKeys?: number;
  /** [R, D] f32: the heads' outputs side by side. */
  out: Tensor;
  heads: number;
  rows: number;
  label: string;
  /** Forces a kernel (tests); by default the adapter's. */
  kernel?: AttentionKernel;
}

interface StepVariant {
  f16Weights: boolean;
  f16Norm: boolean;
  cross: boolean;
  /** GPU: products in f16. */
  f16Math: boolean;
  /** CPU: head width in vec4s, and the vec4s of normalized rows the workgroup holds. */
  headVectors: number;
  xnVec4: number;
}

export const stepAttentionGpuSpec = cachedSpecs(function stepAttentionGpuSpec(v: StepVariant): PipelineSpec {
  return {
    shader: 'attention/step_gpu',
    defines: { ...attentionGpuDefines(), CROSS: v.cross, F16_MATH: v.f16Math },
    uniforms: StepParams,
    bindings: [
      read('x'),
      readValues('ln_gamma', v.f16Norm ? 'f16x2' : 'f32'),
      readValues('ln_beta', v.f16Norm ? 'f16x2' : 'f32'),
      readValues('w', v.f16Weights ? 'f16x2' : 'f32'),
      read('bias'),
      v.cross ? read('kv') : write('kv'),
      read('aux', 'u32'),
      write('out'),
    ],
    enables: v.f16Math ? ['f16'] : [],
  };
});

export const stepAttentionCpuSpec = cachedSpecs(function stepAttentionCpuSpec(v: StepVariant): PipelineSpec {
  return {
    shader: 'attention/step_cpu',
    defines: { SUBGROUPS: false, F16_WEIGHTS: v.f16Weights, CROSS: v.cross, HEAD_VECTORS: v.headVectors, XN_VEC4: v.xnVec4 },
    uniforms: StepParams,
    bindings: [
      read('x', 'vec4<f32>'),
      readValues('ln_gamma', v.f16Norm ? 'f16x2' : 'f32'),
      readValues('ln_beta', v.f16Norm ? 'f16x2' : 'f32'),
      read('w', v.f16Weights ? 'vec2<u32>' : 'vec4<f32>'),
      read('bias'),
      v.cross ? read('kv', 'vec4<f32>') : write('kv', 'vec4<f32>'),
      write('out'),
    ],
  };
});

/**
 * vec4s of normalized rows the CPU kernel can hold next to its queries and partial results (2 × 8 rows of
 * the head, and the lanes' sums).
 */
function cpuXnCapacity(gpu: Gpu, headVectors: number): number {
  const fixed = 2 * 8 * headVectors * 16 + 128;
  return Math.floor((Math.min(MAX_CPU_WORKGROUP_BYTES, gpu.facts.limits.maxComputeWorkgroupStorageSize) - fixed) / 16);
}

export function stepAttention(ctx: KernelContext, args: StepAttentionArgs): void {
  const { x, ln, w, bias, cache, out, heads, rows, position, label } = args;
  const what = `stepAttention ${label}`;
  for (const t of [x, bias, out, cache.tensor]) expectDtype(t, ['f32'], what);
  expectDtype(w, ['f32', 'f16x2'], what);
  const K = x.shape[x.shape.length - 1]!;
  const D = numel(out.shape) / rows;
  const cross = args.crossKeys !== undefined;
  const keys = cross ? args.crossKeys! : position + 1;
  const headDim = D / heads;
  if (!Number.isInteger(rows) || rows < 1 || rows > STEP_MAX_ROWS) throw new ShapeError(`${what}: ${rows} rows; a step takes 1 to ${STEP_MAX_ROWS}`);
  if (numel(x.shape) !== rows * K) throw new ShapeError(`${what}: x [${x.shape}] is not ${rows} rows`);
  if (!Number.isInteger(headDim) || headDim > ATTENTION_MAX_HEAD_DIM) throw new ShapeError(`${what}: out [${out.shape}] is not ${rows} rows of ${heads} heads of at most ${ATTENTION_MAX_HEAD_DIM}`);
  if (w.shape.length !== 2 || w.shape[1] !== K || w.shape[0]! < (cross ? 1 : 3) * D) throw new ShapeError(`${what}: w [${w.shape}] does not hold the q${cross ? '' : ', k and v'} rows of width ${K}`);
  if (numel(bias.shape) < (cross ? 1 : 3) * D) throw new ShapeError(`${what}: bias [${bias.shape}] is too short`);
  expectDtype(ln.gamma, ['f32', 'f16x2'], what);
  if (ln.beta.dtype !== ln.gamma.dtype) throw new ShapeError(`${what}: LayerNorm gamma is ${ln.gamma.dtype} but beta is ${ln.beta.dtype}`);
  expectShape(ln.gamma, [K], what);
  expectShape(ln.beta, [K], what);
  if (!Number.isInteger(position) || position < 0 || !Number.isInteger(keys) || keys < 1 || keys > SCORE_CAPACITY) {
    throw new ShapeError(`${what}: position ${position}, ${keys} keys: keys must be 1 to ${SCORE_CAPACITY}`);
  }
  const offset = cache.offset ?? 0;
  const cacheEnd = offset + (rows - 1) * cache.batchStride + (keys - 1) * cache.rowStride + 2 * D;
  if (cache.rowStride < 2 * D || cacheEnd > numel(cache.tensor.shape)) throw new ShapeError(`${what}: the cache [${cache.tensor.shape}] does not hold ${rows} rows of ${keys} keys of k | v (${2 * D})`);
  if (!cross && cache.batchStride < keys * cache.rowStride && rows > 1) throw new ShapeError(`${what}: the rows' caches overlap (batch stride ${cache.batchStride})`);
  // WebGPU forbids one buffer bound writable and read-only in the same dispatch, whatever the ranges.
  const written = cross ? [out.buffer] : [out.buffer, cache.tensor.buffer];
  const inputs = [x, w, bias, ln.gamma, ln.beta, ...(cross ? [cache.tensor] : [])];
  if (out.buffer === cache.tensor.buffer || inputs.some((t) => written.includes(t.buffer))) {
    throw new ShapeError(`${what}: out${cross ? '' : ' and the cache'} must be buffers of their own`);
  }

  const values = {
    heads,
    headDim,
    queries: 1,
    keys,
    queryPos0: position,
    batch: rows,
    maskMode: 0,
    rowsPerGroup: 1,
    scale: 1 / Math.sqrt(headDim),
    qOffset: 0,
    qRowStride: 0,
    qBatchStride: 0,
    kOffset: offset,
    kRowStride: cache.rowStride,
    kBatchStride: cache.batchStride,
    vOffset: offset + D,
    vRowStride: cache.rowStride,
    vBatchStride: cache.batchStride,
    outOffset: 0,
    outRowStride: D,
    outBatchStride: D,
    auxOffset: 0,
    auxRowStride: 0,
    auxBatchStride: 0,
    K,
    eps: ln.eps ?? LAYER_NORM_EPS,
  };
  const f16Norm = ln.gamma.dtype === 'f16x2';
  const headVectors = headDim / 4;
  const xnVec4 = normalizedRowsVec4(STEP_MAX_ROWS, K, cpuXnCapacity(ctx.gpu, headVectors));
  const vec4 = K % 4 === 0 && headDim % 4 === 0 && [offset, cache.rowStride, cache.batchStride].every((v) => v % 4 === 0);
  const cpu = attentionFamily(ctx.gpu, args.kernel) === 'cpu' && !ctx.f16Math && vec4 && (rows * K) / 4 <= xnVec4;
  const variant = { f16Weights: w.dtype === 'f16x2', f16Norm, cross, f16Math: Boolean(ctx.f16Math), headVectors: cpu ? headVectors : 0, xnVec4: cpu ? xnVec4 : 0 };
  const pipeline = cpu ? stepAttentionCpuSpec(variant) : stepAttentionGpuSpec(variant);
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: StepParams, values },
    bindings: bindingsFor(pipeline, { x, ln_gamma: ln.gamma, ln_beta: ln.beta, w, bias, kv: cache.tensor, aux: cpu ? undefined : x, out }),
    workgroups: [heads],
    output: out,
  });
}
