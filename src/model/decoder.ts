// The multimodal decoder (text_decoder.*): causal self-attention over the text tokens, cross-attention
// to the image tokens, per layer; then ln_final and the vocabulary projection.
// Two ways to run it: over whole sequences (`recordDecoder`, what OpenCLIP does at every step), and
// one position at a time against per-layer K/V caches (`recordDecodeStep`), which gives the same numbers.
import type { Tensor } from '../gpu/tensor';
import { stepAttention } from '../kernels/attention';
import type { LayerNormOf } from '../kernels/common';
import { embedding } from '../kernels/embedding';
import { matmul } from '../kernels/matmul';
import { attentionBlock, mlp, norm, normalizedProduct, openStream, residualBlock, type Ctx, type Stream } from './blocks';
import type { CocaConfig } from './config';

/**
 * Per image, per decoder layer: K and V of ln_1_kv(image tokens), [B, Q−1, 2D] (k | v per row).
 * pooled: [B, Q, D] from the vision tower; its rows 1.. are the image tokens.
 */
export function recordCrossKV(ctx: Ctx, config: CocaConfig, pooled: Tensor, batch: number, target: (layer: number) => Tensor): void {
  const w = ctx.weights;
  const D = config.decoder.width;
  const Q = config.vision.poolerQueries;
  for (let i = 0; i < config.decoder.layers; i++) {
    const p = `text_decoder.cross_attn.${i}`;
    // ln_1_kv(rows 1..) [B·(Q−1), D] → [B·(Q−1), 2D]: rows D..3D of in_proj (k then v)
    normalizedProduct(ctx, { ...pooled, shape: [batch, Q, D] }, { offset: 1, count: Q - 1 }, norm(w, `${p}.ln_1_kv`), { w: w.get(`${p}.attn.in_proj_weight`), bias: w.get(`${p}.attn.in_proj_bias`), wRowStart: D, N: 2 * D, y: target(i), label: `${p}.attn.kv` }, 'dec.img_ln');
  }
}

/** x ← x + out_proj(MHA(q = ln_1(x), k, v = the image's cached K/V)), then the block's MLP. */
function crossBlock(ctx: Ctx, config: CocaConfig, layer: number, s: Stream, kv: Tensor, kvBatchStride: number, tag: string, next: LayerNormOf): void {
  const p = `text_decoder.cross_attn.${layer}`;
  const D = s.dims.width;
  attentionBlock(ctx, p, s, tag, 'none', undefined, {
    k: { tensor: kv, offset: 0, rowStride: 2 * D, batchStride: kvBatchStride },
    v: { tensor: kv, offset: D, rowStride: 2 * D, batchStride: kvBatchStride },
    keys: config.vision.poolerQueries - 1,
  });
  mlp(ctx, p, s, tag, `decoder.cross${layer}`, next);
}

/**
 * Whole sequences: x [B, L, D] (the text tower's token outputs, modified in place) and the image K/V
 * per layer ([B, Q−1, 2D]) → logits of rows `pick` of every sequence, [B·count, V].
 */
export function recordDecoder(ctx: Ctx, config: CocaConfig, x: Tensor, batch: number, length: number, crossKV: (layer: number) => Tensor, pick: { offset: number; count: number }, logits: Tensor): void {
  const w = ctx.weights;
  const dec = config.decoder;
  const D = dec.width;
  const self = (i: number) => `text_decoder.resblocks.${i}`;
  const s = openStream(ctx, x, { batch, rows: length, width: D, heads: dec.heads }, 'dec', norm(w, `${self(0)}.ln_1`), `${self(0)}.ln_1`);
  const kvBatchStride = (config.vision.poolerQueries - 1) * 2 * D;
  const lnFinal = norm(w, 'text_decoder.ln_final');
  for (let i = 0; i < dec.layers; i++) {
    residualBlock(ctx, self(i), s, 'dec', 'causal', `decoder.block${i}`, norm(w, `text_decoder.cross_attn.${i}.ln_1`));
    crossBlock(ctx, config, i, s, crossKV(i), kvBatchStride, 'dec', i + 1 < dec.layers ? norm(w, `${self(i + 1)}.ln_1`) : lnFinal);
  }
  // ln_final(x[rows]) @ vocabulary projection → logits [B·count, V]
  const rows = { M: pick.count, batch, xOffset: pick.offset * D, xBatchStride: length * D };
  matmul(ctx, { ...(s.h ? { x: s.h } : { x, ln: lnFinal }), ...rows, w: w.get('text_decoder.text_projection'), y: logits, label: 'decoder.logits' });
}

