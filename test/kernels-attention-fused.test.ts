// Attention with its input projection (and, for a decoding step, its LayerNorm) folded in, against the
// float64 references: sequenceAttention (whole sequences; one kernel per (head, item) on CPU adapters, the
// matmul and the attention kernel elsewhere) and stepAttention (one position of R rows against their K/V
// caches; one kernel per head), on both kernel families, with and without subgroups, f32 and fp16 weights.
import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../src/gpu/dawn-node';
import { summarizeAdapter } from '../src/gpu/device';
import { Gpu } from '../src/gpu/gpu';
import type { PipelineSpec } from '../src/gpu/pipelines';
import { nodeShaders } from '../src/gpu/shaders-node';
import type { Tensor } from '../src/gpu/tensor';
import { sequenceAttention, stepAttention, type AttentionKernel } from '../src/kernels/attention';
import { attention as attentionRef, layerNorm as layerNormRef, matmul as matmulRef, multiHeadAttentionHeads, roundToF16Scalar } from './reference/cpu';
import { randn, uniformInts } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

// f32 projections (K ≤ 768 terms) and f32 softmax·v (chunked, ≤ 255 keys): near 1e-6 of the largest
// output, as the attention kernel's tests; 1e-5 leaves room without hiding an indexing or masking bug.
const TOLERANCE = 1e-5;
/**
 * f16 arithmetic (F16_MATH): the reference rounds x and each product to f16 as the kernel does, but the
 * kernel's f32 LayerNorm and the float64 one may round a value to neighbouring f16s (2⁻¹¹ of a product);
 * over K ≤ 512 products of random sign that stays below 2e-4 of the output's scale, and 1e-3 bounds it.
 */
const F16_MATH_TOLERANCE = 1e-3;
const EPS = 1e-5;
const START = 49406;

const GPU = await testGpu();

/** The same adapter without the 'subgroups' feature: the plain twin of every subgroup path. */
async function gpuWithoutSubgroups(): Promise<Gpu> {
  const adapter = (await nodeGpu().requestAdapter({ powerPreference: 'high-performance' }))!;
  const requiredLimits: Record<string, number> = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize'] as const) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: adapter.features.has('shader-f16') ? ['shader-f16'] : [] });
  return new Gpu({ device, adapter: summarizeAdapter(adapter), limits: device.limits, hasF16: false, hasTimestampQuery: false }, nodeShaders());
}
const PLAIN_GPU = await gpuWithoutSubgroups();

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const bound = TOLERANCE * Math.max(1, maxAbs(want));
  expect(maxAbsDiff(got, want), what).toBeLessThanOrEqual(bound);
}

/** x rows, W [3D, D] and bias of one attention layer, uploaded; `seen`: the weights as the GPU holds them. */
function layer(gpu: Gpu, D: number, rows: number, seed: number, dtype: 'f32' | 'f16x2') {
  const x = randn(rows * D, seed, 1);
  const w = uploadWeights(gpu, randn(3 * D * D, seed + 1, 1.5 / Math.sqrt(D)), [3 * D, D], dtype, 'in_proj_weight');
  const b = randn(3 * D, seed + 2, 0.3);
  return { x, w, b, tb: upload(gpu, b, [3 * D], 'f32', 'in_proj_bias') };
}

function shaders(specs: PipelineSpec[]): string[] {
  return specs.map((s) => s.shader);
}

interface SequenceCase {
  L: number;
  heads: number;
  headDim: number;
  batch: number;
  mask: 'none' | 'causal' | 'coca-cls';
  /** A LayerNorm folded into the projection (the GPU structure). */
  ln?: boolean;
}

