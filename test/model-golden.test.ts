// The tiny CoCa against OpenCLIP's own outputs (../shared/golden), from both checkpoint formats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CocaModel } from '../src/model/coca';
import { ModelDiagnostics } from '../src/model/diagnostics';
import type { ClipTokenizer } from '../src/text/index';
import { cosine, maxAbs, maxAbsDiff, testGpu } from './helpers/gpu';
import { golden, goldenJson, loadTiny, rows, tokenizer, WEIGHT_FILES, type GoldenJson } from './helpers/golden';

// golden/README.md: fp32 features and activations within 1e-4·max(1, max|ref|); logits within 1e-3·max(1, max|ref|).
const ACTIVATION_TOL = 1e-4;
const LOGIT_TOL = 1e-3;
// golden/README.md's bounds for fp16 weights.
const FP16_MIN_COSINE = 0.999;
const FP16_MARGIN = 0.5;

function expectClose(got: ArrayLike<number>, want: Float32Array, relTol: number, what: string): void {
  const bound = relTol * Math.max(1, maxAbs(want));
  const diff = maxAbsDiff(got, want);
  expect(diff, `${what}: max |diff| ${diff} > ${bound}`).toBeLessThanOrEqual(bound);
}

let info: GoldenJson;
let tok: ClipTokenizer;
let pixels: Float32Array[];
let tokens: Int32Array[];

beforeAll(async () => {
  info = await goldenJson();
  tok = await tokenizer();
  const all = await golden('pixel_values');
  const per = all.length / info.images.length;
  pixels = info.images.map((_, i) => all.slice(i * per, (i + 1) * per));
  tokens = tok.tokenize(info.texts, 76);
});

describe.each(WEIGHT_FILES)('coca-tiny from %s, fp32 weights', (file) => {
  let model: CocaModel;
  let diagnostics: ModelDiagnostics;
  beforeAll(async () => {
    model = await loadTiny(file, 'fp32');
    diagnostics = await ModelDiagnostics.attach(model);
  });
  afterAll(() => model.dispose());

  it('image and text features match OpenCLIP', async () => {
    const images = await model.encodeImages(pixels);
    const texts = await model.encodeTexts(tokens);
    expectClose(images.flatMap((f) => [...f]), await golden('image_features'), ACTIVATION_TOL, 'image_features');
    expectClose(texts.flatMap((f) => [...f]), await golden('text_features'), ACTIVATION_TOL, 'text_features');
    const sim = model.similarity(images, texts);
    expectClose(sim.logits.flat(), await golden('similarity_logits'), LOGIT_TOL, 'similarity_logits');
    expectClose(sim.probs.flat(), await golden('similarity_probs'), ACTIVATION_TOL, 'similarity_probs');
    expect(model.weights.logitScale).toBeCloseTo((await golden('logit_scale'))[0]!, 4);
  });

  it('every stage of the vision and text towers matches', async () => {
    for (let n = 0; n < info.images.length; n++) {
      const stages = await diagnostics.debugStages(pixels[n]!, tokens[Math.min(n, tokens.length - 1)]!);
      const W = 64;
      const D = 48;
      // Before the class token and the positional embedding, as OpenCLIP's conv1 output.
      expectClose(rows(stages.get('vision.patch_embeds')!, W, 1, 17), rows(await golden('vision.patch_embeds'), 16 * W, n, n + 1), ACTIVATION_TOL, 'vision.patch_embeds');
      for (const stage of ['vision.ln_pre', 'vision.block0', 'vision.block1']) {
        expectClose(stages.get(stage)!.subarray(0, 17 * W), rows(await golden(stage), 17 * W, n, n + 1), ACTIVATION_TOL, stage);
      }
      for (const stage of ['vision.attn_pool', 'vision.ln_post']) {
        expectClose(stages.get(stage)!.subarray(0, 9 * D), rows(await golden(stage), 9 * D, n, n + 1), ACTIVATION_TOL, stage);
      }
      expectClose(stages.get('image_features_unnormalized')!.subarray(0, D), rows(await golden('image_features_unnormalized'), D, n, n + 1), ACTIVATION_TOL, 'image_features_unnormalized');
      const t = Math.min(n, tokens.length - 1);
      expectClose(stages.get('text.block1')!.subarray(0, 76 * D), rows(await golden('text_token_embs'), 76 * D, t, t + 1), ACTIVATION_TOL, 'text_token_embs');
      expectClose(stages.get('text_features_unnormalized')!.subarray(0, D), rows(await golden('text_features_unnormalized'), D, t, t + 1), ACTIVATION_TOL, 'text_features_unnormalized');
    }
  });

  it('decoder logits at positions 0-7 match', async () => {
    const logits = await diagnostics.decoderLogits(pixels, tokens.slice(0, 3), 8);
    expectClose(logits.flatMap((l) => [...l]), await golden('decoder_logits_first8'), LOGIT_TOL, 'decoder_logits_first8');
  });

  it('greedy captions are identical to OpenCLIP (token ids and text)', async () => {
    for (const [i, ref] of info.greedy.captions.entries()) {
      const ids = await model.caption(pixels[i]!);
      expect(ids).toEqual(ref.tokens);
      expect(tok.captionText(ids)).toBe(ref.text);
    }
  });
});

