// Attention for GPUs (shaders/attention/gpu.wgsl): a workgroup per group of query rows of one head, its
// phases (scores, softmax, p·v) joined by workgroup-memory reductions.
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../../gpu/pipelines';
import type { KernelContext } from '../common';
import { ATTENTION_MAX_HEAD_DIM, AttentionParams, SCORE_CAPACITY, type ResolvedAttention } from './params';

/** Query rows per workgroup when the keys leave room: they share every K and V read. */
const MAX_ROWS_PER_GROUP = 4;
/**
 * Threads per workgroup (a power of two, a multiple of MAX_ROWS_PER_GROUP). On an H200 (Dawn, Vulkan)
 * 128 beat 64 by 1.2–1.5× on ViT and decoding shapes; 256, and 8 rows per group, gained nothing more.
 */
const WORKGROUP_SIZE = 128;

/** The sizes of lib/attend_gpu.wgsl, for every kernel that includes it. */
export function attentionGpuDefines(): { SCORE_CAPACITY: number; MAX_ROWS: number; MAX_HEAD_DIM: number; WORKGROUP: number } {
  return { SCORE_CAPACITY, MAX_ROWS: MAX_ROWS_PER_GROUP, MAX_HEAD_DIM: ATTENTION_MAX_HEAD_DIM, WORKGROUP: WORKGROUP_SIZE };
}

/** The one pipeline every GPU attention call uses (to compile at load). */
export const attentionSpec = cachedSpecs(function attentionSpec(): PipelineSpec {
  return {
    shader: 'attention/gpu',
    defines: attentionGpuDefines(),
    uniforms: AttentionParams,
    bindings: [read('q'), read('k'), read('v'), read('aux', 'u32'), write('out')],
  };
});

export function attentionGpu(ctx: KernelContext, call: ResolvedAttention, label: string): void {
  const { queries, keys, heads, batch } = call.values;
  const rowsPerGroup = Math.min(MAX_ROWS_PER_GROUP, Math.floor(SCORE_CAPACITY / keys), queries);
  const pipeline = attentionSpec();
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: AttentionParams, values: { ...call.values, rowsPerGroup } },
    bindings: bindingsFor(pipeline, call.tensors),
    workgroups: [Math.ceil(queries / rowsPerGroup), heads, batch],
    output: call.tensors.out,
  });
}
