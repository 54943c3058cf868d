// The vision tower (visual.*): patches → transformer → attentional pooler → ln_post.
// Output: the image embedding (row 0 @ proj) and the image tokens (rows 1..Q−1) the decoder attends to.
import { adjacentRows, type Tensor } from '../gpu/tensor';
import { attention } from '../kernels/attention';
import { features as projectFeatures } from '../kernels/features';
import { layerNorm } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import { patchEmbed, patchEmbedScratch } from '../kernels/patch-embed';
import { norm, normalizedProduct, openStream, residualBlock, type Ctx } from './blocks';
import type { CocaConfig } from './config';
import { POOL_BIAS } from './weights';

export interface VisionOutputs {
  /** [B, E], L2-normalized; null unless asked for. */
  features: Tensor | null;
  /** [B, Q, D] after ln_post (row 0 the pooled embedding, rows 1.. the image tokens); null unless asked for. */
  pooled: Tensor | null;
}

/** What a pass needs: the image embeddings, the image tokens after ln_post (captions), or both. */
export interface VisionWants {
  features: boolean;
  tokens: boolean;
}

/** Rows of the pooler queries after ln_q and the q projection: independent of the image, computed once at load. */
export function recordPoolerQueries(ctx: Ctx, config: CocaConfig, out: Tensor): void {
  const w = ctx.weights;
  const Q = config.vision.poolerQueries;
  // ln_q(query) [Q, D] → [Q, D] with the q rows of in_proj_bias
  const query = w.get('visual.attn_pool.query');
  normalizedProduct(ctx, { ...query, shape: [1, Q, config.embedDim] }, { offset: 0, count: Q }, norm(w, 'visual.attn_pool.ln_q'), { w: w.get('visual.attn_pool.attn.q_proj_weight'), bias: w.get(`${POOL_BIAS}.q`), y: out, label: 'visual.attn_pool.q' }, 'pool.query_ln');
}

/** pixels: [B, 3, S, S] normalized → features and/or the pooled tokens (both by default). */
/** What an image encode needs: the embeddings only. */
export const FEATURES_ONLY: VisionWants = { features: true, tokens: false };
/** What a caption needs: the image tokens only. */
export const TOKENS_ONLY: VisionWants = { features: false, tokens: true };

export function recordVision(ctx: Ctx, config: CocaConfig, pixels: Tensor, batch: number, poolerQueries: Tensor, wants: VisionWants = { features: true, tokens: true }): VisionOutputs {
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
  // x[:, 0, :] = class_embedding; x += positional_embedding (every row, as OpenCLIP adds it); x = ln_pre(x)
  layerNorm(ctx, { x, ...norm(w, 'visual.ln_pre'), y: x, positions: w.get('visual.positional_embedding'), classRow: w.get('visual.class_embedding'), label: 'vision.ln_pre' });

  const blocks = (i: number) => `visual.transformer.resblocks.${i}`;
  const stream = openStream(ctx, x, { batch, rows: L, width: W, heads: v.heads }, 'vis', norm(w, `${blocks(0)}.ln_1`), `${blocks(0)}.ln_1`);
  const lnK = norm(w, 'visual.attn_pool.ln_k');
  for (let i = 0; i < v.layers; i++) {
    residualBlock(ctx, blocks(i), stream, 'vis', 'none', `vision.block${i}`, i + 1 < v.layers ? norm(w, `${blocks(i + 1)}.ln_1`) : lnK);
  }

  // Attentional pooler: keys/values from ln_k(x) [B·L, W] → [B·L, 2D] (k | v per row); fixed queries [Q, D].
  const kv = arena.tensor('vis.pool_kv', [batch * L, 2 * D]);
  const input = stream.h ? { x: stream.h } : { x, ln: lnK };
  const kWeight = w.get('visual.attn_pool.attn.k_proj_weight');
  const vWeight = w.get('visual.attn_pool.attn.v_proj_weight');
  const kvWeight = adjacentRows(kWeight, vWeight);
  if (kvWeight) {
    // k_proj and v_proj lie back to back in the weight buffer: one product for both, with the k and v thirds of in_proj_bias.
    matmul(ctx, { ...input, w: kvWeight, bias: w.get(POOL_BIAS), biasStart: D, y: kv, label: 'visual.attn_pool.kv' });
  } else {
    matmul(ctx, { ...input, w: kWeight, bias: w.get(`${POOL_BIAS}.k`), y: kv, yRowStride: 2 * D, label: 'visual.attn_pool.k' });
    matmul(ctx, { ...input, w: vWeight, bias: w.get(`${POOL_BIAS}.v`), y: kv, yOffset: D, yRowStride: 2 * D, label: 'visual.attn_pool.v' });
  }
  const heads = arena.tensor('vis.pool_heads', [batch * Q, D]);
  attention(ctx, {
    q: { tensor: poolerQueries, rowStride: D, batchStride: 0 },
    k: { tensor: kv, rowStride: 2 * D, batchStride: L * 2 * D },
    v: { tensor: kv, offset: D, rowStride: 2 * D, batchStride: L * 2 * D },
    out: { tensor: heads, rowStride: D, batchStride: Q * D },
    heads: v.poolerHeads,
    headDim: D / v.poolerHeads,
    queries: Q,
    keys: L,
    batch,
    mask: 'none',
    label: 'visual.attn_pool.attn',
  });
  const attnPool = arena.tensor('vis.attn_pool', [batch, Q, D]);
  matmul(ctx, { x: heads, w: w.get('visual.attn_pool.attn.out_proj.weight'), bias: w.get('visual.attn_pool.attn.out_proj.bias'), y: attnPool, label: 'vision.attn_pool' });
  const lnPost = norm(w, 'visual.ln_post');
  let pooled: Tensor | null = null;
  if (wants.tokens) {
    pooled = arena.tensor('vis.pooled', [batch, Q, D]);
    layerNorm(ctx, { x: attnPool, ...lnPost, y: pooled, label: 'vision.ln_post' });
  }
  let features: Tensor | null = null;
  if (wants.features) {
    // ln_post(row 0 of each image) @ proj: [B, D] → [B, E], L2-normalized
    features = arena.tensor('vis.features', [batch, config.embedDim]);
    const raw = arena.tensor('vis.features_raw', [batch, config.embedDim]);
    projectFeatures(ctx, { x: attnPool, row: 0, ln: lnPost, projection: w.get('visual.proj'), raw, features, label: 'image_features_unnormalized' });
  }
  return { features, pooled };
}
