import { describe, expect, it } from 'vitest';
import { ShapeError } from '../src/errors';
import type { Gpu } from '../src/gpu/gpu';
import type { Tensor } from '../src/gpu/tensor';
import { ATTENTION_MAX_KEYS, attention, type AttentionArgs, type AttentionKernel } from '../src/kernels/attention';
import { run, testGpu, upload } from './helpers/gpu';
import { attention as referenceAttention, type AttentionMask } from './reference/cpu';
import { randn, uniformInts } from './reference/random';

// f32 scores (≤ 128-term dot products), f32 exp after max subtraction and ≤ 2048-term p·v sums (chunked)
// stay near 1e-6 of the largest output; 1e-5 leaves room without hiding an indexing or masking bug.
const TOLERANCE = 1e-5;
/** Queries are scaled up so the softmax is peaked, not nearly uniform, and masking errors show. */
const QUERY_SCALE = 2;
const START = 49406;
const END = 49407;

/** Asserts max|gpu − ref| ≤ TOLERANCE·max|ref| over the given (gpu index, ref index) pairs. */
function expectClose(gpu: Float32Array, gpuIndex: (i: number) => number, ref: Float64Array, what: string): void {
  let scale = 0;
  for (const r of ref) scale = Math.max(scale, Math.abs(r));
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < ref.length; i++) {
    const error = Math.abs(gpu[gpuIndex(i)]! - ref[i]!);
    if (!(error <= worst)) {
      worst = error;
      worstAt = i;
    }
  }
  expect(scale, `${what}: reference is all zero`).toBeGreaterThan(0);
  expect(worst / scale, `${what}: worst at ref[${worstAt}] gpu ${gpu[gpuIndex(worstAt)]} ref ${ref[worstAt]}`).toBeLessThanOrEqual(TOLERANCE);
}

/** Rows of several [rows, width_i] blocks side by side: [rows, Σ width_i] (a fused qkv output). */
function sideBySide(blocks: readonly Float32Array[], rows: number): Float32Array {
  const widths = blocks.map((b) => b.length / rows);
  const stride = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * stride);
  for (let r = 0; r < rows; r++) {
    let column = 0;
    blocks.forEach((b, i) => {
      out.set(b.subarray(r * widths[i]!, (r + 1) * widths[i]!), r * stride + column);
      column += widths[i]!;
    });
  }
  return out;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every case runs on both kernels, whatever the adapter would pick. */
const KERNELS: readonly AttentionKernel[] = ['gpu', 'cpu'];

async function runAttention(gpu: Gpu, kernel: AttentionKernel, args: Omit<AttentionArgs, 'label' | 'kernel'>): Promise<Float32Array> {
  const [out] = await run(gpu, (ctx) => attention(ctx, { ...args, label: 'test', kernel }), [args.out.tensor]);
  return out!;
}

interface SelfAttentionCase {
  length: number;
  heads: number;
  headDim: number;
  batch: number;
  mask: 'none' | 'causal' | 'coca-cls';
  /** Per batch item, [length − 1] tokens for 'coca-cls'. */
  tokens?: Int32Array[];
  seed: number;
}

/** Self-attention reading q, k and v out of one packed [batch, L, 3D] tensor, bound three times. */
async function checkPackedSelfAttention(gpu: Gpu, kernel: AttentionKernel, c: SelfAttentionCase): Promise<void> {
  const { length: L, heads, headDim, batch, mask } = c;
  const D = heads * headDim;
  const items = Array.from({ length: batch }, (_, b) => ({
    q: randn(L * D, c.seed + 10 * b, QUERY_SCALE),
    k: randn(L * D, c.seed + 10 * b + 1),
    v: randn(L * D, c.seed + 10 * b + 2),
  }));
  const qkv = upload(gpu, concat(items.map((it) => sideBySide([it.q, it.k, it.v], L))), [batch, L, 3 * D], 'f32', 'qkv');
  const out = gpu.createTensor([batch, L, D], 'f32', 'out');
  const view = (column: number) => ({ tensor: qkv, offset: column, rowStride: 3 * D, batchStride: L * 3 * D });
  const tokens = c.tokens && upload(gpu, Uint32Array.from(c.tokens.flatMap((t) => [...t])), [batch, L - 1], 'u32', 'tokens');
  const result = await runAttention(gpu, kernel, {
    q: view(0),
    k: view(D),
    v: view(2 * D),
    out: { tensor: out, rowStride: D, batchStride: L * D },
    heads,
    headDim,
    queries: L,
    keys: L,
    batch,
    mask,
    aux: tokens && { tensor: tokens, batchStride: L - 1 },
  });
  items.forEach((it, b) => {
    const ref = referenceAttention({ ...it, heads, headDim, mask, tokens: c.tokens?.[b] });
    expectClose(result, (i) => b * L * D + i, ref, `L=${L} H=${heads} dh=${headDim} ${mask} batch item ${b}`);
  });
}

