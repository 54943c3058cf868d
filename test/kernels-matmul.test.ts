import { describe, expect, it } from 'vitest';
import { matmul } from '../src/kernels/matmul';
import { matmul as matmulRef } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

// f32 dot products of K terms, accumulated with fma in a different order than the float64 reference:
// the error grows like √K·ε·|terms|; 1e-5 of the output's magnitude covers K up to 3072 with margin.
const F32_REL = 1e-5;

interface Case {
  M: number;
  K: number;
  N: number;
  batch?: number;
  bias?: boolean;
  gelu?: boolean;
  accumulate?: boolean;
}

async function check(c: Case, dtype: 'f32' | 'f16x2', seed: number): Promise<void> {
  const gpu = await testGpu();
  const batch = c.batch ?? 1;
  const x = randn(batch * c.M * c.K, seed, 1);
  const w = randn(c.N * c.K, seed + 1, 1 / Math.sqrt(c.K));
  const b = randn(c.N, seed + 2, 0.5);
  const residual = randn(batch * c.M * c.N, seed + 3, 1);
  const tx = upload(gpu, x, [batch, c.M, c.K], 'f32', 'x');
  const tw = uploadWeights(gpu, w, [c.N, c.K], dtype);
  const tb = c.bias ? upload(gpu, b, [c.N], 'f32', 'b') : undefined;
  const ty = upload(gpu, c.accumulate ? residual : new Float32Array(batch * c.M * c.N), [batch, c.M, c.N], 'f32', 'y');
  const [got] = await run(
    gpu,
    (ctx) => matmul(ctx, { x: tx, w: tw.tensor, bias: tb, y: ty, batch, gelu: c.gelu, accumulate: c.accumulate, label: 'matmul' }),
    [ty],
  );
  const want = matmulRef(x, tw.seen, { M: c.M, K: c.K, N: c.N }, c.bias ? b : undefined, {
    batch,
    gelu: c.gelu,
    residual: c.accumulate ? residual : undefined,
  });
  expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
}

const CASES: Case[] = [
  { M: 1, K: 512, N: 49408, bias: false }, // the decoder's vocabulary projection (matrix-vector path)
  { M: 50, K: 768, N: 2304, bias: true }, // ViT-B/32 qkv
  { M: 50, K: 3072, N: 768, bias: true, accumulate: true }, // ViT-B/32 MLP down-projection + residual
  { M: 50, K: 768, N: 3072, bias: true, gelu: true }, // ViT-B/32 MLP up-projection + GELU
  { M: 7, K: 17, N: 255, bias: true },
  { M: 77, K: 48, N: 144, bias: true, batch: 3 },
  { M: 257, K: 7, N: 17, gelu: true, accumulate: true, bias: true },
  { M: 17, K: 1, N: 7 },
  { M: 3, K: 77, N: 50, bias: true, gelu: true, accumulate: true }, // a few beams: matrix-vector path
  { M: 2, K: 255, N: 257, batch: 3, bias: true }, // 6 rows over 3 batches fold into the matrix-vector path
];

describe('matmul y = x·Wᵀ + b', () => {
  for (const dtype of ['f32', 'f16x2'] as const) {
    CASES.forEach((c, i) => {
      const name = `${dtype} M=${c.M} K=${c.K} N=${c.N}${c.batch ? ` batch=${c.batch}` : ''}${c.bias ? ' +bias' : ''}${c.gelu ? ' +gelu' : ''}${c.accumulate ? ' +=' : ''}`;
      it(name, () => check(c, dtype, 100 + i * 7));
    });
  }

  it('uses a slice of the weight rows and writes into a strided slice of y', async () => {
    const gpu = await testGpu();
    const [M, K, N] = [5, 48, 144];
    const x = randn(M * K, 1, 1);
    const w = randn(N * K, 2, 0.2);
    const b = randn(N, 3, 1);
    const tx = upload(gpu, x, [M, K]);
    const tw = upload(gpu, w, [N, K]);
    const tb = upload(gpu, b, [N]);
    // y has room for 7 rows of 100 values; write rows 48..96 of W (the "k" third) at column 10.
    const ty = upload(gpu, new Float32Array(7 * 100).fill(-3), [7, 100]);
    const [got] = await run(
      gpu,
      (ctx) => matmul(ctx, { x: tx, w: tw, bias: tb, y: ty, wRowStart: 48, N: 48, yOffset: 10, yRowStride: 100, label: 'slice' }),
      [ty],
    );
    const full = matmulRef(x, w, { M, K, N }, b);
    for (let m = 0; m < 7; m++) {
      for (let c = 0; c < 100; c++) {
        const inside = m < M && c >= 10 && c < 58;
        const want = inside ? full[m * N + 48 + (c - 10)]! : -3;
        expect(Math.abs(got![m * 100 + c]! - want)).toBeLessThanOrEqual(inside ? F32_REL * 10 : 0);
      }
    }
  });
});
