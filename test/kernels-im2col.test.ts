import { describe, expect, it } from 'vitest';
import { im2col } from '../src/kernels/patch-embed/im2col';
import { matmul } from '../src/kernels/matmul';
import { patchEmbed as patchEmbedRef } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload } from './helpers/gpu';

// im2col only moves values (exact); the matmul after it sums C·P·P products in f32 (as the matmul tests).
const F32_REL = 1e-5;

describe('im2col + matmul = patch embedding', () => {
  for (const [batch, C, S, P, W] of [[3, 3, 64, 16, 64], [1, 3, 224, 32, 768], [2, 1, 28, 7, 17]] as const) {
    it(`${batch}×${C}×${S}×${S}, patch ${P}, width ${W}`, async () => {
      const gpu = await testGpu();
      const pixels = randn(batch * C * S * S, S + P, 1);
      const weight = randn(W * C * P * P, W, 0.05);
      const N = (S / P) ** 2;
      const K = C * P * P;
      const tp = upload(gpu, pixels, [batch, C, S, S]);
      const tw = upload(gpu, weight, [W, K]);
      const patches = gpu.createTensor([batch, N, K], 'f32', 'patches');
      const out = gpu.createTensor([batch, N, W], 'f32', 'out');
      const [rowsGot, got] = await run(gpu, (ctx) => {
        im2col(ctx, { pixels: tp, out: patches, patch: P, label: 'im2col' });
        matmul(ctx, { x: patches, w: tw, y: out, label: 'patches·Wᵀ' });
      }, [patches, out]);
      for (let b = 0; b < batch; b++) {
        const want = patchEmbedRef(pixels.subarray(b * C * S * S, (b + 1) * C * S * S), weight, { C, H: S, W: S, P });
        const have = got!.subarray(b * N * W, (b + 1) * N * W);
        expect(maxAbsDiff(have, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
      }
      // Patch 1 of image 0 starts at pixel (0, P) of channel 0: an exact copy.
      expect(rowsGot![K]).toBe(pixels[P]);
    });
  }
});