/** CLIP-style token rows of `length` ids: start, `words` random ids, end, then padding. */
function paddedTokens(length: number, words: number, seed: number): Int32Array {
  const tokens = new Int32Array(length);
  tokens.set(uniformInts(words, seed, 1, START), 1);
  tokens[0] = START;
  tokens[Math.min(words + 1, length - 1)] = END;
  return tokens;
}

/** Hard cases for the class row's one-token shift: no padding, almost all, and padding between words. */
function tokenPatterns(length: number, seed: number): Int32Array[] {
  const full = paddedTokens(length, length - 2, seed);
  const onlyStart = new Int32Array(length);
  onlyStart[0] = START;
  const typical = paddedTokens(length, Math.floor(length / 3), seed + 1);
  const scattered = Int32Array.from(uniformInts(length, seed + 2, 0, 3), (x, i) => (x === 0 ? 0 : 1000 + i));
  scattered[length - 1] = 0; // the key the class row would see last is padding
  return [full, onlyStart, typical, scattered];
}

describe.each(KERNELS)('attention kernel (%s)', (kernel) => {
  it('self-attention from a packed qkv buffer, causal and unmasked, L = 17, 50, 77', async () => {
    const gpu = await testGpu();
    await checkPackedSelfAttention(gpu, kernel, { length: 17, heads: 4, headDim: 8, batch: 1, mask: 'causal', seed: 1 });
    await checkPackedSelfAttention(gpu, kernel, { length: 50, heads: 12, headDim: 64, batch: 1, mask: 'none', seed: 2 });
    await checkPackedSelfAttention(gpu, kernel, { length: 50, heads: 3, headDim: 20, batch: 1, mask: 'causal', seed: 3 });
    await checkPackedSelfAttention(gpu, kernel, { length: 77, heads: 8, headDim: 64, batch: 1, mask: 'causal', seed: 4 });
  });

  it("'coca-cls' mask with several padding patterns, one batch item each, L = 17, 50, 77", async () => {
    const gpu = await testGpu();
    for (const [L, heads, headDim] of [
      [17, 2, 12],
      [50, 4, 16],
      [77, 8, 64],
    ] as const) {
      const tokens = tokenPatterns(L - 1, 100 + L);
      await checkPackedSelfAttention(gpu, kernel, { length: L, heads, headDim, batch: tokens.length, mask: 'coca-cls', tokens, seed: L });
    }
  });

  it('head dims 8, 10, 12, 16, 20, 64, 128 with 1 to 16 heads', async () => {
    const gpu = await testGpu();
    for (const [headDim, heads] of [
      [8, 16],
      [10, 3], // not whole vec4s: the CPU kernel reads scalars
      [12, 5],
      [16, 8],
      [20, 1],
      [64, 12],
      [128, 6],
    ] as const) {
      await checkPackedSelfAttention(gpu, kernel, { length: 17, heads, headDim, batch: 1, mask: 'causal', seed: 200 + headDim });
    }
    // Fewer queries than the CPU kernel's lanes (its other entry point), with scalar reads too.
    await checkPackedSelfAttention(gpu, kernel, { length: 3, heads: 3, headDim: 10, batch: 2, mask: 'causal', seed: 210 });
  });

  it('batch 3 with per-item data, and query lengths 1 and 1024', async () => {
    const gpu = await testGpu();
    await checkPackedSelfAttention(gpu, kernel, { length: 33, heads: 4, headDim: 16, batch: 3, mask: 'causal', seed: 300 });
    await checkPackedSelfAttention(gpu, kernel, { length: 1, heads: 4, headDim: 16, batch: 3, mask: 'none', seed: 301 });
    await checkPackedSelfAttention(gpu, kernel, { length: 1024, heads: 1, headDim: 8, batch: 1, mask: 'causal', seed: 302 });
  });

  /**
   * Cross-attention as in the attentional pooler and the decoder: q [batch, Lq, D] on its own, k and v
   * side by side in one [Lk, 2D] buffer, shared by every batch item (batch stride 0) or per item.
   */
  async function checkCrossAttention(gpu: Gpu, Lq: number, Lk: number, heads: number, headDim: number, batch: number, sharedKv: boolean, seed: number): Promise<void> {
    const D = heads * headDim;
    const kvItems = sharedKv ? 1 : batch;
    const qs = Array.from({ length: batch }, (_, b) => randn(Lq * D, seed + b, QUERY_SCALE));
    const ks = Array.from({ length: kvItems }, (_, b) => randn(Lk * D, seed + 100 + b));
    const vs = Array.from({ length: kvItems }, (_, b) => randn(Lk * D, seed + 200 + b));
    const q = upload(gpu, concat(qs), [batch, Lq, D], 'f32', 'q');
    const kv = upload(gpu, concat(ks.map((k, b) => sideBySide([k, vs[b]!], Lk))), [kvItems, Lk, 2 * D], 'f32', 'kv');
    const out = gpu.createTensor([batch, Lq, D], 'f32', 'out');
    const kvBatchStride = sharedKv ? 0 : Lk * 2 * D;
    const result = await runAttention(gpu, kernel, {
      q: { tensor: q, rowStride: D, batchStride: Lq * D },
      k: { tensor: kv, offset: 0, rowStride: 2 * D, batchStride: kvBatchStride },
      v: { tensor: kv, offset: D, rowStride: 2 * D, batchStride: kvBatchStride },
      out: { tensor: out, rowStride: D, batchStride: Lq * D },
      heads,
      headDim,
      queries: Lq,
      keys: Lk,
      batch,
      mask: 'none',
    });
    qs.forEach((qItem, b) => {
      const kvItem = sharedKv ? 0 : b;
      const ref = referenceAttention({ q: qItem, k: ks[kvItem]!, v: vs[kvItem]!, heads, headDim, mask: 'none' });
      expectClose(result, (i) => b * Lq * D + i, ref, `cross Lq=${Lq} Lk=${Lk} H=${heads} dh=${headDim} item ${b}`);
    });
  }

  it('cross-attention Lq ≠ Lk: 9 queries against 17, 50, 257 keys; 7 against 255', async () => {
    const gpu = await testGpu();
    await checkCrossAttention(gpu, 9, 17, 8, 16, 1, true, 400);
    await checkCrossAttention(gpu, 9, 50, 12, 64, 1, true, 401);
    await checkCrossAttention(gpu, 9, 257, 16, 64, 1, true, 402);
    await checkCrossAttention(gpu, 7, 255, 8, 20, 1, true, 403);
  });

  it('cross-attention over a batch: K/V shared (batch stride 0) and per item', async () => {
    const gpu = await testGpu();
    await checkCrossAttention(gpu, 7, 255, 4, 12, 3, true, 500);
    await checkCrossAttention(gpu, 9, 50, 4, 12, 3, false, 501);
  });

  it('long key sequences: 1024 and the maximum, 2048', async () => {
    const gpu = await testGpu();
    await checkCrossAttention(gpu, 5, 1024, 2, 16, 1, true, 600);
    await checkCrossAttention(gpu, 3, ATTENTION_MAX_KEYS, 1, 20, 1, true, 601);
  });

  it('decodes from a KV cache: one query at positions 0, 5, 75, and a 4-row chunk at 5', async () => {
    const gpu = await testGpu();
    const heads = 4;
    const headDim = 16;
    const D = heads * headDim;
    const capacity = 100;
    const layers = 2;
    const layer = 1; // the cache holds every layer: [layers, capacity, D]; this call reads layer 1
    const batch = 2;
    const valid = 76;
    // Rows past the valid length are NaN: reading one, even with weight 0, would poison the output.
    const cacheOf = (seed: number) => {
      const data = randn(batch * layers * capacity * D, seed);
      for (let b = 0; b < batch; b++) {
        const start = ((b * layers + layer) * capacity + valid) * D;
        data.fill(NaN, start, start + (capacity - valid) * D);
      }
      return data;
    };
    const kData = cacheOf(700);
    const vData = cacheOf(701);
    const kCache = upload(gpu, kData, [batch, layers, capacity, D], 'f32', 'kCache');
    const vCache = upload(gpu, vData, [batch, layers, capacity, D], 'f32', 'vCache');
    const cacheRows = (data: Float32Array, b: number, rows: number) => {
      const start = (b * layers + layer) * capacity * D;
      return data.subarray(start, start + rows * D);
    };
    for (const [position, queries] of [
      [0, 1],
      [5, 1],
      [75, 1],
      [5, 4],
    ] as const) {
      const keys = position + queries;
      const qData = randn(batch * queries * 3 * D, 710 + position, QUERY_SCALE); // from a fused qkv [batch, queries, 3D]
      const qkv = upload(gpu, qData, [batch, queries, 3 * D], 'f32', 'qkv');
      const out = gpu.createTensor([batch, queries, D], 'f32', 'out');
      const cache = (tensor: Tensor) => ({ tensor, offset: layer * capacity * D, rowStride: D, batchStride: layers * capacity * D });
      const result = await runAttention(gpu, kernel, {
        q: { tensor: qkv, rowStride: 3 * D, batchStride: queries * 3 * D },
        k: cache(kCache),
        v: cache(vCache),
        out: { tensor: out, rowStride: D, batchStride: queries * D },
        heads,
        headDim,
        queries,
        keys,
        batch,
        queryPos0: position,
        mask: 'causal',
      });
      for (let b = 0; b < batch; b++) {
        const q = new Float32Array(queries * D);
        for (let i = 0; i < queries; i++) q.set(qData.subarray((b * queries + i) * 3 * D, (b * queries + i) * 3 * D + D), i * D);
        const ref = referenceAttention({
          q,
          k: cacheRows(kData, b, keys),
          v: cacheRows(vData, b, keys),
          heads,
          headDim,
          mask: 'causal',
          qOffset: position,
        });
        expectClose(result, (i) => b * queries * D + i, ref, `decode at ${position} (${queries} rows) item ${b}`);
      }
    }
  });

  it("the class token alone (Lq = 1 at position L − 1) under 'coca-cls' matches the full sequence's last row", async () => {
    const gpu = await testGpu();
    const L = 77;
    const heads = 4;
    const headDim = 20;
    const D = heads * headDim;
    const tokens = paddedTokens(L - 1, 12, 800);
    const q = randn(L * D, 801, QUERY_SCALE);
    const k = randn(L * D, 802);
    const v = randn(L * D, 803);
    const kv = upload(gpu, sideBySide([k, v], L), [L, 2 * D], 'f32', 'kv');
    const lastQuery = upload(gpu, q.subarray((L - 1) * D), [1, D], 'f32', 'q');
    const out = gpu.createTensor([1, D], 'f32', 'out');
    const result = await runAttention(gpu, kernel, {
      q: { tensor: lastQuery, rowStride: D },
      k: { tensor: kv, rowStride: 2 * D },
      v: { tensor: kv, offset: D, rowStride: 2 * D },
      out: { tensor: out, rowStride: D },
      heads,
      headDim,
      queries: 1,
      keys: L,
      queryPos0: L - 1,
      mask: 'coca-cls',
      aux: { tensor: upload(gpu, Uint32Array.from(tokens), [L - 1], 'u32', 'tokens'), batchStride: 0 },
    });
    const ref = referenceAttention({ q, k, v, heads, headDim, mask: 'coca-cls', tokens }).subarray((L - 1) * D);
    expectClose(result, (i) => i, ref, 'class token row');
  });

  it('explicit additive mask per batch item, a fully blocked row gives 0, strided output leaves gaps untouched', async () => {
    const gpu = await testGpu();
    const [Lq, Lk, heads, headDim, batch] = [7, 50, 3, 12, 2];
    const D = heads * headDim;
    const outOffset = 5;
    const outRowStride = D + 3;
    const outBatchStride = Lq * outRowStride + 2;
    const masks = Array.from({ length: batch }, (_, b) => {
      const m = randn(Lq * Lk, 900 + b, 3);
      const blocked = uniformInts(Lq * Lk, 910 + b, 0, 3);
      for (let i = 0; i < m.length; i++) if (blocked[i] === 0) m[i] = -Infinity;
      return m;
    });
    const fullyBlockedRow = 4;
    masks[1]!.fill(-Infinity, fullyBlockedRow * Lk, (fullyBlockedRow + 1) * Lk);
    const qs = Array.from({ length: batch }, (_, b) => randn(Lq * D, 920 + b, QUERY_SCALE));
    const ks = Array.from({ length: batch }, (_, b) => randn(Lk * D, 930 + b));
    const vs = Array.from({ length: batch }, (_, b) => randn(Lk * D, 940 + b));
    const sentinel = 12345;
    const outSize = outOffset + batch * outBatchStride;
    const out = upload(gpu, new Float32Array(outSize).fill(sentinel), [outSize], 'f32', 'out');
    const result = await runAttention(gpu, kernel, {
      q: { tensor: upload(gpu, concat(qs), [batch, Lq, D], 'f32', 'q'), rowStride: D, batchStride: Lq * D },
      k: { tensor: upload(gpu, concat(ks), [batch, Lk, D], 'f32', 'k'), rowStride: D, batchStride: Lk * D },
      v: { tensor: upload(gpu, concat(vs), [batch, Lk, D], 'f32', 'v'), rowStride: D, batchStride: Lk * D },
      out: { tensor: out, offset: outOffset, rowStride: outRowStride, batchStride: outBatchStride },
      heads,
      headDim,
      queries: Lq,
      keys: Lk,
      batch,
      mask: 'explicit',
      aux: { tensor: upload(gpu, concat(masks), [batch, Lq, Lk], 'f32', 'mask'), batchStride: Lq * Lk },
    });
    const written = new Set<number>();
    for (let b = 0; b < batch; b++) {
      const at = (i: number) => outOffset + b * outBatchStride + Math.floor(i / D) * outRowStride + (i % D);
      for (let i = 0; i < Lq * D; i++) written.add(at(i));
      const ref = referenceAttention({ q: qs[b]!, k: ks[b]!, v: vs[b]!, heads, headDim, mask: masks[b]! as AttentionMask });
      if (b === 1) {
        // The reference's softmax of an all −∞ row is NaN; the kernel promises 0 there.
        ref.fill(0, fullyBlockedRow * D, (fullyBlockedRow + 1) * D);
        for (let i = fullyBlockedRow * D; i < (fullyBlockedRow + 1) * D; i++) expect(result[at(i)]).toBe(0);
      }
      expectClose(result, at, ref, `explicit mask item ${b}`);
    }
    for (let i = 0; i < outSize; i++) if (!written.has(i)) expect(result[i]).toBe(sentinel);
  });

  it('refuses reads outside a tensor, too many keys, too wide heads and running in place', async () => {
    const gpu = await testGpu();
    const D = 32;
    const qkv = gpu.createTensor([10, 3 * D], 'f32', 'qkv');
    const out = gpu.createTensor([10, D], 'f32', 'out');
    const base: AttentionArgs = {
      q: { tensor: qkv, rowStride: 3 * D },
      k: { tensor: qkv, offset: D, rowStride: 3 * D },
      v: { tensor: qkv, offset: 2 * D, rowStride: 3 * D },
      out: { tensor: out, rowStride: D },
      heads: 2,
      headDim: 16,
      queries: 10,
      keys: 10,
      mask: 'causal',
      label: 'bad',
    };
    const attempt = (change: Partial<AttentionArgs>) => () => attention({ gpu, rec: gpu.recorder() }, { ...base, kernel, ...change });
    expect(attempt({ keys: 11 })).toThrow(/needs 1024 elements, it has 960/);
    expect(attempt({ v: { tensor: qkv, offset: 2 * D + 1, rowStride: 3 * D } })).toThrow(ShapeError);
    expect(attempt({ keys: ATTENTION_MAX_KEYS + 1 })).toThrow(ShapeError);
    expect(attempt({ heads: 1, headDim: 129 })).toThrow(ShapeError);
    expect(attempt({ out: { tensor: qkv, rowStride: 3 * D } })).toThrow(/in place/);
    expect(attempt({ batch: 2 })).toThrow(/batchStride/);
    expect(attempt({ mask: 'coca-cls' })).toThrow(/needs aux/);
  });
});
