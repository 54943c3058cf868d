// The multimodal decoder (text_decoder.*): causal self-attention over the text tokens, cross-attention
// to the image tokens, per layer; then ln_final and the vocabulary projection.
// Two ways to run it: over whole sequences (`recordDecoder`, what OpenCLIP does at every step), and
// one position at a time against per-layer K/V caches (`recordDecodeStep`), which gives the same numbers.
import type { Tensor } from '../gpu/tensor';
import { attention } from '../kernels/attention';
import { embedding } from '../kernels/embedding';
import { layerNorm } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import { mlp, residualBlock, type Ctx, type Dims } from './blocks';
import type { CocaConfig } from './config';

/**
 * Per image, per decoder layer: K and V of ln_1_kv(image tokens), [B, Q−1, 2D] (k | v per row).
 * pooled: [B, Q, D] from the vision tower; its rows 1.. are the image tokens.
 */
export function recordCrossKV(ctx: Ctx, config: CocaConfig, pooled: Tensor, batch: number, target: (layer: number) => Tensor): void {
  const { weights: w, arena } = ctx;
  const D = config.decoder.width;
  const Q = config.vision.poolerQueries;
  const normed = arena.tensor('dec.img_ln', [batch, Q - 1, D]);
  for (let i = 0; i < config.decoder.layers; i++) {
    const p = `text_decoder.cross_attn.${i}`;
    layerNorm(ctx, { x: pooled, gamma: w.get(`${p}.ln_1_kv.weight`), beta: w.get(`${p}.ln_1_kv.bias`), y: normed, rows: { offset: 1, count: Q - 1 }, label: `${p}.ln_1_kv` });
    // [B·(Q−1), D] → [B·(Q−1), 2D]: rows D..3D of in_proj (k then v)
    matmul(ctx, { x: normed, w: w.get(`${p}.attn.in_proj_weight`), bias: w.get(`${p}.attn.in_proj_bias`), wRowStart: D, N: 2 * D, y: target(i), label: `${p}.attn.kv` });
  }
}

/** x ← x + out_proj(MHA(q = ln_1(x), k, v = the image's cached K/V)), then the block's MLP. */
function crossBlock(ctx: Ctx, config: CocaConfig, layer: number, x: Tensor, d: Dims, kv: Tensor, kvBatchStride: number, tag: string): void {
  const { weights: w, arena } = ctx;
  const p = `text_decoder.cross_attn.${layer}`;
  const D = d.width;
  const M = d.batch * d.rows;
  const h = arena.tensor(`${tag}.h`, [M, D]);
  const q = arena.tensor(`${tag}.q`, [M, D]);
  const heads = arena.tensor(`${tag}.attn`, [M, D]);
  const imageTokens = config.vision.poolerQueries - 1;
  layerNorm(ctx, { x, gamma: w.get(`${p}.ln_1.weight`), beta: w.get(`${p}.ln_1.bias`), y: h, label: `${p}.ln_1` });
  matmul(ctx, { x: h, w: w.get(`${p}.attn.in_proj_weight`), bias: w.get(`${p}.attn.in_proj_bias`), N: D, y: q, label: `${p}.attn.q` });
  attention(ctx, {
    q: { tensor: q, rowStride: D, batchStride: d.rows * D },
    k: { tensor: kv, offset: 0, rowStride: 2 * D, batchStride: kvBatchStride },
    v: { tensor: kv, offset: D, rowStride: 2 * D, batchStride: kvBatchStride },
    out: { tensor: heads, rowStride: D, batchStride: d.rows * D },
    heads: d.heads,
    headDim: D / d.heads,
    queries: d.rows,
    keys: imageTokens,
    batch: d.batch,
    mask: 'none',
    label: `${p}.attn`,
  });
  matmul(ctx, { x: heads, w: w.get(`${p}.attn.out_proj.weight`), bias: w.get(`${p}.attn.out_proj.bias`), y: x, accumulate: true, label: `${p}.attn.out_proj` });
  mlp(ctx, p, x, d, tag, `decoder.cross${layer}`);
}

/** ln_final(x[rows]) @ vocabulary projection → logits [count per sequence × B, V]. */
function recordLogits(ctx: Ctx, config: CocaConfig, x: Tensor, batch: number, pick: { offset: number; count: number }, logits: Tensor): void {
  const { weights: w, arena } = ctx;
  const D = config.decoder.width;
  const normed = arena.tensor('dec.final', [batch, pick.count, D]);
  layerNorm(ctx, { x, gamma: w.get('text_decoder.ln_final.weight'), beta: w.get('text_decoder.ln_final.bias'), y: normed, rows: pick, label: 'text_decoder.ln_final' });
  matmul(ctx, { x: normed, w: w.get('text_decoder.text_projection'), y: logits, label: 'decoder.logits' });
}

/**
 * Whole sequences: x [B, L, D] (the text tower's token outputs, modified in place) and the image K/V
 * per layer ([B, Q−1, 2D]) → logits of rows `pick` of every sequence, [B·count, V].
 */