describe('coca-tiny with fp16 weights meets the stated bounds', () => {
  let model: CocaModel;
  beforeAll(async () => {
    model = await loadTiny('open_clip_model.safetensors', 'fp16');
  });
  afterAll(() => model.dispose());

  it(`features have cosine ≥ ${FP16_MIN_COSINE} with the reference`, async () => {
    const images = await model.encodeImages(pixels);
    const texts = await model.encodeTexts(tokens);
    const refImages = await golden('image_features');
    const refTexts = await golden('text_features');
    images.forEach((f, i) => expect(cosine(f, rows(refImages, 48, i, i + 1))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
    texts.forEach((f, i) => expect(cosine(f, rows(refTexts, 48, i, i + 1))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
  });

  it(`captions agree up to the first step whose reference margin is ≤ ${FP16_MARGIN}`, async () => {
    for (const [i, ref] of info.greedy.captions.entries()) {
      const ids = await model.caption(pixels[i]!);
      const firstClose = ref.top2_margins.findIndex((m) => m <= FP16_MARGIN);
      // margins[s] decides token s + 1; tokens 0..firstClose are fixed by clear margins.
      const decided = firstClose < 0 ? ref.tokens.length : firstClose + 1;
      expect(decided).toBeGreaterThan(1);
      expect(ids.slice(0, decided)).toEqual(ref.tokens.slice(0, decided));
    }
  });
});

describe('coca-tiny with fp16 weights and f16 arithmetic (shader-f16) meets the stated bounds', () => {
  let model: CocaModel;
  beforeAll(async () => {
    const gpu = await testGpu();
    if (!gpu.device.features.has('shader-f16')) throw new Error('this adapter has no shader-f16: the f16 arithmetic path cannot be proven here');
    model = await loadTiny('open_clip_model.safetensors', 'fp16', 'f16');
  });
  afterAll(() => model?.dispose());

  it(`features have cosine ≥ ${FP16_MIN_COSINE} and captions agree up to the first margin ≤ ${FP16_MARGIN}`, async () => {
    const images = await model.encodeImages(pixels);
    const texts = await model.encodeTexts(tokens);
    const refImages = await golden('image_features');
    images.forEach((f, i) => expect(cosine(f, rows(refImages, 48, i, i + 1))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
    const refTexts = await golden('text_features');
    texts.forEach((f, i) => expect(cosine(f, rows(refTexts, 48, i, i + 1))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
    for (const [i, ref] of info.greedy.captions.entries()) {
      const ids = await model.caption(pixels[i]!);
      const firstClose = ref.top2_margins.findIndex((m) => m <= FP16_MARGIN);
      const decided = firstClose < 0 ? ref.tokens.length : firstClose + 1;
      expect(ids.slice(0, decided)).toEqual(ref.tokens.slice(0, decided));
    }
  });
});
