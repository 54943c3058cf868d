// The text tower (text.*, token_embedding, cls_emb): causal transformer over the tokens, with CoCa's
// class token appended last. Outputs the text embedding (ln_final(class row) @ text_projection) and the
// per-token outputs (no ln_final) that the decoder reads.
import { reshape, type Tensor } from '../gpu/tensor';
import { embedding } from '../kernels/embedding';
import { l2Normalize } from '../kernels/l2norm';
import { layerNorm } from '../kernels/layernorm';
import { matmul } from '../kernels/matmul';
import { residualBlock, type Ctx } from './blocks';
import type { CocaConfig } from './config';

export interface TextOutputs {
  /** [T, L(+1), D]: the residual stream; rows 0..L−1 of each text are the token outputs. */
  x: Tensor;
  /** [T, E], L2-normalized; only with the class token. */
  features?: Tensor;
}

/**
 * tokens: u32 [T, L] (padded with 0). With `withClass`, the class token is appended (row L) and the
 * CoCa class mask applies; without it (captioning) the attention is plainly causal and no features come out.
 */
export function recordText(ctx: Ctx, config: CocaConfig, tokens: Tensor, texts: number, length: number, withClass: boolean): TextOutputs {
  const { weights: w, arena } = ctx;
  const t = config.text;
  const D = t.width;
  const rows = length + (withClass ? 1 : 0);
  const x = arena.tensor(withClass ? 'txt.x' : 'txt.x_tokens', [texts, rows, D]);
  const pos = w.get('text.positional_embedding');
  // x[:, :L] = token_embedding[tokens] + positional_embedding[:L]
  embedding(ctx, { table: w.get('text.token_embedding.weight'), ids: tokens, out: x, rows: length, batch: texts, idsBatchStride: length, outRowOffset: 0, outRows: rows, pos, posOffset: 0, label: 'text.token_embedding' });
  if (withClass) {
    // x[:, L] = cls_emb + positional_embedding[L]
    const zeros = arena.tensor('txt.zero_ids', [texts], 'u32');
    embedding(ctx, { table: reshape(w.get('text.cls_emb'), [1, D]), ids: zeros, out: x, rows: 1, batch: texts, idsBatchStride: 1, outRowOffset: length, outRows: rows, pos, posOffset: length, label: 'text.cls_emb' });
  }
  const dims = { batch: texts, rows, width: D, heads: t.heads };
  const aux = withClass ? { tensor: tokens, batchStride: length } : undefined;
  for (let i = 0; i < t.layers; i++) {
    residualBlock(ctx, `text.transformer.resblocks.${i}`, x, dims, 'txt', withClass ? 'coca-cls' : 'causal', `text.block${i}`, aux);
  }
  if (!withClass) return { x };
  // ln_final(x[:, L]) @ text_projection: [T, D] → [T, E]
  const pooled = arena.tensor('txt.pooled', [texts, 1, D]);
  layerNorm(ctx, { x, gamma: w.get('text.ln_final.weight'), beta: w.get('text.ln_final.bias'), y: pooled, rows: { offset: length, count: 1 }, label: 'text.ln_final' });
  const features = arena.tensor('txt.features', [texts, config.embedDim]);
  matmul(ctx, { x: pooled, w: w.get('text.text_projection'), y: features, label: 'text_features_unnormalized' });
  l2Normalize(ctx, { x: features, y: features, label: 'text_features' });
  return { x, features };
}
