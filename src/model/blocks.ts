// The pre-norm transformer blocks OpenCLIP's CoCa is built from, as functions over named weights.
// Activations are row-dense [B·L, D]; each block updates the residual stream x in place.
import type { Arena } from '../gpu/buffers';
import type { Tensor } from '../gpu/tensor';
import { attention, type AttentionMaskMode, type AttnAux } from '../kernels/attention';
import type { KernelContext } from '../kernels/common';
import { layerNorm } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import type { CocaWeights } from './weights';

export interface Dims {
  /** Sequences in the batch. */
  batch: number;
  /** Rows per sequence. */
  rows: number;
  width: number;
  heads: number;
}

export interface Ctx extends KernelContext {
  readonly weights: CocaWeights;
  readonly arena: Arena;
}

/** x ← x + c_proj(GELU(c_fc(ln_2(x)))). `tag` keeps the scratch of different passes apart. */
export function mlp(ctx: Ctx, prefix: string, x: Tensor, d: Dims, tag: string, label: string): void {
  const { weights: w, arena } = ctx;
  const M = d.batch * d.rows;
  const hidden = w.get(`${prefix}.mlp.c_fc.weight`).shape[0]!;
  const h = arena.tensor(`${tag}.h`, [M, d.width]);
  const up = arena.tensor(`${tag}.mlp`, [M, hidden]);
  layerNorm(ctx, { x, gamma: w.get(`${prefix}.ln_2.weight`), beta: w.get(`${prefix}.ln_2.bias`), y: h, label: `${prefix}.ln_2` });
  // h: [M, D] → up: [M, 4D] → x: [M, D] (+=)
  matmul(ctx, { x: h, w: w.get(`${prefix}.mlp.c_fc.weight`), bias: w.get(`${prefix}.mlp.c_fc.bias`), y: up, gelu: true, label: `${prefix}.mlp.c_fc` });
  matmul(ctx, { x: up, w: w.get(`${prefix}.mlp.c_proj.weight`), bias: w.get(`${prefix}.mlp.c_proj.bias`), y: x, accumulate: true, label });
}

/** x ← x + out_proj(MHA(ln_1(x))) over whole sequences (no cache). */
export function selfAttention(ctx: Ctx, prefix: string, x: Tensor, d: Dims, tag: string, mask: AttentionMaskMode, aux?: AttnAux): void {
  const { weights: w, arena } = ctx;
  const M = d.batch * d.rows;
  const D = d.width;
  const h = arena.tensor(`${tag}.h`, [M, D]);
  const qkv = arena.tensor(`${tag}.qkv`, [M, 3 * D]);
  const heads = arena.tensor(`${tag}.attn`, [M, D]);
  layerNorm(ctx, { x, gamma: w.get(`${prefix}.ln_1.weight`), beta: w.get(`${prefix}.ln_1.bias`), y: h, label: `${prefix}.ln_1` });
  // h: [M, D] → qkv: [M, 3D] (q | k | v)
  matmul(ctx, { x: h, w: w.get(`${prefix}.attn.in_proj_weight`), bias: w.get(`${prefix}.attn.in_proj_bias`), y: qkv, label: `${prefix}.attn.in_proj` });
  const L = d.rows;
  attention(ctx, {
    q: { tensor: qkv, offset: 0, rowStride: 3 * D, batchStride: L * 3 * D },
    k: { tensor: qkv, offset: D, rowStride: 3 * D, batchStride: L * 3 * D },
    v: { tensor: qkv, offset: 2 * D, rowStride: 3 * D, batchStride: L * 3 * D },
    out: { tensor: heads, rowStride: D, batchStride: L * D },
    heads: d.heads,
    headDim: D / d.heads,
    queries: L,
    keys: L,
    batch: d.batch,
    mask,
    aux,
    label: `${prefix}.attn`,
  });
  matmul(ctx, { x: heads, w: w.get(`${prefix}.attn.out_proj.weight`), bias: w.get(`${prefix}.attn.out_proj.bias`), y: x, accumulate: true, label: `${prefix}.attn.out_proj` });
}

/** A whole residual block: attention then MLP. `label` names the residual stream after it. */
export function residualBlock(ctx: Ctx, prefix: string, x: Tensor, d: Dims, tag: string, mask: AttentionMaskMode, label: string, aux?: AttnAux): void {
  selfAttention(ctx, prefix, x, d, tag, mask, aux);
  mlp(ctx, prefix, x, d, tag, label);
}