async function checkSequence(gpu: Gpu, c: SequenceCase, dtype: 'f32' | 'f16x2', kernel: AttentionKernel, seed: number): Promise<string[]> {
  const D = c.heads * c.headDim;
  const { x, w, b, tb } = layer(gpu, D, c.batch * c.L, seed, dtype);
  const gamma = randn(D, seed + 3, 0.3).map((v) => v + 1);
  const beta = randn(D, seed + 4, 0.2);
  const tokens = c.mask === 'coca-cls' ? Array.from({ length: c.batch }, (_, i) => paddedTokens(c.L - 1, 2 + 5 * i, seed + 10 + i)) : undefined;
  const out = gpu.createTensor([c.batch, c.L, D], 'f32', 'out');
  let specs: PipelineSpec[] = [];
  const [got] = await run(
    gpu,
    (ctx) => {
      sequenceAttention(ctx, {
        x: upload(gpu, x, [c.batch, c.L, D], 'f32', 'x'),
        ln: c.ln ? { gamma: upload(gpu, gamma, [D]), beta: upload(gpu, beta, [D]) } : undefined,
        w: w.tensor,
        bias: tb,
        qkv: gpu.createTensor([c.batch, c.L, 3 * D], 'f32', 'qkv'),
        out,
        heads: c.heads,
        queries: c.L,
        batch: c.batch,
        mask: c.mask,
        aux: tokens && { tensor: upload(gpu, Uint32Array.from(tokens.flatMap((t) => [...t])), [c.batch, c.L - 1], 'u32', 'tokens'), batchStride: c.L - 1 },
        label: 'sequence',
        kernel,
      });
      specs = ctx.rec.pipelineSpecs();
    },
    [out],
  );
  for (let item = 0; item < c.batch; item++) {
    const rows = x.subarray(item * c.L * D, (item + 1) * c.L * D);
    const input = c.ln ? layerNormRef(rows, gamma, beta, EPS).out : rows;
    const want = multiHeadAttentionHeads({ inProjWeight: w.seen, inProjBias: b, xq: input, xkv: input, heads: c.heads, mask: c.mask, tokens: tokens?.[item] }).heads;
    expectClose(got!.subarray(item * c.L * D, (item + 1) * c.L * D), want, `L=${c.L} H=${c.heads} dh=${c.headDim} ${c.mask} item ${item}`);
  }
  return shaders(specs);
}

/** CLIP-style token rows: start, `words` random ids, end, then padding. */
function paddedTokens(length: number, words: number, seed: number): Int32Array {
  const tokens = new Int32Array(length);
  tokens.set(uniformInts(Math.min(words, length - 2), seed, 1, START), 1);
  tokens[0] = START;
  tokens[Math.min(words + 1, length - 1)] = START + 1;
  return tokens;
}

const SEQUENCE_CASES: SequenceCase[] = [
  { L: 17, heads: 4, headDim: 16, batch: 3, mask: 'none' }, // CoCa-tiny's vision blocks
  { L: 50, heads: 12, headDim: 64, batch: 1, mask: 'none' }, // ViT-B/32
  { L: 77, heads: 4, headDim: 12, batch: 2, mask: 'coca-cls' }, // CoCa-tiny's text tower with its class token
  { L: 77, heads: 8, headDim: 64, batch: 1, mask: 'causal' }, // the text tower without it (captioning)
  { L: 7, heads: 3, headDim: 8, batch: 2, mask: 'causal' }, // fewer rows than a 32-row tile; 24 columns, one tile
  { L: 9, heads: 2, headDim: 10, batch: 1, mask: 'none' }, // head width not whole vec4s: projection, then attention
  { L: 33, heads: 4, headDim: 16, batch: 1, mask: 'causal', ln: true }, // a LayerNorm folded into the projection
];

