// Attention for CPU adapters (shaders/attention/cpu.wgsl): lanes that each run whole online softmaxes with
// no barriers, where barriers and workgroup memory are emulated and costly.
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { grid1d, type KernelContext } from '../common';
import { ATTENTION_MAX_HEAD_DIM, AttentionParams, type ResolvedAttention } from './params';

/** Invocations per workgroup of the CPU kernel: one SIMD batch of lanes (8 f32 on AVX2). */
const CPU_LANES = 8;
/**
 * Query rows per lane and keys per step of the CPU kernel: each K/V load serves CPU_ROWS_PER_LANE rows,
 * each query/accumulator access CPU_KEY_BLOCK keys. On llvmpipe (2 cores), 2 × 4 ran the text tower's
 * attention 1.5× faster than 1 × 8 and as fast as 4 × 4, whose pipeline took twice as long to compile
 * (1.2 s against 0.5 s at head width 64: the compile time grows with the unrolled loads).
 */
const CPU_ROWS_PER_LANE = 2;
const CPU_KEY_BLOCK = 4;

/**
 * How the CPU kernel's lanes split the work (its entry points): 'rows', CPU_LANES × CPU_ROWS_PER_LANE
 * query rows of one head per workgroup; 'heads', lanes take the heads of a row, one row each, for calls
 * with fewer rows than lanes (a decoding step), where 'rows' would leave most lanes idle.
 */
export type CpuAttentionMapping = 'rows' | 'heads';

/** The sizes of lib/attend_cpu.wgsl, for every kernel that includes it. */
export function attentionCpuDefines(): { MAX_HEAD_DIM: number; LANES: number; ROWS_PER_LANE: number; KEY_BLOCK: number } {
  return { MAX_HEAD_DIM: ATTENTION_MAX_HEAD_DIM, LANES: CPU_LANES, ROWS_PER_LANE: CPU_ROWS_PER_LANE, KEY_BLOCK: CPU_KEY_BLOCK };
}

/**
 * The CPU kernel's pipeline (two, to compile at load). `vec4`: q, k and v are read as vec4s (the head
 * width and every offset and stride of q, k and v are multiples of 4).
 */
export const attentionCpuSpec = cachedSpecs(function attentionCpuSpec(vec4: boolean, mapping: CpuAttentionMapping): PipelineSpec {
  const element = vec4 ? 'vec4<f32>' : 'f32';
  return {
    shader: 'attention/cpu',
    entryPoint: mapping,
    defines: { ...attentionCpuDefines(), VEC4: vec4 },
    uniforms: AttentionParams,
    bindings: [read('q', element), read('k', element), read('v', element), read('aux', 'u32'), write('out')],
  };
});

export function attentionCpu(ctx: KernelContext, call: ResolvedAttention, label: string): void {
  const { queries, heads, batch } = call.values;
  const mapping: CpuAttentionMapping = queries >= CPU_LANES ? 'rows' : 'heads';
  // 'heads': one invocation per output row of a head; out holds them all, so this is far below 2³².
  const invocations = batch * queries * heads;
  const pipeline = attentionCpuSpec(call.vec4, mapping);
  ctx.rec.dispatch({
    label,
    pipeline,
    // rowsPerGroup is the GPU kernel's; this one ignores it.
    uniforms: { layout: AttentionParams, values: { ...call.values, rowsPerGroup: 0 } },
    bindings: bindingsFor(pipeline, call.tensors),
    workgroups:
      mapping === 'rows'
        ? [Math.ceil(queries / (CPU_LANES * CPU_ROWS_PER_LANE)), heads, batch]
        : grid1d(Math.ceil(invocations / CPU_LANES), ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: call.tensors.out,
  });
}
