import { describe, expect, it } from 'vitest';
import { argmax, topK } from '../src/kernels/topk';
import { argmax as argmaxRef, topK as topKRef } from './reference/cpu';
import { randn } from './reference/random';
import type { Gpu } from '../src/gpu/gpu';
import type { Tensor } from '../src/gpu/tensor';
import { testGpu, upload } from './helpers/gpu';

const VOCAB = 49408;
const END_TOKEN = 49407;

/** Logit-like rows with deliberate ties: a shared maximum in several places (two of them in one thread's stride) and tied runners-up. */
function rowsWithTies(B: number, N: number, seed: number): Float32Array {
  const x = randn(B * N, seed, 3);
  for (let b = 0; b < B; b++) {
    const row = x.subarray(b * N, (b + 1) * N);
    const top = 20 + b;
    for (const i of [4000 + b, 100, 100 + 256, N - 1]) row[i % N] = top;
    for (const i of [7, 263, 30000 % N, 1000 % N, 48000 % N]) row[i] = top - 1;
    row[12345 % N] = top - 2;
    row[END_TOKEN % N] = top + 5; // blocked in some cases below
  }
  return x;
}

/** The reference's top-k of each row (blocked column as −inf). */
function reference(x: Float32Array, B: number, N: number, k: number, blockId?: number): { indices: number[]; values: number[] } {
  const indices: number[] = [];
  const values: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Float64Array.from(x.subarray(b * N, (b + 1) * N));
    if (blockId !== undefined) row[blockId] = -Infinity;
    const top = topKRef(row, k);
    indices.push(...top.indices);
    values.push(...top.values);
  }
  return { indices, values };
}

async function gpuTopK(
  gpu: Gpu,
  x: Tensor,
  B: number,
  k: number,
  opts: { blockId?: number; position?: number; viaArgmax?: boolean } = {},
): Promise<{ indices: number[]; values: number[] }> {
  const indices = gpu.createTensor([B, k], 'u32', 'indices');
  const values = gpu.createTensor([B, k], 'f32', 'values');
  const rec = gpu.recorder();
  const ctx = { gpu, rec };
  if (opts.viaArgmax) argmax(ctx, { x, indices, values, blockId: opts.blockId, position: opts.position, label: 'argmax' });
  else topK(ctx, { x, k, indices, values, blockId: opts.blockId, position: opts.position, label: 'topk' });
  const reads = [rec.read(indices), rec.read(values)];
  await rec.submit();
  const [i, v] = await Promise.all(reads);
  return { indices: Array.from(new Uint32Array(i!)), values: Array.from(new Float32Array(v!)) };
}

describe('topK kernel', () => {
  const B = 3;
  const x = rowsWithTies(B, VOCAB, 1);
  for (const k of [1, 2, 6, 12, 32]) {
    it(`picks the top ${k} of ${B} rows of ${VOCAB} with ties (lower index first), with and without the end token blocked`, async () => {
      const gpu = await testGpu();
      const tx = upload(gpu, x, [B, VOCAB]);
      // Exact: values are copies of the inputs, and the order is decided by comparisons alone.
      expect(await gpuTopK(gpu, tx, B, k)).toEqual(reference(x, B, VOCAB, k));
      expect(await gpuTopK(gpu, tx, B, k, { blockId: END_TOKEN })).toEqual(reference(x, B, VOCAB, k, END_TOKEN));
    });
  }

  it('argmax finds a maximum at index 0 and at index 49407, and the first of equal maxima', async () => {
    const gpu = await testGpu();
    const rows = randn(4 * VOCAB, 2);
    rows[0] = 50; // row 0: max at 0
    rows[2 * VOCAB - 1] = 50; // row 1: max at 49407
    rows.fill(0, 2 * VOCAB, 3 * VOCAB); // row 2: all equal → 0
    rows[3 * VOCAB + 9] = 50; // row 3: equal maxima at 9 and 49407 → 9
    rows[4 * VOCAB - 1] = 50;
    const tx = upload(gpu, rows, [4, VOCAB]);
    const got = await gpuTopK(gpu, tx, 4, 1, { viaArgmax: true });
    expect(got.indices).toEqual([0, 49407, 0, 9]);
    for (let b = 0; b < 4; b++) expect(got.indices[b]).toBe(argmaxRef(rows.subarray(b * VOCAB, (b + 1) * VOCAB)));
    expect(got.values).toEqual([50, 50, 0, 50]);
    // Blocking 49407 in row 1 falls back to the best of the rest.
    const blocked = await gpuTopK(gpu, tx, 4, 1, { viaArgmax: true, blockId: END_TOKEN });
    expect(blocked.indices).toEqual(reference(rows, 4, VOCAB, 1, END_TOKEN).indices);
    expect(blocked.indices[1]).not.toBe(END_TOKEN);
  });

  it('picks from one position of [B, L, N] logits, on short awkward widths', async () => {
    const gpu = await testGpu();
    for (const N of [7, 50, 257]) {
      const [items, L, k] = [5, 3, Math.min(6, N - 1)];
      const logits = randn(items * L * N, N).map((v) => Math.round(v * 2) / 2); // coarse values: many ties
      const tx = upload(gpu, logits, [items, L, N]);
      for (const position of [0, L - 1]) {
        const picked = new Float32Array(items * N);
        for (let b = 0; b < items; b++) picked.set(logits.subarray((b * L + position) * N, (b * L + position + 1) * N), b * N);
        expect(await gpuTopK(gpu, tx, items, k, { position, blockId: 3 })).toEqual(reference(picked, items, N, k, 3));
      }
    }
  });
});
