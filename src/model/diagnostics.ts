// Passes used only by tests and benchmarks, never by inference: every named stage read back (debug mode),
// OpenCLIP's way of decoding (the whole text tower and decoder recomputed over the sequence at every step),
// and the cached decoder's logits under teacher forcing. They run on the model's own buffers, one at a time
// with its calls; `attach` compiles their extra pipelines first, so none is created late.
import type { PipelineSpec } from '../gpu/pipelines';
import { reshape, type Tensor } from '../gpu/tensor';
import { topK } from '../kernels/topk';
import type { Ctx } from './blocks';
import { splitRows, type CocaModel } from './coca';
import { CaptionDecoder } from './decoding';
import { recordCrossKV, recordDecodeStep, recordDecoder } from './decoder';
import { SOT } from './generate';
import { recordText } from './text';
import { recordVision, TOKENS_ONLY } from './vision';

export class ModelDiagnostics {
  private readonly decoding: CaptionDecoder;

  private constructor(private readonly model: CocaModel) {
    this.decoding = new CaptionDecoder(model);
  }

  /** Diagnostics over a loaded model, with the whole-sequence decoder's pipelines compiled. */
  static async attach(model: CocaModel): Promise<ModelDiagnostics> {
    const diagnostics = new ModelDiagnostics(model);
    const length = model.config.text.contextLength;
    const specs: PipelineSpec[] = [];
    // At full length and at one token: a few rows take other matmul variants.
    for (const tokens of [length, 1]) {
      for (const read of ['all', 'best'] as const) {
        const rec = model.gpu.recorder({ label: 'dry run' });
        diagnostics.recordRecompute(model.ctx(rec), model.act.get('tokens', 1, tokens), 1, tokens, read);
        specs.push(...rec.pipelineSpecs());
      }
    }
    await model.gpu.pipelines.prepare(specs);
    return diagnostics;
  }

  /**
   * Every named stage of an image and a text pass, read back step by step (debug mode): how a
   * parity problem is pinned to one layer. Keys are the recorder labels (vision.block0, …).
   */
  debugStages(image: Float32Array, tokens: Int32Array): Promise<Map<string, Float32Array>> {
    const m = this.model;
    return m.run(async () => {
      const rec = m.gpu.recorder({ label: 'debug', debug: true });
      const pixels = m.act.uploadPixels([image]);
      const ids = m.act.uploadTokens([tokens], m.config.text.contextLength);
      recordVision(m.ctx(rec), m.config, pixels, 1, m.poolerQueries);
      recordText(m.ctx(rec), m.config, ids, 1, m.config.text.contextLength, true);
      await rec.submit();
      return rec.debugOutputs;
    });
  }

  /**
   * OpenCLIP's way: the full text tower and decoder over `tokens[:length]` for each image/text pair,
   * returning the logits at every position [B][length·V]. Used for parity tests and as the baseline
   * that the cached decoder is measured against.
   */
  decoderLogits(images: readonly Float32Array[], tokens: readonly Int32Array[], length: number): Promise<Float32Array[]> {
    return this.model.run(async () => {
      await this.prepareImageTokens(images);
      return this.recompute(tokens, length, 'all');
    });
  }

  /**
   * The cost of one OpenCLIP-style decoding step at `length` tokens (the whole text tower and decoder
   * recomputed, the decoder's cross-attention K/V projections included, as OpenCLIP's decoder computes them
   * in every call) for an image encoded once; returns the milliseconds of each run.
   */
  timeRecompute(image: Float32Array, length: number, runs: number): Promise<number[]> {
    return this.model.run(async () => {
      const pooled = await this.prepareImageTokens([image]);
      const tokens = [Int32Array.from({ length }, (_, i) => (i === 0 ? SOT : 320 + i))];
      const times: number[] = [];
      for (let r = 0; r < runs; r++) {
        const start = performance.now();
        await this.recompute(tokens, length, 'best', pooled);
        times.push(performance.now() - start);
      }
      return times;
    });
  }

  /**
   * The next-token logits [tokens.length × V] when the cached decoder is fed `tokens` one step at a time
   * (teacher forcing). Captioning never reads logits back; tests compare these with decoderLogits().
   */
  cachedLogits(image: Float32Array, tokens: readonly number[]): Promise<Float32Array> {
    const m = this.model;
    return m.run(async () => {
      const caches = m.act.stepCaches(1);
      const V = m.config.decoder.vocabSize;
      const out = new Float32Array(tokens.length * V);
      await this.decoding.prepareImage(image);
      const ids = m.act.get('stepIds', 1);
      for (const [position, id] of tokens.entries()) {
        const rec = m.gpu.recorder({ label: 'cached logits step' });
        m.gpu.write(ids, Uint32Array.of(id));
        const logits = m.act.get('stepLogits', 1);
        recordDecodeStep(m.ctx(rec), m.config, ids, 1, position, caches, logits);
        const read = rec.read(logits);
        await rec.submit();
        out.set(new Float32Array(await read), position * V);
      }
      return out;
    });
  }

  /** Vision tower and per-layer cross-attention K/V for a batch (one submit); returns the vision tower's output. */
  private async prepareImageTokens(images: readonly Float32Array[]): Promise<Tensor> {
    const m = this.model;
    const rec = m.gpu.recorder({ label: 'image tokens' });
    const ctx = m.ctx(rec);
    const pooled = recordVision(ctx, m.config, m.act.uploadPixels(images), images.length, m.poolerQueries, TOKENS_ONLY).pooled!;
    recordCrossKV(ctx, m.config, pooled, images.length, (i) => m.act.at('fullCrossKV', [i], images.length));
    await rec.submit();
    return pooled;
  }

  /**
   * Text tower + decoder over whole sequences against the prepared images (one submit): OpenCLIP's
   * per-step work. 'all' reads every position's logits back; 'best' only the last position's best token,
   * as a generation step would. With `pooled`, the cross-attention K/V are projected again first, as
   * OpenCLIP's decoder does in every call.
   */
  private async recompute(tokens: readonly Int32Array[], length: number, read: 'all' | 'best', pooled?: Tensor): Promise<Float32Array[]> {
    const m = this.model;
    const rec = m.gpu.recorder({ label: 'decoder (full)' });
    const ctx = m.ctx(rec);
    const batch = tokens.length;
    if (pooled) recordCrossKV(ctx, m.config, pooled, batch, (i) => m.act.at('fullCrossKV', [i], batch));
    const result = this.recordRecompute(ctx, m.act.uploadTokens(tokens, length), batch, length, read);
    const bytes = rec.read(result);
    await rec.submit();
    return splitRows(new Float32Array(await bytes), batch);
  }

  /** Records the whole-sequence decoder over `ids` [batch, length]; returns what `read` asks for. */
  private recordRecompute(ctx: Ctx, ids: Tensor, batch: number, length: number, read: 'all' | 'best'): Tensor {
    const m = this.model;
    const V = m.config.decoder.vocabSize;
    const { x } = recordText(ctx, m.config, ids, batch, length, false);
    const logits = m.act.get('fullLogits', batch * length);
    recordDecoder(ctx, m.config, x, batch, length, (i) => m.act.at('fullCrossKV', [i], batch), { offset: 0, count: length }, logits);
    if (read === 'all') return logits;
    const indices = m.act.get('fullPickIds', batch);
    topK(ctx, { x: reshape(logits, [batch, length, V]), k: 1, indices, values: m.act.get('fullPickValues', batch), label: 'pick' });
    return indices;
  }
}
