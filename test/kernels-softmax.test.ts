import { describe, expect, it } from 'vitest';
import { softmax } from '../src/kernels/softmax';
import { softmaxRows } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbsDiff, run, testGpu, upload } from './helpers/gpu';

/**
 * Per element, in f32 ulps of the value itself (2⁻²⁴·y): exp(v) is exp2(v·log₂e) on GPUs, whose rounded
 * product costs |v|·2⁻²⁴ relative (WGSL allows 3 + 2|v| ulps), so the bound grows with v = x − max;
 * the sum of ≤ 49,408 positive terms (per-thread chains, then a tree) and the division add a few ulps.
 * Measured ≤ 16 ulps + |v| at N = 49,408 (≤ 5 at N ≤ 257).
 */
const SOFTMAX_ULPS = 32;

/** max over elements of |y − want| / (want·2⁻²⁴) − |x − max|: the error beyond exp's argument rounding. */
function excessUlps(got: Float32Array, want: Float64Array, x: Float32Array, N: number): number {
  let worst = 0;
  for (let row = 0; row < want.length / N; row++) {
    let max = -Infinity;
    for (let j = 0; j < N; j++) max = Math.max(max, x[row * N + j]!);
    for (let j = 0; j < N; j++) {
      const i = row * N + j;
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (want[i]! * 2 ** -24) - Math.abs(x[i]! - max));
    }
  }
  return worst;
}

describe('softmax kernel', () => {
  for (const N of [1, 7, 257, 49408]) {
    const rows = N === 49408 ? 3 : 5;
    it(`normalizes ${rows} rows of width ${N}, out of place and in place`, async () => {
      const gpu = await testGpu();
      // Logit-like rows on a large offset: without the max shift, exp(x) would overflow f32.
      const x = randn(rows * N, N, 4).map((v, i) => v + 100 + 10 * (i % 3));
      const want = softmaxRows(x, N);
      const tx = upload(gpu, x, [rows, N]);
      const y = gpu.createTensor([rows, N], 'f32', 'y');
      const [outOfPlace] = await run(gpu, (ctx) => softmax(ctx, { x: tx, y, label: 'softmax' }), [y]);
      const [inPlace] = await run(gpu, (ctx) => softmax(ctx, { x: tx, y: tx, label: 'softmax in place' }), [tx]);
      expect(excessUlps(outOfPlace!, want, x, N)).toBeLessThanOrEqual(SOFTMAX_ULPS);
      expect(maxAbsDiff(inPlace!, outOfPlace!)).toBe(0); // the same arithmetic in the same order
    });
  }

  it('gives zero-shot probabilities for similarity logits [3, 4] (spread 100·cos)', async () => {
    const gpu = await testGpu();
    const logits = Float32Array.from([21.5, 25.25, 19, 30.75, 28, 27.9, 12, 28.1, -3, 0, 4.5, 4.5]);
    const tx = upload(gpu, logits, [3, 4]);
    const [got] = await run(gpu, (ctx) => softmax(ctx, { x: tx, y: tx, label: 'probs' }), [tx]);
    expect(excessUlps(got!, softmaxRows(logits, 4), logits, 4)).toBeLessThanOrEqual(SOFTMAX_ULPS);
  });
});
