// Fused multi-head attention: out = softmax(q·kᵀ/√dh + mask)·v for every (batch item, query row, head),
// in one dispatch. q, k and v are read through (offset, row stride, batch stride), so they can come
// straight from a fused qkv matmul output, from separate query and key/value tensors (cross-attention,
// K/V shared across a batch with batch stride 0), or from a per-layer KV cache of which only the first
// `keys` rows are valid. Every size and mask mode is a uniform: one pipeline serves all calls.
// Two kernels, chosen from the adapter facts (or forced with `kernel`): 'gpu' (gpu.ts) and 'cpu' (cpu.ts).
import type { Gpu } from '../../gpu/gpu';
import type { KernelContext } from '../common';
import { attentionCpu } from './cpu';
import { attentionGpu } from './gpu';
import { attentionFamily, resolveAttention, type AttentionArgs, type AttentionKernel } from './params';

export { sequenceAttention, type SequenceAttentionArgs } from './sequence';
export { STEP_MAX_ROWS, stepAttention, type StepAttentionArgs } from './step';
export { ATTENTION_MAX_HEAD_DIM, ATTENTION_MAX_KEYS, type AttentionArgs, type AttentionKernel, type AttentionMaskMode, type AttnAux, type AttnInput } from './params';

/** The kernel attention() uses on this device when not told: CPU adapters get attention/cpu.wgsl. */
export function defaultAttentionKernel(gpu: Gpu): AttentionKernel {
  return attentionFamily(gpu);
}

export function attention(ctx: KernelContext, args: AttentionArgs): void {
  const call = resolveAttention(args, ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension);
  if (attentionFamily(ctx.gpu, args.kernel) === 'cpu') attentionCpu(ctx, call, args.label);
  else attentionGpu(ctx, call, args.label);
}
