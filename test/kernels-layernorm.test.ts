import { describe, expect, it } from 'vitest';
import { layerNorm, type LayerNormKernel } from '../src/kernels/layernorm';
import { layerNorm as layerNormRef } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

/**
 * f32 LayerNorm: tree-summed mean and variance (a few ulps) and a handful of roundings per output give
 * ≤ 2.5e-7 of max|y| on every shape here (measured); 1e-6 of max|y| keeps a 4× margin.
 */
const LN_TOLERANCE = 1e-6;
const EPS = 1e-5;

/** A row whose mean (3) is large next to its spread, so the centring really matters. */
function rowsOf(rows: number, D: number, seed: number): Float32Array {
  return randn(rows * D, seed, 2).map((v) => v + 3);
}

/** Elements where got differs from want(i) at all (for results that must be bit-identical). */
function countMismatches(got: Float32Array, want: (i: number) => number, length: number): number {
  let count = 0;
  for (let i = 0; i < length; i++) if (got[i] !== want(i)) count++;
  return count;
}

/** Every case runs on both kernels, whatever the adapter would pick. */
const KERNELS: readonly LayerNormKernel[] = ['gpu', 'cpu'];

describe.each(KERNELS)('layerNorm kernel (%s)', (kernel) => {
  // 50: not a multiple of 4, so the CPU kernel takes its scalar path.
  for (const D of [48, 50, 64, 768, 3072]) {
    for (const rows of [1, 7, 77, 257]) {
      it(`normalizes ${rows}×${D}, plain and fused with a residual, f32 and fp16 γ/β`, async () => {
        const gpu = await testGpu();
        const x = rowsOf(rows, D, D * 1000 + rows);
        const r = randn(rows * D, D * 1000 + rows + 1, 0.5);
        const gammaValues = randn(D, D + 2, 0.3).map((v) => v + 1);
        const betaValues = randn(D, D + 3, 0.2);
        for (const dtype of ['f32', 'f16x2'] as const) {
          const gamma = uploadWeights(gpu, gammaValues, [D], dtype, 'gamma');
          const beta = uploadWeights(gpu, betaValues, [D], dtype, 'beta');
          const tx = upload(gpu, x, [rows, D]);
          const y = gpu.createTensor([rows, D], 'f32', 'y');
          const [plain] = await run(gpu, (ctx) => layerNorm(ctx, { x: tx, gamma: gamma.tensor, beta: beta.tensor, y, label: 'ln', kernel }), [y]);
          const want = layerNormRef(x, gamma.seen, beta.seen, EPS);
          expect(maxAbsDiff(plain!, want.out)).toBeLessThanOrEqual(LN_TOLERANCE * maxAbs(want.out));

          const tr = upload(gpu, r, [rows, D]);
          const [fused, sum] = await run(
            gpu,
            (ctx) => layerNorm(ctx, { x: tx, residual: tr, gamma: gamma.tensor, beta: beta.tensor, y, label: 'ln residual', kernel }),
            [y, tx],
          );
          const wantFused = layerNormRef(x, gamma.seen, beta.seen, EPS, r);
          // The written-back sum is one f32 addition of the same f32 inputs: bit-identical.
          expect(countMismatches(sum!, (i) => Math.fround(x[i]! + r[i]!), x.length)).toBe(0);
          expect(maxAbsDiff(fused!, wantFused.out)).toBeLessThanOrEqual(LN_TOLERANCE * maxAbs(wantFused.out));
        }
      });
    }
  }

  it('normalizes only the selected row of each item into a compact output (the text class token)', async () => {
    const gpu = await testGpu();
    const [B, L, D] = [3, 77, 48];
    const x = rowsOf(B * L, D, 11);
    const gammaValues = randn(D, 12, 0.3).map((v) => v + 1);
    const betaValues = randn(D, 13, 0.2);
    const tx = upload(gpu, x, [B, L, D]);
    const gamma = upload(gpu, gammaValues, [D]);
    const beta = upload(gpu, betaValues, [D]);
    const y = gpu.createTensor([B, D], 'f32', 'y');
    const [got] = await run(gpu, (ctx) => layerNorm(ctx, { x: tx, gamma, beta, y, rows: { offset: L - 1, count: 1 }, label: 'ln last', kernel }), [y]);
    for (let b = 0; b < B; b++) {
      const row = x.subarray((b * L + L - 1) * D, (b * L + L) * D);
      const want = layerNormRef(row, gammaValues, betaValues, EPS).out;
      expect(maxAbsDiff(got!.subarray(b * D, (b + 1) * D), want)).toBeLessThanOrEqual(LN_TOLERANCE * maxAbs(want));
    }
  });

  it('normalizes in place, leaving rows outside the selection untouched', async () => {
    const gpu = await testGpu();
    const [B, L, D] = [2, 17, 768];
    const x = rowsOf(B * L, D, 21);
    const gammaValues = randn(D, 22, 0.3).map((v) => v + 1);
    const betaValues = randn(D, 23, 0.2);
    const tx = upload(gpu, x, [B, L, D]);
    const gamma = upload(gpu, gammaValues, [D]);
    const beta = upload(gpu, betaValues, [D]);
    const [got] = await run(gpu, (ctx) => layerNorm(ctx, { x: tx, gamma, beta, y: tx, rows: { offset: 1, count: L - 1 }, label: 'ln in place', kernel }), [tx]);
    const want = layerNormRef(x, gammaValues, betaValues, EPS).out;
    const tolerance = LN_TOLERANCE * maxAbs(want);
    for (let b = 0; b < B; b++) {
      for (let d = 0; d < D; d++) expect(got![b * L * D + d]).toBe(x[b * L * D + d]); // row 0 is not selected
      const rows = [(b * L + 1) * D, (b + 1) * L * D] as const;
      expect(maxAbsDiff(got!.subarray(...rows), want.subarray(...rows))).toBeLessThanOrEqual(tolerance);
    }
  });

  it('adds a positional table and a class row in place first (the vision tower: class token, positions, ln_pre)', async () => {
    const gpu = await testGpu();
    for (const [B, L, D] of [[3, 17, 64], [2, 5, 50], [1, 50, 768]] as const) {
      for (const dtype of ['f32', 'f16x2'] as const) {
        const x = rowsOf(B * L, D, 40 + D);
        const pos = uploadWeights(gpu, randn(L * D, 41 + D, 0.5), [L, D], dtype, 'positional_embedding');
        const cls = uploadWeights(gpu, randn(D, 42 + D, 1).map((v) => v + 2), [D], dtype, 'class_embedding');
        const gammaValues = randn(D, 43 + D, 0.3).map((v) => v + 1);
        const betaValues = randn(D, 44 + D, 0.2);
        const tx = upload(gpu, x, [B, L, D]);
        const [got] = await run(
          gpu,
          (ctx) => layerNorm(ctx, { x: tx, gamma: upload(gpu, gammaValues, [D]), beta: upload(gpu, betaValues, [D]), y: tx, positions: pos.tensor, classRow: cls.tensor, label: 'ln_pre', kernel }),
          [tx],
        );
        const input = new Float64Array(B * L * D);
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < L; i++) {
            for (let d = 0; d < D; d++) input[(b * L + i) * D + d] = (i === 0 ? cls.seen[d]! : x[(b * L + i) * D + d]!) + pos.seen[i * D + d]!;
          }
        }
        const want = layerNormRef(input, gammaValues, betaValues, EPS).out;
        expect(maxAbsDiff(got!, want), `${B}×${L}×${D} ${dtype}`).toBeLessThanOrEqual(LN_TOLERANCE * maxAbs(want));
      }
    }
  });
});