describe('sequenceAttention: projection and attention of whole sequences', () => {
  for (const kernel of ['cpu', 'gpu'] as const) {
    for (const [name, gpu] of [['subgroups where the adapter has them', GPU], ['no subgroups', PLAIN_GPU]] as const) {
      if (kernel === 'gpu' && gpu === PLAIN_GPU) continue;
      describe(`${kernel} kernels, ${name}`, () => {
        for (const dtype of ['f32', 'f16x2'] as const) {
          SEQUENCE_CASES.forEach((c, i) => {
            it(`${dtype} L=${c.L} H=${c.heads} dh=${c.headDim} batch=${c.batch} ${c.mask}${c.ln ? ' +ln' : ''}`, async () => {
              const ran = await checkSequence(gpu, c, dtype, kernel, 100 + 31 * i);
              const fused = kernel === 'cpu' && !c.ln && c.headDim % 4 === 0;
              expect(ran).toEqual(fused ? ['attention/sequence_cpu'] : [c.ln ? 'matmul/tiled' : kernel === 'cpu' ? 'matmul/cpu' : 'matmul/tiled', `attention/${kernel}`]);
            });
          });
        }
      });
    }
  }

  it('cross-attention: q projected from x, K/V of image tokens shared by the batch or per item', async () => {
    for (const kernel of ['cpu', 'gpu'] as const) {
      for (const [Lq, Lk, heads, headDim, batch, shared] of [
        [9, 8, 4, 12, 3, false], // CoCa-tiny's decoder
        [7, 255, 8, 16, 2, true],
      ] as const) {
        const D = heads * headDim;
        const { x, w, b, tb } = layer(GPU, D, batch * Lq, 700 + Lk, 'f16x2');
        const kvItems = shared ? 1 : batch;
        const kvData = randn(kvItems * Lk * 2 * D, 710 + Lk, 1);
        const kv = upload(GPU, kvData, [kvItems, Lk, 2 * D], 'f32', 'kv');
        const out = GPU.createTensor([batch, Lq, D], 'f32', 'out');
        const kvBatchStride = shared ? 0 : Lk * 2 * D;
        let specs: PipelineSpec[] = [];
        const [got] = await run(
          GPU,
          (ctx) => {
            sequenceAttention(ctx, {
              x: upload(GPU, x, [batch, Lq, D]),
              w: w.tensor,
              bias: tb,
              qkv: GPU.createTensor([batch, Lq, D], 'f32', 'q'),
              kv: { k: { tensor: kv, rowStride: 2 * D, batchStride: kvBatchStride }, v: { tensor: kv, offset: D, rowStride: 2 * D, batchStride: kvBatchStride }, keys: Lk },
              out,
              heads,
              queries: Lq,
              batch,
              mask: 'none',
              label: 'cross',
              kernel,
            });
            specs = ctx.rec.pipelineSpecs();
          },
          [out],
        );
        expect(shaders(specs)).toEqual(kernel === 'cpu' ? ['attention/sequence_cpu'] : ['matmul/tiled', 'attention/gpu']);
        for (let item = 0; item < batch; item++) {
          const q = matmulRef(x.subarray(item * Lq * D, (item + 1) * Lq * D), w.seen.subarray(0, D * D), { M: Lq, K: D, N: D }, b.subarray(0, D));
          const kvItem = kvData.subarray((shared ? 0 : item) * Lk * 2 * D, ((shared ? 0 : item) + 1) * Lk * 2 * D);
          const k = new Float32Array(Lk * D);
          const v = new Float32Array(Lk * D);
          for (let j = 0; j < Lk; j++) {
            k.set(kvItem.subarray(j * 2 * D, j * 2 * D + D), j * D);
            v.set(kvItem.subarray(j * 2 * D + D, (j + 1) * 2 * D), j * D);
          }
          expectClose(got!.subarray(item * Lq * D, (item + 1) * Lq * D), attentionRef({ q, k, v, heads, headDim, mask: 'none' }), `${kernel} cross Lq=${Lq} Lk=${Lk} item ${item}`);
        }
      }
    }
  });
});

interface StepCase {
  rows: number;
  heads: number;
  headDim: number;
  /** Self-attention at this position, or cross-attention over this many keys. */
  position: number;
  crossKeys?: number;
  f16Norm?: boolean;
}

/**
 * One step: x [R, D] with its LayerNorm, W, the caches of R rows (capacity `capacity`, with rows past the
 * valid ones NaN, which must never be read), then out and the written cache rows against the reference.
 */
