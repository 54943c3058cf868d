// Multi-head attention over whole sequences together with its input projection: q, k, v = x·Wᵀ + b (or
// only q, for cross-attention against given K/V), then attention. On CPU adapters one kernel does both per
// (head, batch item) (shaders/attention/sequence_cpu.wgsl); elsewhere, and where its vec4 shapes do not
// hold or a LayerNorm is to be folded in, it is the matmul (into the qkv scratch) and the attention kernel.
import { ShapeError } from '../../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import type { KernelContext, LayerNormOf } from '../common';
import { matmul } from '../matmul';
import { attentionCpu, attentionCpuDefines } from './cpu';
import { attentionGpu } from './gpu';
import { attentionFamily, AttentionParams, resolveAttention, type AttentionArgs, type AttentionKernel, type AttentionMaskMode, type AttnAux, type AttnInput, type ResolvedAttention } from './params';

const SequenceParams = defineUniforms({ ...AttentionParams.fields, K: 'u32' });

export interface SequenceAttentionArgs {
  /** [batch, queries, K] f32, dense: the block's input rows, normalized (or normalized first with `ln`). */
  x: Tensor;
  /** A LayerNorm of x folded into the projection (then it is the matmul and the attention kernel). */
  ln?: LayerNormOf;
  /** in_proj_weight [≥ parts·D, K] (the q rows, then k, then v), f32 or f16x2, and its f32 bias. */
  w: Tensor;
  bias: Tensor;
  /** Scratch for the projection: [batch, queries, 3D] (q | k | v per row), or [batch, queries, D] with `kv`. */
  qkv: Tensor;
  /** Cross-attention: k and v read from here (e.g. the image tokens' K/V); only q is projected from x. */
  kv?: { k: AttnInput; v: AttnInput; keys: number };
  /** [batch, queries, D] f32: the heads' outputs side by side. */
  out: Tensor;
  heads: number;
  queries: number;
  batch?: number;
  mask: AttentionMaskMode;
  aux?: AttnAux;
  label: string;
  /** Forces the attention kernel family (tests); by default the adapter's. */
  kernel?: AttentionKernel;
}

export const sequenceAttentionCpuSpec = cachedSpecs(function sequenceAttentionCpuSpec(f16Weights: boolean, subgroups: boolean, cross: boolean): PipelineSpec {
  return {
    shader: 'attention/sequence_cpu',
    defines: { ...attentionCpuDefines(), SUBGROUPS: subgroups, F16_WEIGHTS: f16Weights, CROSS: cross },
    uniforms: SequenceParams,
    bindings: [
      read('x', 'vec4<f32>'),
      read('w', f16Weights ? 'vec2<u32>' : 'vec4<f32>'),
      read('bias'),
      write('qkv', 'vec4<f32>'),
      ...(cross ? [read('kv', 'vec4<f32>')] : []),
      read('aux', 'u32'),
      write('out'),
    ],
    enables: subgroups ? ['subgroups'] : [],
  };
});

/** The attention part of a call, and the projection's sizes. */
function plan(args: SequenceAttentionArgs): { attention: AttentionArgs; D: number; K: number; parts: number } {
  const { x, w, bias, qkv, out, heads, queries, kv, label } = args;
  const what = `sequenceAttention ${label}`;
  const batch = args.batch ?? 1;
  for (const t of [x, qkv, out, bias]) expectDtype(t, ['f32'], what);
  expectDtype(w, ['f32', 'f16x2'], what);
  const D = numel(out.shape) / (batch * queries);
  const K = x.shape[x.shape.length - 1]!;
  const parts = kv ? 1 : 3;
  if (!Number.isInteger(D) || D % heads !== 0) throw new ShapeError(`${what}: out [${out.shape}] is not ${batch}×${queries} rows of ${heads} heads`);
  if (numel(x.shape) !== batch * queries * K) throw new ShapeError(`${what}: x [${x.shape}] is not ${batch}×${queries} rows of width ${K}`);
  if (w.shape.length !== 2 || w.shape[1] !== K || w.shape[0]! < parts * D) throw new ShapeError(`${what}: w [${w.shape}] does not hold ${parts}·${D} rows of width ${K}`);
  if (numel(bias.shape) < parts * D) throw new ShapeError(`${what}: bias [${bias.shape}] has fewer than ${parts}·${D} values`);
  if (numel(qkv.shape) < batch * queries * parts * D) throw new ShapeError(`${what}: qkv [${qkv.shape}] holds fewer than ${batch}·${queries}·${parts}·${D} values`);
  const stride = parts * D;
  const inQkv = (offset: number): AttnInput => ({ tensor: qkv, offset, rowStride: stride, batchStride: queries * stride });
  return {
    D,
    K,
    parts,
    attention: {
      q: inQkv(0),
      k: kv ? kv.k : inQkv(D),
      v: kv ? kv.v : inQkv(2 * D),
      out: { tensor: out, rowStride: D, batchStride: queries * D },
      heads,
      headDim: D / heads,
      queries,
      keys: kv ? kv.keys : queries,
      batch,
      mask: args.mask,
      aux: args.aux,
      label,
      kernel: args.kernel,
    },
  };
}

/** The fused CPU kernel's conditions: f32 arithmetic, no LayerNorm to fold, vec4 shapes, K and V in one tensor. */
function cpuKernelFits(ctx: KernelContext, args: SequenceAttentionArgs, call: ResolvedAttention, K: number): boolean {
  const oneKv = !args.kv || args.kv.k.tensor === args.kv.v.tensor;
  return attentionFamily(ctx.gpu, args.kernel) === 'cpu' && !ctx.f16Math && !args.ln && call.vec4 && K % 4 === 0 && oneKv;
}

export function sequenceAttention(ctx: KernelContext, args: SequenceAttentionArgs): void {
  const { attention, D, K, parts } = plan(args);
  const call = resolveAttention(attention, ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension);
  if (!cpuKernelFits(ctx, args, call, K)) {
    // The projection, then the attention kernel.
    // A forced 'gpu' family applies to the projection too (tests); 'cpu' leaves the matmul its own choice.
    matmul(ctx, { x: args.x, w: args.w, bias: args.bias, N: parts * D, y: args.qkv, ln: args.ln, label: `${args.label}.in_proj`, kernel: args.kernel === 'gpu' ? 'gpu' : undefined });
    if (attentionFamily(ctx.gpu, args.kernel) === 'cpu') attentionCpu(ctx, call, args.label);
    else attentionGpu(ctx, call, args.label);
    return;
  }
  const pipeline = sequenceAttentionCpuSpec(args.w.dtype === 'f16x2', ctx.gpu.facts.eightLaneSubgroups, args.kv !== undefined);
  const { q, out } = call.tensors;
  // With no mask data, any read-only tensor fills the aux binding (not q: it is bound read-write here).
  const aux = args.aux?.tensor ?? args.x;
  ctx.rec.dispatch({
    label: args.label,
    pipeline,
    uniforms: { layout: SequenceParams, values: { ...call.values, rowsPerGroup: 0, K } },
    bindings: bindingsFor(pipeline, { x: args.x, w: args.w, bias: args.bias, qkv: q, kv: args.kv?.k.tensor, aux, out }),
    workgroups: [args.heads, args.batch ?? 1],
    output: out,
  });
}
