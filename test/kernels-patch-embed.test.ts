import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../src/io/checkpoint';
import { openFileSource } from '../src/io/source-node';
import { patchEmbed } from '../src/kernels/patch-embed';
import { patchEmbed as patchEmbedRef } from './reference/cpu';
import { randn, uniform } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

/**
 * Each output is an f32 sum of K = C·P·P products (768 or 3072), accumulated in order by one thread
 * with fma: its rounding error is below K·2⁻²⁴·Σ|pixel·w| in the worst case and ~√K·2⁻²⁴·Σ|pixel·w|
 * in practice, so it is checked per element against Σ|pixel·w| (the reference on absolute values).
 * Measured ≤ 2e-7 of Σ|pixel·w| on both shapes.
 */
const PATCH_SUM_TOLERANCE = 1e-6;
/** The golden data's own bound for fp32 activations (golden/README.md). */
const GOLDEN_TOLERANCE = 1e-4;

const GOLDEN = new URL('../../shared/golden/coca-tiny/', import.meta.url);

interface Case {
  B: number;
  C: number;
  H: number;
  W: number;
  P: number;
  Wd: number;
}

/** Max over elements of |got − want| / Σ|pixel·w| (the rounding scale of that element's sum). */
function errorOverAbsSum(got: Float32Array, want: Float64Array, absSum: Float64Array): number {
  let worst = 0;
  want.forEach((w, i) => (worst = Math.max(worst, Math.abs(got[i]! - w) / absSum[i]!)));
  return worst;
}

function reference(pixels: Float32Array, weight: Float32Array, { B, C, H, W, P }: Case): { value: Float64Array; absSum: Float64Array } {
  const perImage = C * H * W;
  const images = Array.from({ length: B }, (_, b) => pixels.subarray(b * perImage, (b + 1) * perImage));
  const absWeight = weight.map(Math.abs);
  const concat = (parts: Float64Array[]) => {
    const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
    return all;
  };
  return {
    value: concat(images.map((img) => patchEmbedRef(img, weight, { C, H, W, P }))),
    absSum: concat(images.map((img) => patchEmbedRef(img.map(Math.abs), absWeight, { C, H, W, P }))),
  };
}

describe('patchEmbed kernel', () => {
  const cases: [string, Case][] = [
    ['CoCa-tiny (3 images 64×64, P16, C3 → 64)', { B: 3, C: 3, H: 64, W: 64, P: 16, Wd: 64 }],
    ['ViT-B/32 (one 224×224 image, P32, C3 → 768)', { B: 1, C: 3, H: 224, W: 224, P: 32, Wd: 768 }],
  ];
  for (const [name, shape] of cases) {
    for (const dtype of ['f32', 'f16x2'] as const) {
      it(`embeds ${name} with ${dtype} weights, alone and with positions after a class row (tiled), and through im2col + matmul`, async () => {
        const gpu = await testGpu();
        const { B, C, H, W, P, Wd } = shape;
        const patches = (H / P) * (W / P);
        const pixelValues = uniform(B * C * H * W, H + Wd, -1.8, 2.2); // the range of CLIP-normalized pixels
        const weightValues = randn(Wd * C * P * P, Wd, 0.02);
        const posValues = randn((patches + 1) * Wd, Wd + 1, 0.1);
        const pixels = upload(gpu, pixelValues, [B, C, H, W]);
        const weight = uploadWeights(gpu, weightValues, [Wd, C, P, P], dtype, 'conv1.weight');
        const pos = uploadWeights(gpu, posValues, [patches + 1, Wd], dtype, 'positional_embedding');
        const want = reference(pixelValues, weight.seen, shape);

        const plain = gpu.createTensor([B, patches, Wd], 'f32', 'patches');
        const viaRows = gpu.createTensor([B, patches, Wd], 'f32', 'patches via im2col');
        const scratch = gpu.createTensor([B, patches, C * P * P], 'f32', 'patch rows');
        const tokens = upload(gpu, new Float32Array(B * (patches + 1) * Wd).fill(NaN), [B, patches + 1, Wd], 'f32', 'tokens');
        const [gotPlain, gotViaRows, gotTokens] = await run(
          gpu,
          (ctx) => {
            patchEmbed(ctx, { pixels, weight: weight.tensor, out: plain, label: 'conv1', kernel: 'tiled' });
            patchEmbed(ctx, { pixels, weight: weight.tensor, out: viaRows, patches: scratch, label: 'conv1 im2col', kernel: 'im2col' });
            patchEmbed(ctx, { pixels, weight: weight.tensor, out: tokens, outRowOffset: 1, pos: pos.tensor, label: 'conv1 + pos', kernel: 'tiled' });
          },
          [plain, viaRows, tokens],
        );
        expect(errorOverAbsSum(gotPlain!, want.value, want.absSum)).toBeLessThanOrEqual(PATCH_SUM_TOLERANCE);
        expect(errorOverAbsSum(gotViaRows!, want.value, want.absSum)).toBeLessThanOrEqual(PATCH_SUM_TOLERANCE);

        // With positions: row 0 (the class token's) untouched, patch n at row n + 1 plus pos[n + 1].
        const withPos = new Float64Array(B * (patches + 1) * Wd).fill(NaN);
        const absWithPos = new Float64Array(withPos.length).fill(NaN);
        for (let b = 0; b < B; b++) {
          for (let n = 0; n < patches; n++) {
            for (let o = 0; o < Wd; o++) {
              const from = (b * patches + n) * Wd + o;
              const to = (b * (patches + 1) + n + 1) * Wd + o;
              withPos[to] = want.value[from]! + pos.seen[(n + 1) * Wd + o]!;
              absWithPos[to] = want.absSum[from]! + Math.abs(pos.seen[(n + 1) * Wd + o]!);
            }
          }
        }
        let untouched = true;
        let worst = 0;
        withPos.forEach((w, i) => {
          if (Number.isNaN(w)) untouched &&= Number.isNaN(gotTokens![i]!);
          else worst = Math.max(worst, Math.abs(gotTokens![i]! - w) / absWithPos[i]!);
        });
        expect(untouched).toBe(true);
        expect(worst).toBeLessThanOrEqual(PATCH_SUM_TOLERANCE);
      });
    }
  }

  it('reproduces OpenCLIP’s vision.patch_embeds on the golden CoCa-tiny images, with both variants', async () => {
    const gpu = await testGpu();
    const goldenFile = await openFileSource(fileURLToPath(new URL('golden.safetensors', GOLDEN)));
    const modelFile = await openFileSource(fileURLToPath(new URL('open_clip_model.safetensors', GOLDEN)));
    const golden = await openCheckpoint(goldenFile, 'safetensors', { skipDtypes: ['I64'] }); // text_tokens are int64
    const model = await openCheckpoint(modelFile);
    const pixels = upload(gpu, await golden.readF32('pixel_values'), [3, 3, 64, 64]);
    const weight = upload(gpu, await model.readF32('visual.conv1.weight'), [64, 3, 16, 16]);
    const want = await golden.readF32('vision.patch_embeds'); // [3, 16, 64]
    await Promise.all([goldenFile.close(), modelFile.close()]);
    for (const kernel of ['tiled', 'im2col'] as const) {
      const out = gpu.createTensor([3, 16, 64], 'f32', 'patches');
      const patches = gpu.createTensor([3, 16, 3 * 16 * 16], 'f32', 'patch rows');
      const [got] = await run(gpu, (ctx) => patchEmbed(ctx, { pixels, weight, out, patches, label: 'conv1', kernel }), [out]);
      expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(GOLDEN_TOLERANCE * Math.max(1, maxAbs(want)));
    }
  });
});
