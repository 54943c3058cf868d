// The pre-norm transformer blocks OpenCLIP's CoCa is built from, as functions over named weights.
// Activations are row-dense [B·L, D]; each block updates the residual stream x in place.
//
// Where each LayerNorm runs is the kernels' choice of fusion, decided once per pass (normPlacement):
// - 'prologue' (GPUs, f16 arithmetic, and every decoding step): a LayerNorm is folded into the product
//   that reads it (matmul's `ln`; the attention's projection); the stream is x alone.
// - 'epilogue' (CPU adapters over whole sequences, whose row-blocked matmul owns whole rows): a block's
//   last product writes x and, beside it, h = LN(x) with the next block's first LayerNorm (matmul's
//   `lnAfter`); the next block reads h. Folding a LayerNorm into such a product's input would recompute
//   it for every column tile, which costs more there than the pass it saves.
import type { Arena } from '../gpu/buffers';
import type { Tensor } from '../gpu/tensor';
import { sequenceAttention, type AttentionMaskMode, type AttnAux, type AttnInput } from '../kernels/attention';
import type { KernelContext, LayerNormOf } from '../kernels/common';
import { layerNorm } from '../kernels/layernorm';
import { matmul, type MatmulArgs } from '../kernels/matmul';
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

export type NormPlacement = 'prologue' | 'epilogue';

/** Where a whole-sequence pass runs its LayerNorms on this device (see above). */
export function normPlacement(ctx: Ctx): NormPlacement {
  return ctx.gpu.facts.cpu && !ctx.f16Math ? 'epilogue' : 'prologue';
}

/** The residual stream of a whole-sequence pass: x [B·L, D], and h = LN(x) beside it ('epilogue' placement). */
export interface Stream {
  x: Tensor;
  /** 'epilogue': holds LN(x) with the next block's first LayerNorm; null with 'prologue'. */
  h: Tensor | null;
  dims: Dims;
}

/** The LayerNorm whose γ and β are `${prefix}.weight` and `${prefix}.bias`. */
export function norm(w: CocaWeights, prefix: string): LayerNormOf {
  return { gamma: w.get(`${prefix}.weight`), beta: w.get(`${prefix}.bias`) };
}

/** A stream over x; with the 'epilogue' placement, h (arena slot `${tag}.h`) gets LN(x) with `first` now. */
export function openStream(ctx: Ctx, x: Tensor, dims: Dims, tag: string, first: LayerNormOf, label: string): Stream {
  if (normPlacement(ctx) === 'prologue') return { x, h: null, dims };
  const h = ctx.arena.tensor(`${tag}.h`, [dims.batch * dims.rows, dims.width]);
  layerNorm(ctx, { x: { ...x, shape: [dims.batch * dims.rows, dims.width] }, ...first, y: h, label });
  return { x, h, dims };
}

/**
 * y = LN(x_row)·Wᵀ + b for rows offset .. offset + count − 1 of every item of x [B, L, K], outside the blocks'
 * streams (the pooler's queries, the image tokens' K/V): the LayerNorm folded into the product ('prologue'),
 * or run first into the arena slot `scratch` ('epilogue'). y gets dense rows [B·count, N] (or product's layout).
 */
export function normalizedProduct(ctx: Ctx, x: Tensor, rows: { offset: number; count: number }, ln: LayerNormOf, product: Omit<MatmulArgs, 'x' | 'M' | 'batch' | 'xOffset' | 'xRowStride' | 'xBatchStride' | 'ln'>, scratch: string): void {
  const [B, L, K] = x.shape as [number, number, number];
  if (normPlacement(ctx) === 'prologue') {
    const dense = rows.offset === 0 && rows.count === L;
    matmul(ctx, dense ? { ...product, x, ln } : { ...product, x, ln, M: rows.count, batch: B, xOffset: rows.offset * K, xBatchStride: L * K });
    return;
  }
  const h = ctx.arena.tensor(scratch, [B, rows.count, K]);
  layerNorm(ctx, { x, ...ln, y: h, rows, label: `${product.label}.ln` });
  matmul(ctx, { ...product, x: h });
}

