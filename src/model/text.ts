// The text tower (text.*, token_embedding, cls_emb): causal transformer over the tokens, with CoCa's
// class token appended last. Outputs the text embedding (ln_final(class row) @ text_projection) and the
// per-token outputs (no ln_final) that the decoder reads.
import { reshape, type Tensor } from '../gpu/tensor';
import { embedding } from '../kernels/embedding';
import { features as projectFeatures } from '../kernels/features';
import { norm, openStream, residualBlock, type Ctx } from './blocks';
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
  const blocks = (i: number) => `text.transformer.resblocks.${i}`;
  const stream = openStream(ctx, x, { batch: texts, rows, width: D, heads: t.heads }, 'txt', norm(w, `${blocks(0)}.ln_1`), `${blocks(0)}.ln_1`);
  const aux = withClass ? { tensor: tokens, batchStride: length } : undefined;
  for (let i = 0; i < t.layers; i++) {
    residualBlock(ctx, blocks(i), stream, 'txt', withClass ? 'coca-cls' : 'causal', `text.block${i}`, i + 1 < t.layers ? norm(w, `${blocks(i + 1)}.ln_1`) : null, aux);
  }
  if (!withClass) return { x };
  // ln_final(x[:, L]) @ text_projection: [T, D] → [T, E], L2-normalized
  const features = arena.tensor('txt.features', [texts, config.embedDim]);
  const raw = arena.tensor('txt.features_raw', [texts, config.embedDim]);
  projectFeatures(ctx, { x, row: length, ln: norm(w, 'text.ln_final'), projection: w.get('text.text_projection'), raw, features, label: 'text_features_unnormalized' });
  return { x, features };
}