export function recordDecoder(ctx: Ctx, config: CocaConfig, x: Tensor, batch: number, length: number, crossKV: (layer: number) => Tensor, pick: { offset: number; count: number }, logits: Tensor): void {
  const dec = config.decoder;
  const dims = { batch, rows: length, width: dec.width, heads: dec.heads };
  const kvBatchStride = (config.vision.poolerQueries - 1) * 2 * dec.width;
  for (let i = 0; i < dec.layers; i++) {
    residualBlock(ctx, `text_decoder.resblocks.${i}`, x, dims, 'dec', 'causal', `decoder.block${i}`);
    crossBlock(ctx, config, i, x, dims, crossKV(i), kvBatchStride, 'dec');
  }
  recordLogits(ctx, config, x, batch, pick, logits);
}

/** The caches of one caption: R rows (beams) × maxLength positions, per layer, k | v interleaved per row. */
export interface StepCaches {
  text: (layer: number) => Tensor;
  decoder: (layer: number) => Tensor;
  /** [Q−1, 2D] per decoder layer for the image being captioned (shared by all rows). */
  cross: (layer: number) => Tensor;
  maxLength: number;
}

/** Self-attention of one new position per row against its cache: writes this position's k, v first. */
function cachedSelfAttention(ctx: Ctx, prefix: string, x: Tensor, rowsR: number, D: number, heads: number, cache: Tensor, maxLength: number, position: number, tag: string): void {
  const { weights: w, arena } = ctx;
  const h = arena.tensor(`${tag}.h`, [rowsR, D]);
  const q = arena.tensor(`${tag}.q`, [rowsR, D]);
  const out = arena.tensor(`${tag}.attn`, [rowsR, D]);
  const rowStride = 2 * D;
  const beamStride = maxLength * rowStride;
  layerNorm(ctx, { x, gamma: w.get(`${prefix}.ln_1.weight`), beta: w.get(`${prefix}.ln_1.bias`), y: h, label: `${prefix}.ln_1` });
  const inProj = w.get(`${prefix}.attn.in_proj_weight`);
  const inBias = w.get(`${prefix}.attn.in_proj_bias`);
  matmul(ctx, { x: h, w: inProj, bias: inBias, N: D, y: q, label: `${prefix}.attn.q` });
  // k | v of this position go to row `position` of each beam's cache.
  matmul(ctx, { x: h, w: inProj, bias: inBias, wRowStart: D, N: 2 * D, y: cache, yOffset: position * rowStride, yRowStride: beamStride, label: `${prefix}.attn.kv` });
  attention(ctx, {
    q: { tensor: q, rowStride: D, batchStride: D },
    k: { tensor: cache, offset: 0, rowStride, batchStride: beamStride },
    v: { tensor: cache, offset: D, rowStride, batchStride: beamStride },
    out: { tensor: out, rowStride: D, batchStride: D },
    heads,
    headDim: D / heads,
    queries: 1,
    keys: position + 1,
    batch: rowsR,
    queryPos0: position,
    mask: 'causal',
    label: `${prefix}.attn`,
  });
  matmul(ctx, { x: out, w: w.get(`${prefix}.attn.out_proj.weight`), bias: w.get(`${prefix}.attn.out_proj.bias`), y: x, accumulate: true, label: `${prefix}.attn.out_proj` });
}

/**
 * One decoding step: ids [R] (u32) at `position` → logits [R, V] for the next token, updating the
 * text tower's and the decoder's caches at `position`. The class token is never computed: it is last
 * and attention is causal, so no earlier row depends on it.
 */
export function recordDecodeStep(ctx: Ctx, config: CocaConfig, ids: Tensor, rowsR: number, position: number, caches: StepCaches, logits: Tensor): void {
  const { weights: w, arena } = ctx;
  const t = config.text;
  const dec = config.decoder;
  const D = t.width;
  const x = arena.tensor('step.x', [rowsR, 1, D]);
  embedding(ctx, { table: w.get('text.token_embedding.weight'), ids, out: x, rows: 1, batch: rowsR, idsBatchStride: 1, outRowOffset: 0, outRows: 1, pos: w.get('text.positional_embedding'), posOffset: position, label: 'step.token_embedding' });
  const dims = { batch: rowsR, rows: 1, width: D, heads: t.heads };
  for (let i = 0; i < t.layers; i++) {
    const p = `text.transformer.resblocks.${i}`;
    cachedSelfAttention(ctx, p, x, rowsR, D, t.heads, caches.text(i), caches.maxLength, position, 'step');
    mlp(ctx, p, x, dims, 'step', `step.text.block${i}`);
  }
  const decDims = { batch: rowsR, rows: 1, width: dec.width, heads: dec.heads };
  for (let i = 0; i < dec.layers; i++) {
    const p = `text_decoder.resblocks.${i}`;
    cachedSelfAttention(ctx, p, x, rowsR, dec.width, dec.heads, caches.decoder(i), caches.maxLength, position, 'step');
    mlp(ctx, p, x, decDims, 'step', `step.decoder.block${i}`);
    crossBlock(ctx, config, i, x, decDims, caches.cross(i), 0, 'step');
  }
  recordLogits(ctx, config, x, rowsR, { offset: 0, count: 1 }, logits);
}
