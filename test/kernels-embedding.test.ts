import { describe, expect, it } from 'vitest';
import { TokenIdError } from '../src/errors';
import { assertIdsInRange, embedding } from '../src/kernels/embedding';
import { embeddingGather } from './reference/cpu';
import { randn, uniformInts } from './reference/random';
import { run, testGpu, upload, uploadWeights } from './helpers/gpu';

const VOCAB = 49408;

/** Expected output: gathered rows (+ positions) where ids are valid, zeros where not; other rows unchanged (NaN marks "never written"). */
function expected(
  table: Float32Array,
  D: number,
  ids: Int32Array,
  shape: { batch: number; rows: number; idsStride: number; outRows: number; outRowOffset: number },
  pos?: { values: Float32Array; offset: number },
): Float64Array {
  const { batch, rows, idsStride, outRows, outRowOffset } = shape;
  const out = new Float64Array(batch * outRows * D).fill(NaN);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < rows; i++) {
      const id = ids[b * idsStride + i]!;
      const at = (b * outRows + outRowOffset + i) * D;
      if (id < 0 || id >= table.length / D) {
        out.fill(0, at, at + D);
        continue;
      }
      const row = embeddingGather(table, Int32Array.of(id), D);
      for (let d = 0; d < D; d++) out[at + d] = row[d]! + (pos ? pos.values[(pos.offset + i) * D + d]! : 0);
    }
  }
  return out;
}

/** Gathering is a copy, and the positional add is one f32 addition of the same inputs: bit-identical. */
function expectIdentical(got: Float32Array, want: Float64Array): void {
  let mismatches = 0;
  let first = -1;
  want.forEach((w, i) => {
    const same = Number.isNaN(w) ? Number.isNaN(got[i]!) : got[i] === Math.fround(w);
    if (!same) {
      mismatches++;
      if (first < 0) first = i;
    }
  });
  expect(mismatches, `first mismatch at ${first}: ${got[first]} vs ${want[first]}`).toBe(0);
}

describe('embedding kernel', () => {
  for (const dtype of ['f32', 'f16x2'] as const) {
    for (const D of [48, 7]) {
      it(`gathers rows of a ${VOCAB}×${D} ${dtype} table, with and without positions, ids at the vocabulary's edges`, async () => {
        const gpu = await testGpu();
        const tableValues = randn(VOCAB * D, D, 0.02 * 50);
        const table = uploadWeights(gpu, tableValues, [VOCAB, D], dtype, 'token_embedding');
        const posValues = randn(77 * D, D + 1, 0.5);
        const pos = uploadWeights(gpu, posValues, [77, D], dtype, 'positional_embedding');
        const [batch, rows, outRows] = [3, 76, 77];
        const ids = uniformInts(batch * rows, D + 2, 0, VOCAB);
        ids.set([0, 49406, 49407], 0);
        ids.set([49407, 0], rows + 5);
        ids[2 * rows + rows - 1] = 49406;
        // NaN in the output buffer shows any row the kernel should not have touched (the class row 76).
        const initial = new Float32Array(batch * outRows * D).fill(NaN);
        for (const withPos of [false, true]) {
          const out = upload(gpu, initial, [batch, outRows, D]);
          const idsTensor = upload(gpu, Uint32Array.from(ids), [batch, rows], 'u32', 'ids');
          const [got] = await run(
            gpu,
            (ctx) => embedding(ctx, { table: table.tensor, ids: idsTensor, out, rows, pos: withPos ? pos.tensor : undefined, label: 'tokens' }),
            [out],
          );
          const shape = { batch, rows, idsStride: rows, outRows, outRowOffset: 0 };
          expectIdentical(got!, expected(table.seen, D, ids, shape, withPos ? { values: pos.seen, offset: 0 } : undefined));
        }
      });
    }
  }

  it("appends CoCa's cls_emb as row 76 of every text, plus position 76 (a [D] table, ids [0], stride 0)", async () => {
    const gpu = await testGpu();
    const [batch, outRows, D] = [4, 77, 48];
    const clsValues = randn(D, 31);
    const posValues = randn(77 * D, 32);
    const cls = upload(gpu, clsValues, [D]);
    const pos = upload(gpu, posValues, [77, D]);
    const zero = upload(gpu, new Uint32Array(1), [1], 'u32', 'zero id');
    // A flat [B·77, D] activation: items and rows per item given explicitly.
    const out = upload(gpu, new Float32Array(batch * outRows * D).fill(NaN), [batch * outRows, D]);
    const [got] = await run(
      gpu,
      (ctx) => embedding(ctx, { table: cls, ids: zero, idsBatchStride: 0, rows: 1, batch, outRows, out, outRowOffset: 76, pos, posOffset: 76, label: 'cls' }),
      [out],
    );
    const want = new Float64Array(batch * outRows * D).fill(NaN);
    for (let b = 0; b < batch; b++) for (let d = 0; d < D; d++) want[(b * outRows + 76) * D + d] = Math.fround(clsValues[d]! + posValues[76 * D + d]!);
    expectIdentical(got!, want);
  });

  it('writes zero rows for out-of-range ids (i32 −1 and 49408), never reading outside the table', async () => {
    const gpu = await testGpu();
    const D = 48;
    const tableValues = randn(VOCAB * D, 41);
    const table = upload(gpu, tableValues, [VOCAB, D]);
    const ids = Int32Array.from([5, -1, VOCAB, 49407, 2 ** 31 - 1]);
    const idsTensor = upload(gpu, ids, [1, ids.length], 'i32', 'ids');
    const out = gpu.createTensor([1, ids.length, D], 'f32', 'out');
    const [got] = await run(gpu, (ctx) => embedding(ctx, { table, ids: idsTensor, out, rows: ids.length, label: 'bad ids' }), [out]);
    expectIdentical(got!, expected(tableValues, D, ids, { batch: 1, rows: ids.length, idsStride: ids.length, outRows: ids.length, outRowOffset: 0 }));
  });

  it('assertIdsInRange accepts the vocabulary and names the first bad id', () => {
    expect(() => assertIdsInRange([0, 49406, 49407], VOCAB, 'text')).not.toThrow();
    expect(() => assertIdsInRange([0, 49408], VOCAB, 'text')).toThrow(TokenIdError);
    expect(() => assertIdsInRange([3, -1], VOCAB, 'text')).toThrow(/token id -1 at position 1/);
  });
});
