// features(): l2normalize(LN(x[:, row])·Pᵀ) in one dispatch, and the projection before normalizing, against
// the float64 references (CoCa's image and text features).
import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/errors';
import { features } from '../src/kernels/features';
import { l2Normalize as l2NormalizeRef, layerNorm as layerNormRef, matmul as matmulRef } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

// A LayerNorm (≤ 2.5e-7 of its output measured) then D ≤ 768-term f32 dot products and one division
// by the norm: 1e-5 of the largest value, as for the matmul.
const F32_REL = 1e-5;
const EPS = 1e-5;

interface Case {
  B: number;
  L: number;
  D: number;
  E: number;
  row: number;
  ln: boolean;
}

const CASES: [string, Case][] = [
  ['CoCa-tiny image features (pooled row 0, ln_post)', { B: 3, L: 9, D: 48, E: 48, row: 0, ln: true }],
  ['CoCa-tiny text features (class row 76, ln_final)', { B: 4, L: 77, D: 48, E: 48, row: 76, ln: true }],
  ['ViT-B/32 image features', { B: 2, L: 256, D: 512, E: 512, row: 0, ln: true }],
  ['an awkward width, no LayerNorm', { B: 1, L: 7, D: 50, E: 7, row: 3, ln: false }],
];

describe('features', () => {
  for (const [name, c] of CASES) {
    for (const dtype of ['f32', 'f16x2'] as const) {
      it(`${name}, ${dtype} projection`, async () => {
        const gpu = await testGpu();
        const x = randn(c.B * c.L * c.D, c.D + c.row, 1).map((v) => v + 1);
        const gamma = randn(c.D, 1, 0.3).map((v) => v + 1);
        const beta = randn(c.D, 2, 0.2);
        const p = uploadWeights(gpu, randn(c.E * c.D, 3 + c.E, 1 / Math.sqrt(c.D)), [c.E, c.D], dtype, 'proj');
        const raw = gpu.createTensor([c.B, c.E], 'f32', 'raw');
        const out = gpu.createTensor([c.B, c.E], 'f32', 'features');
        const [gotRaw, gotFeatures] = await run(
          gpu,
          (ctx) =>
            features(ctx, {
              x: upload(gpu, x, [c.B, c.L, c.D]),
              row: c.row,
              ln: c.ln ? { gamma: upload(gpu, gamma, [c.D]), beta: upload(gpu, beta, [c.D]) } : undefined,
              projection: p.tensor,
              raw,
              features: out,
              label: 'features',
            }),
          [raw, out],
        );
        const rows = new Float32Array(c.B * c.D);
        for (let b = 0; b < c.B; b++) rows.set(x.subarray((b * c.L + c.row) * c.D, (b * c.L + c.row + 1) * c.D), b * c.D);
        const input = c.ln ? layerNormRef(rows, gamma, beta, EPS).out : rows;
        const wantRaw = matmulRef(input, p.seen, { M: c.B, K: c.D, N: c.E });
        expect(maxAbsDiff(gotRaw!, wantRaw)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(wantRaw)));
        expect(maxAbsDiff(gotFeatures!, l2NormalizeRef(wantRaw, c.E))).toBeLessThanOrEqual(F32_REL);
      });
    }
  }

  it('a zero row gives zero features (the norm is clamped at 1e-12, as torch.nn.functional.normalize)', async () => {
    const gpu = await testGpu();
    const raw = gpu.createTensor([1, 5], 'f32', 'raw');
    const out = gpu.createTensor([1, 5], 'f32', 'features');
    const [gotFeatures] = await run(gpu, (ctx) => features(ctx, { x: upload(gpu, new Float32Array(2 * 8), [1, 2, 8]), row: 1, projection: upload(gpu, randn(40, 9), [5, 8]), raw, features: out, label: 'zero' }), [out]);
    expect([...gotFeatures!]).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses a row outside the items and a projection of the wrong width', async () => {
    const gpu = await testGpu();
    const t = (shape: number[]) => gpu.createTensor(shape, 'f32', 't');
    const base = { x: t([2, 3, 8]), row: 0, projection: t([5, 8]), raw: t([2, 5]), features: t([2, 5]), label: 'bad' };
    expect(() => features({ gpu, rec: gpu.recorder() }, { ...base, row: 3 })).toThrow(ShapeError);
    expect(() => features({ gpu, rec: gpu.recorder() }, { ...base, projection: t([5, 7]) })).toThrow(/is not \[E, 8\]/);
  });
});