/** A product's input LN(x) with `ln`: h where the stream holds it, else x with the LayerNorm folded in. */
function normalized(s: Stream, ln: LayerNormOf): { x: Tensor; ln?: LayerNormOf } {
  return s.h ? { x: s.h } : { x: s.x, ln };
}

/** The LayerNorm a residual update writes beside x ('epilogue'), for the block after it. */
function after(s: Stream, next: LayerNormOf | null): { lnAfter?: LayerNormOf & { out: Tensor } } {
  return s.h && next ? { lnAfter: { ...next, out: s.h } } : {};
}

/** x ← x + c_proj(GELU(c_fc(ln_2(x)))). `next`: the LayerNorm the following block starts with. */
export function mlp(ctx: Ctx, prefix: string, s: Stream, tag: string, label: string, next: LayerNormOf | null): void {
  const { weights: w, arena } = ctx;
  const M = s.dims.batch * s.dims.rows;
  const hidden = w.get(`${prefix}.mlp.c_fc.weight`).shape[0]!;
  const up = arena.tensor(`${tag}.mlp`, [M, hidden]);
  // LN(x): [M, D] → up: [M, 4D] → x: [M, D] (+=)
  matmul(ctx, { ...normalized(s, norm(w, `${prefix}.ln_2`)), w: w.get(`${prefix}.mlp.c_fc.weight`), bias: w.get(`${prefix}.mlp.c_fc.bias`), y: up, gelu: true, label: `${prefix}.mlp.c_fc` });
  matmul(ctx, { x: up, w: w.get(`${prefix}.mlp.c_proj.weight`), bias: w.get(`${prefix}.mlp.c_proj.bias`), y: s.x, accumulate: true, ...after(s, next), label });
}

/**
 * x ← x + out_proj(MHA(ln_1(x))) over whole sequences: self-attention, or with `kv` cross-attention to
 * given keys and values (q from x). Then ln_2 for the MLP that follows.
 */
export function attentionBlock(ctx: Ctx, prefix: string, s: Stream, tag: string, mask: AttentionMaskMode, aux?: AttnAux, kv?: { k: AttnInput; v: AttnInput; keys: number }): void {
  const { weights: w, arena } = ctx;
  const { batch, rows: L, width: D, heads } = s.dims;
  const M = batch * L;
  const out = arena.tensor(`${tag}.attn`, [M, D]);
  // LN(x): [M, D] → q, k, v [M, 3D] (or q [M, D]) → heads [M, D]
  sequenceAttention(ctx, {
    ...normalized(s, norm(w, `${prefix}.ln_1`)),
    w: w.get(`${prefix}.attn.in_proj_weight`),
    bias: w.get(`${prefix}.attn.in_proj_bias`),
    qkv: arena.tensor(kv ? `${tag}.q` : `${tag}.qkv`, [M, (kv ? 1 : 3) * D]),
    kv,
    out,
    heads,
    queries: L,
    batch,
    mask,
    aux,
    label: `${prefix}.attn`,
  });
  matmul(ctx, { x: out, w: w.get(`${prefix}.attn.out_proj.weight`), bias: w.get(`${prefix}.attn.out_proj.bias`), y: s.x, accumulate: true, ...after(s, norm(w, `${prefix}.ln_2`)), label: `${prefix}.attn.out_proj` });
}

/** A whole residual block: attention then MLP. `label` names the residual stream after it. */
export function residualBlock(ctx: Ctx, prefix: string, s: Stream, tag: string, mask: AttentionMaskMode, label: string, next: LayerNormOf | null, aux?: AttnAux): void {
  attentionBlock(ctx, prefix, s, tag, mask, aux);
  mlp(ctx, prefix, s, tag, label, next);
}
