import { describe, expect, it } from 'vitest';
import { add } from '../src/kernels/add';
import { run, testGpu, upload } from './helpers/gpu';

describe('add kernel', () => {
  it('adds with broadcast, out of place and in place, on an awkward length', async () => {
    const gpu = await testGpu();
    const rows = 7;
    const width = 257;
    const a = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i) * 3);
    const b = Float32Array.from({ length: width }, (_, i) => Math.cos(i) - 0.5);
    const ta = upload(gpu, a, [rows, width]);
    const tb = upload(gpu, b, [width]);
    const out = gpu.createTensor([rows, width], 'f32', 'out');
    const [sum] = await run(gpu, (ctx) => add(ctx, { a: ta, b: tb, out, label: 'add' }), [out]);
    const [inPlace] = await run(gpu, (ctx) => add(ctx, { a: ta, b: tb, out: ta, label: 'add in place' }), [ta]);
    for (let i = 0; i < a.length; i++) {
      // Both sides round one f32 addition of the same f32 inputs: results are bit-identical.
      expect(sum![i]).toBe(Math.fround(a[i]! + b[i % width]!));
      expect(inPlace![i]).toBe(Math.fround(a[i]! + b[i % width]!));
    }
  });
});