async function checkStep(gpu: Gpu, c: StepCase, dtype: 'f32' | 'f16x2', kernel: AttentionKernel, seed: number, f16Math = false): Promise<string[]> {
  const D = c.heads * c.headDim;
  const capacity = 40;
  const cross = c.crossKeys !== undefined;
  const keys = cross ? c.crossKeys! : c.position + 1;
  const { x, w, b, tb } = layer(gpu, D, c.rows, seed, dtype);
  const normDtype = c.f16Norm ? 'f16x2' : 'f32';
  const gamma = uploadWeights(gpu, randn(D, seed + 3, 0.3).map((v) => v + 1), [D], normDtype, 'gamma');
  const beta = uploadWeights(gpu, randn(D, seed + 4, 0.2), [D], normDtype, 'beta');
  // Self: one cache of `capacity` rows per beam; cross: the image's K/V, shared by every row.
  const cacheRows = cross ? keys : capacity;
  const cacheItems = cross ? 1 : c.rows;
  const cacheData = randn(cacheItems * cacheRows * 2 * D, seed + 5, 1);
  if (!cross) for (let r = 0; r < c.rows; r++) cacheData.fill(NaN, (r * capacity + c.position) * 2 * D, (r + 1) * capacity * 2 * D);
  const cache = upload(gpu, cacheData, [cacheItems, cacheRows, 2 * D], 'f32', 'cache');
  const out = gpu.createTensor([c.rows, D], 'f32', 'out');
  let specs: PipelineSpec[] = [];
  const [got, gotCache] = await run(
    gpu,
    (ctx) => {
      stepAttention({ ...ctx, f16Math }, {
        x: upload(gpu, x, [c.rows, D], 'f32', 'x'),
        ln: { gamma: gamma.tensor, beta: beta.tensor },
        w: w.tensor,
        bias: tb,
        cache: { tensor: cache, rowStride: 2 * D, batchStride: cross ? 0 : capacity * 2 * D },
        position: c.position,
        crossKeys: c.crossKeys,
        out,
        heads: c.heads,
        rows: c.rows,
        label: 'step',
        kernel,
      });
      specs = ctx.rec.pipelineSpecs();
    },
    [out, cache],
  );
  const normalized = layerNormRef(x, gamma.seen, beta.seen, EPS).out;
  const project = (row: Float64Array, part: number): Float64Array => {
    const weights = w.seen.subarray(part * D * D, (part + 1) * D * D);
    if (!f16Math) return matmulRef(row, weights, { M: 1, K: D, N: D }, b.subarray(part * D, (part + 1) * D));
    const result = new Float64Array(D);
    for (let n = 0; n < D; n++) {
      let sum = b[part * D + n]!;
      for (let k = 0; k < D; k++) sum += roundToF16Scalar(roundToF16Scalar(row[k]!) * weights[n * D + k]!);
      result[n] = sum;
    }
    return result;
  };
  for (let r = 0; r < c.rows; r++) {
    const row = normalized.subarray(r * D, (r + 1) * D);
    const base = cross ? 0 : r * capacity * 2 * D;
    const k = new Float64Array(keys * D);
    const v = new Float64Array(keys * D);
    for (let j = 0; j < keys; j++) {
      k.set(cacheData.subarray(base + j * 2 * D, base + j * 2 * D + D), j * D);
      v.set(cacheData.subarray(base + j * 2 * D + D, base + (j + 1) * 2 * D), j * D);
    }
    if (!cross) {
      // This step's k and v, written at row `position` of the row's cache.
      k.set(project(row, 1), c.position * D);
      v.set(project(row, 2), c.position * D);
      const written = gotCache!.subarray(base + c.position * 2 * D, base + (c.position + 1) * 2 * D);
      expectClose(written, [...k.subarray(c.position * D), ...v.subarray(c.position * D)], `cache row ${c.position} of beam ${r}`);
      const untouched = gotCache!.subarray(base, base + c.position * 2 * D);
      expect(maxAbsDiff(untouched, cacheData.subarray(base, base + c.position * 2 * D))).toBe(0);
    }
    const want = attentionRef({ q: project(row, 0), k, v, heads: c.heads, headDim: c.headDim, mask: 'none' });
    const bound = (f16Math ? F16_MATH_TOLERANCE : TOLERANCE) * Math.max(1, maxAbs(want));
    expect(maxAbsDiff(got!.subarray(r * D, (r + 1) * D), want), `row ${r}`).toBeLessThanOrEqual(bound);
  }
  return shaders(specs);
}

