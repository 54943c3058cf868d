// The vision tower (visual.*): patches → transformer → attentional pooler → ln_post.
// Output: the image embedding (row 0 @ proj) and the image tokens (rows 1..Q−1) the decoder attends to.
import type { Tensor } from '../gpu/tensor';
import { add } from '../kernels/add';
import { attention } from '../kernels/attention';
import { embedding } from '../kernels/embedding';
import { l2Normalize } from '../kernels/l2norm';
import { layerNorm } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import { patchEmbed, patchEmbedScratch } from '../kernels/patch-embed';
import { residualBlock, type Ctx } from './blocks';
import type { CocaConfig } from './config';
import { POOL_BIAS } from './weights';

export interface VisionOutputs {
  /** [B, E], L2-normalized. */
  features: Tensor;
  /** [B, Q, D] after ln_post: row 0 is the pooled embedding, rows 1.. are the image tokens. */
  pooled: Tensor;
}

/** Rows of the pooler queries after ln_q and the q projection: independent of the image, computed once at load. */
export function recordPoolerQueries(ctx: Ctx, config: CocaConfig, out: Tensor): void {
  const w = ctx.weights;
  const Q = config.vision.poolerQueries;
  const D = config.embedDim;
  const normed = ctx.arena.tensor('pool.query_ln', [Q, D]);
  layerNorm(ctx, { x: w.get('visual.attn_pool.query'), gamma: w.get('visual.attn_pool.ln_q.weight'), beta: w.get('visual.attn_pool.ln_q.bias'), y: normed, label: 'visual.attn_pool.ln_q' });
  // [Q, D] → [Q, D] with the q rows of in_proj_bias
  matmul(ctx, { x: normed, w: w.get('visual.attn_pool.attn.q_proj_weight'), bias: w.get(`${POOL_BIAS}.q`), y: out, label: 'visual.attn_pool.q' });
}

/** pixels: [B, 3, S, S] normalized → features and pooled tokens. */
export function recordVision(ctx: Ctx, config: CocaConfig, pixels: Tensor, batch: number, poolerQueries: Tensor): VisionOutputs {
  const { weights: w, arena } = ctx;
  const v = config.vision;
  const grid = v.imageSize / v.patchSize;
  const L = grid * grid + 1; // patches + class token
  const W = v.width;
  const D = config.embedDim;
  const Q = v.poolerQueries;
  const x = arena.tensor('vis.x', [batch, L, W]);

  // x[:, 1:, :] = conv1(pixels) (on CPU adapters through patch rows in scratch, then a matmul)
  const scratch = patchEmbedScratch(ctx.gpu, batch, L - 1, 3 * v.patchSize * v.patchSize);
  const patches = scratch ? arena.tensor('vis.patches', scratch) : undefined;
  patchEmbed(ctx, { pixels, weight: w.get('visual.conv1.weight'), out: x, outRowOffset: 1, patches, label: 'vision.patch_embeds' });
  // x[:, 0, :] = class_embedding; then x += positional_embedding (every row, as OpenCLIP adds it)
  const zeros = arena.tensor('vis.zero_ids', [batch], 'u32');
  embedding(ctx, { table: w.get('visual.class_embedding'), ids: zeros, out: x, rows: 1, batch, idsBatchStride: 1, outRowOffset: 0, outRows: L, label: 'visual.class_embedding' });
  add(ctx, { a: x, b: w.get('visual.positional_embedding'), out: x, label: 'visual.positional_embedding' });
  layerNorm(ctx, { x, gamma: w.get('visual.ln_pre.weight'), beta: w.get('visual.ln_pre.bias'), y: x, label: 'vision.ln_pre' });

  const dims = { batch, rows: L, width: W, heads: v.heads };
  for (let i = 0; i < v.layers; i++) {
    residualBlock(ctx, `visual.transformer.resblocks.${i}`, x, dims, 'vis', 'none', `vision.block${i}`);
  }

  // Attentional pooler: keys/values from ln_k(x) [B, L, W]; fixed queries [Q, D].
  const kvIn = arena.tensor('vis.pool_kv_in', [batch * L, W]);
  const keys = arena.tensor('vis.pool_k', [batch * L, D]);
  const values = arena.tensor('vis.pool_v', [batch * L, D]);
  layerNorm(ctx, { x, gamma: w.get('visual.attn_pool.ln_k.weight'), beta: w.get('visual.attn_pool.ln_k.bias'), y: kvIn, label: 'visual.attn_pool.ln_k' });
  // [B·L, W] → [B·L, D]
  matmul(ctx, { x: kvIn, w: w.get('visual.attn_pool.attn.k_proj_weight'), bias: w.get(`${POOL_BIAS}.k`), y: keys, label: 'visual.attn_pool.k' });
  matmul(ctx, { x: kvIn, w: w.get('visual.attn_pool.attn.v_proj_weight'), bias: w.get(`${POOL_BIAS}.v`), y: values, label: 'visual.attn_pool.v' });
  const heads = arena.tensor('vis.pool_heads', [batch * Q, D]);
  attention(ctx, {
    q: { tensor: poolerQueries, rowStride: D, batchStride: 0 },
    k: { tensor: keys, rowStride: D, batchStride: L * D },
    v: { tensor: values, rowStride: D, batchStride: L * D },
    out: { tensor: heads, rowStride: D, batchStride: Q * D },
    heads: v.poolerHeads,
    headDim: D / v.poolerHeads,
    queries: Q,
    keys: L,
    batch,
    mask: 'none',
    label: 'visual.attn_pool.attn',
  });
  const pooled = arena.tensor('vis.pooled', [batch, Q, D]);
  matmul(ctx, { x: heads, w: w.get('visual.attn_pool.attn.out_proj.weight'), bias: w.get('visual.attn_pool.attn.out_proj.bias'), y: pooled, label: 'vision.attn_pool' });
  layerNorm(ctx, { x: pooled, gamma: w.get('visual.ln_post.weight'), beta: w.get('visual.ln_post.bias'), y: pooled, label: 'vision.ln_post' });

  // Row 0 of each image @ proj: [B, D] → [B, E]
  const features = arena.tensor('vis.features', [batch, config.embedDim]);
  matmul(ctx, { x: pooled, M: batch, xRowStride: Q * D, w: w.get('visual.proj'), y: features, label: 'image_features_unnormalized' });
  l2Normalize(ctx, { x: features, y: features, label: 'image_features' });
  return { features, pooled };
}