/** The caches of one caption: R rows (beams) × maxLength positions, per layer, k | v interleaved per row. */
export interface StepCaches {
  text: (layer: number) => Tensor;
  decoder: (layer: number) => Tensor;
  /** [Q−1, 2D] per decoder layer for the image being captioned (shared by all rows). */
  cross: (layer: number) => Tensor;
  maxLength: number;
}

/**
 * x ← x + out_proj(MHA(ln_1(x))) for one new position per row: self-attention against the row's cache
 * (this position's k and v written into it first), or cross-attention (`crossKeys`) to the image's K/V.
 */
function stepAttentionBlock(ctx: Ctx, prefix: string, s: Stream, cache: { tensor: Tensor; batchStride: number }, position: number, crossKeys?: number): void {
  const { weights: w, arena } = ctx;
  const { batch: R, width: D, heads } = s.dims;
  const out = arena.tensor('step.attn', [R, D]);
  stepAttention(ctx, {
    x: { ...s.x, shape: [R, D] },
    ln: norm(w, `${prefix}.ln_1`),
    w: w.get(`${prefix}.attn.in_proj_weight`),
    bias: w.get(`${prefix}.attn.in_proj_bias`),
    cache: { tensor: cache.tensor, rowStride: 2 * D, batchStride: cache.batchStride },
    position,
    crossKeys,
    out,
    heads,
    rows: R,
    label: `${prefix}.attn`,
  });
  matmul(ctx, { x: out, w: w.get(`${prefix}.attn.out_proj.weight`), bias: w.get(`${prefix}.attn.out_proj.bias`), y: s.x, accumulate: true, label: `${prefix}.attn.out_proj` });
}

/**
 * One decoding step: ids [R] (u32) at `position` → logits [R, V] for the next token, updating the
 * text tower's and the decoder's caches at `position`. The class token is never computed: it is last
 * and attention is causal, so no earlier row depends on it. Every LayerNorm but the last is folded into the
 * product or attention that reads it (a step's few rows are normalized in each workgroup's prologue).
 */
export function recordDecodeStep(ctx: Ctx, config: CocaConfig, ids: Tensor, rowsR: number, position: number, caches: StepCaches, logits: Tensor): void {
  const { weights: w, arena } = ctx;
  const t = config.text;
  const dec = config.decoder;
  const D = t.width;
  const x = arena.tensor('step.x', [rowsR, 1, D]);
  embedding(ctx, { table: w.get('text.token_embedding.weight'), ids, out: x, rows: 1, batch: rowsR, idsBatchStride: 1, outRowOffset: 0, outRows: 1, pos: w.get('text.positional_embedding'), posOffset: position, label: 'step.token_embedding' });
  const s: Stream = { x, h: null, dims: { batch: rowsR, rows: 1, width: D, heads: t.heads } };
  const ownCache = (tensor: Tensor) => ({ tensor, batchStride: caches.maxLength * 2 * D });
  for (let i = 0; i < t.layers; i++) {
    const p = `text.transformer.resblocks.${i}`;
    stepAttentionBlock(ctx, p, s, ownCache(caches.text(i)), position);
    mlp(ctx, p, s, 'step', `step.text.block${i}`, null);
  }
  const d: Stream = { x, h: null, dims: { batch: rowsR, rows: 1, width: dec.width, heads: dec.heads } };
  for (let i = 0; i < dec.layers; i++) {
    const p = `text_decoder.resblocks.${i}`;
    stepAttentionBlock(ctx, p, d, ownCache(caches.decoder(i)), position);
    mlp(ctx, p, d, 'step', `step.decoder.block${i}`, null);
    const c = `text_decoder.cross_attn.${i}`;
    stepAttentionBlock(ctx, c, d, { tensor: caches.cross(i), batchStride: 0 }, position, config.vision.poolerQueries - 1);
    mlp(ctx, c, d, 'step', `decoder.cross${i}`, null);
  }
  // ln_final(x) @ vocabulary projection → logits [R, V]. On CPU adapters the LayerNorm stays a pass of its
  // own here: folded into the CPU kernel's 1544 column tiles it cost ~20% more than the pass (llvmpipe).
  normalizedProduct(ctx, x, { offset: 0, count: 1 }, norm(w, 'text_decoder.ln_final'), { w: w.get('text_decoder.text_projection'), y: logits, label: 'decoder.logits' }, 'step.final');
}
