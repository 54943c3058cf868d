import { describe, expect, it } from 'vitest';
import { l2Normalize } from '../src/kernels/l2norm';
import { l2Normalize as l2NormalizeRef } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbsDiff, run, testGpu, upload } from './helpers/gpu';

/** Unit rows (entries ≤ 1): a tree sum of ≤ 1024 squares, a sqrt and a division: a few ulps of 1 (measured ≤ 2.5e-8). */
const L2_TOLERANCE = 1e-7;

describe('l2Normalize kernel', () => {
  for (const [rows, D] of [[1, 48], [3, 48], [7, 512], [4, 768], [2, 1024], [5, 257]] as const) {
    it(`scales ${rows} rows of width ${D} to unit length, out of place and in place`, async () => {
      const gpu = await testGpu();
      const x = randn(rows * D, rows * 100 + D, 7).map((v, i) => v + (i % 5)); // rows with norms ≫ 1
      const want = l2NormalizeRef(x, D);
      const tx = upload(gpu, x, [rows, D]);
      const y = gpu.createTensor([rows, D], 'f32', 'y');
      const [outOfPlace] = await run(gpu, (ctx) => l2Normalize(ctx, { x: tx, y, label: 'l2' }), [y]);
      const [inPlace] = await run(gpu, (ctx) => l2Normalize(ctx, { x: tx, y: tx, label: 'l2 in place' }), [tx]);
      expect(maxAbsDiff(outOfPlace!, want)).toBeLessThanOrEqual(L2_TOLERANCE);
      expect(maxAbsDiff(inPlace!, outOfPlace!)).toBe(0);
    });
  }

  it('leaves an all-zero row at zero (the norm is clamped at 1e-12, as torch.nn.functional.normalize)', async () => {
    const gpu = await testGpu();
    const x = new Float32Array(2 * 48);
    x.set(randn(48, 3), 48);
    const tx = upload(gpu, x, [2, 48]);
    const [got] = await run(gpu, (ctx) => l2Normalize(ctx, { x: tx, y: tx, label: 'l2 zero row' }), [tx]);
    expect(maxAbsDiff(got!.subarray(0, 48), new Float64Array(48))).toBe(0);
    expect(maxAbsDiff(got!.subarray(48), l2NormalizeRef(x.subarray(48), 48))).toBeLessThanOrEqual(L2_TOLERANCE);
  });
});