const STEP_CASES: StepCase[] = [
  { rows: 1, heads: 8, headDim: 64, position: 0 }, // ViT-B/32's text tower and decoder: the first token
  { rows: 1, heads: 8, headDim: 64, position: 29 }, // the last position of a 30-token caption
  { rows: 3, heads: 4, headDim: 12, position: 5, f16Norm: true }, // CoCa-tiny with three beams
  { rows: 8, heads: 2, headDim: 20, position: 17 }, // eight beams: every row slot
  { rows: 2, heads: 8, headDim: 64, position: 0, crossKeys: 255 }, // cross-attention to ViT-B/32's image tokens
  { rows: 3, heads: 4, headDim: 12, position: 7, crossKeys: 8 }, // CoCa-tiny's cross-attention
  { rows: 1, heads: 3, headDim: 10, position: 4 }, // head width not whole vec4s: the GPU kernel everywhere
];

describe('stepAttention: LayerNorm, projection, cache append and attention of one decoding step', () => {
  for (const kernel of ['cpu', 'gpu'] as const) {
    describe(`${kernel} kernels`, () => {
      for (const dtype of ['f32', 'f16x2'] as const) {
        STEP_CASES.forEach((c, i) => {
          it(`${dtype} rows=${c.rows} H=${c.heads} dh=${c.headDim} ${c.crossKeys ? `cross over ${c.crossKeys} keys` : `self at ${c.position}`}`, async () => {
            const ran = await checkStep(GPU, c, dtype, kernel, 300 + 37 * i);
            expect(ran).toEqual([kernel === 'cpu' && c.headDim % 4 === 0 ? 'attention/step_cpu' : 'attention/step_gpu']);
          });
        });
      }
    });
  }

  it('takes the GPU kernel on a CPU adapter when the rows do not fit the CPU kernel’s workgroup memory', async () => {
    const ran = await checkStep(GPU, { rows: 8, heads: 8, headDim: 128, position: 3 }, 'f16x2', 'cpu', 900);
    expect(ran).toEqual(['attention/step_gpu']);
  });

  describe('with f16 arithmetic (shader-f16), GPU kernel', () => {
    for (const c of [STEP_CASES[1]!, STEP_CASES[4]!]) {
      it(`rows=${c.rows} dh=${c.headDim} ${c.crossKeys ? 'cross' : 'self'}`, async () => {
        if (!GPU.facts.f16) throw new Error('this adapter has no shader-f16: the f16 path cannot be proven here');
        await checkStep(GPU, c, 'f16x2', 'gpu', 950 + c.position, true);
      });
    }
  });

  it('refuses more rows than a step takes, and an out that is the cache', async () => {
    const D = 16;
    const t = (shape: number[], label: string): Tensor => GPU.createTensor(shape, 'f32', label);
    const cache = t([1, 10, 2 * D], 'cache');
    const base = { x: t([9, D], 'x'), ln: { gamma: t([D], 'g'), beta: t([D], 'b') }, w: t([3 * D, D], 'w'), bias: t([3 * D], 'bias'), cache: { tensor: cache, rowStride: 2 * D, batchStride: 0 }, position: 0, out: t([9, D], 'out'), heads: 2, rows: 9, label: 'bad' };
    expect(() => stepAttention({ gpu: GPU, rec: GPU.recorder() }, base)).toThrow(/9 rows; a step takes 1 to 8/);
    expect(() => stepAttention({ gpu: GPU, rec: GPU.recorder() }, { ...base, x: t([1, D], 'x'), rows: 1, out: { ...cache, shape: [1, D] } })).toThrow(/must be buffers of their own/);
  });
});
