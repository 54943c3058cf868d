// matmul with a LayerNorm folded in, on every kernel family: y = LN(x)·Wᵀ + b (`ln`, a pre-norm block's
// first product) and h = LN(y) after y = x·Wᵀ + b (+ y) (`lnAfter`, the next block's input), against the
// float64 references.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/gpu';
import type { PipelineSpec } from '../src/gpu/pipelines';
import { matmul, type MatmulKernel } from '../src/kernels/matmul';
import { geluScalar, layerNorm as layerNormRef, matmul as matmulRef, roundToF16Scalar } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

// f32 dot products of K ≤ 3072 terms after an f32 LayerNorm (a few ulps per normalized value): 1e-5 of the
// output's magnitude, as for the plain matmul.
const F32_REL = 1e-5;
/** LN of the kernel's own f32 y, as the LayerNorm kernel tests: ≤ 2.5e-7 of max|out| measured there, 4× margin. */
const LN_TOLERANCE = 1e-6;
/**
 * f16 arithmetic rounds each normalized x to f16; the kernel's f32 LayerNorm and the float64 reference can
 * straddle a rounding boundary, so a product may differ by one f16 rounding (2⁻¹¹ of it).
 */
const F16_ROUNDING = 2 ** -11;
const EPS = 1e-5;

const GPU = await testGpu();
const KERNELS: MatmulKernel[] = ['gpu', 'cpu', 'cpu-subgroups'];

interface Case {
  M: number;
  K: number;
  N: number;
  batch?: number;
  bias?: boolean;
  gelu?: boolean;
  accumulate?: boolean;
  /** fp16 γ and β (the runtime keeps them f32; the kernels take both). */
  f16Norm?: boolean;
}

/** Rows whose mean (2) is large next to their spread, so the centring matters. */
function rowsOf(n: number, seed: number): Float32Array {
  return randn(n, seed, 1.5).map((v) => v + 2);
}

function normParams(gpu: Gpu, width: number, seed: number, f16: boolean) {
  const dtype = f16 ? 'f16x2' : 'f32';
  const gamma = uploadWeights(gpu, randn(width, seed, 0.3).map((v) => v + 1), [width], dtype, 'gamma');
  const beta = uploadWeights(gpu, randn(width, seed + 1, 0.2), [width], dtype, 'beta');
  return { gamma, beta };
}

/** The shader the call ran, from the pipelines it recorded. */
function shadersOf(specs: PipelineSpec[]): string[] {
  return specs.map((s) => `${s.shader}${s.defines?.LN_IN ? '+LN_IN' : ''}${s.defines?.LN_OUT ? '+LN_OUT' : ''}`);
}

async function checkLnIn(c: Case, dtype: 'f32' | 'f16x2', seed: number, kernel: MatmulKernel, f16Math = false): Promise<string[]> {
  const batch = c.batch ?? 1;
  const rows = batch * c.M;
  const x = rowsOf(rows * c.K, seed);
  const w = randn(c.N * c.K, seed + 1, 1 / Math.sqrt(c.K));
  const b = randn(c.N, seed + 2, 0.5);
  const residual = randn(rows * c.N, seed + 3, 1);
  const norm = normParams(GPU, c.K, seed + 4, c.f16Norm ?? false);
  const tw = uploadWeights(GPU, w, [c.N, c.K], dtype);
  const tb = c.bias ? upload(GPU, b, [c.N]) : undefined;
  const ty = upload(GPU, c.accumulate ? residual : new Float32Array(rows * c.N), [batch, c.M, c.N], 'f32', 'y');
  let specs: PipelineSpec[] = [];
  const [got] = await run(
    GPU,
    (ctx) => {
      matmul({ ...ctx, f16Math }, { x: upload(GPU, x, [batch, c.M, c.K], 'f32', 'x'), w: tw.tensor, bias: tb, y: ty, batch, gelu: c.gelu, accumulate: c.accumulate, ln: { gamma: norm.gamma.tensor, beta: norm.beta.tensor }, label: 'ln matmul', kernel });
      specs = ctx.rec.pipelineSpecs();
    },
    [ty],
  );
  const normalized = layerNormRef(x, norm.gamma.seen, norm.beta.seen, EPS).out;
  const opts = { batch, gelu: c.gelu, residual: c.accumulate ? residual : undefined };
  if (!f16Math) {
    const want = matmulRef(normalized, tw.seen, c, c.bias ? b : undefined, opts);
    expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
  } else {
    // Products of f16-rounded normalized x and weights, summed in f32 by the kernel.
    const rounded = normalized.map(roundToF16Scalar);
    const want = new Float64Array(rows * c.N);
    const spread = new Float64Array(rows * c.N);
    for (let m = 0; m < rows; m++) {
      for (let n = 0; n < c.N; n++) {
        let sum = c.bias ? b[n]! : 0;
        for (let k = 0; k < c.K; k++) {
          const product = rounded[m * c.K + k]! * tw.seen[n * c.K + k]!;
          sum += roundToF16Scalar(product);
          spread[m * c.N + n] += Math.abs(product);
        }
        want[m * c.N + n] = (c.gelu ? geluScalar(sum) : sum) + (c.accumulate ? residual[m * c.N + n]! : 0);
      }
    }
    const bound = F32_REL * Math.max(1, maxAbs(want));
    got!.subarray(0, want.length).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(bound + F16_ROUNDING * spread[i]!));
  }
  return shadersOf(specs);
}

async function checkLnAfter(c: Case, dtype: 'f32' | 'f16x2', seed: number, kernel: MatmulKernel): Promise<string[]> {
  const batch = c.batch ?? 1;
  const rows = batch * c.M;
  const x = randn(rows * c.K, seed, 1);
  const w = randn(c.N * c.K, seed + 1, 1 / Math.sqrt(c.K));
  const b = randn(c.N, seed + 2, 0.5);
  const residual = rowsOf(rows * c.N, seed + 3);
  const norm = normParams(GPU, c.N, seed + 4, c.f16Norm ?? false);
  const tw = uploadWeights(GPU, w, [c.N, c.K], dtype);
  const tb = c.bias ? upload(GPU, b, [c.N]) : undefined;
  const ty = upload(GPU, c.accumulate ? residual : new Float32Array(rows * c.N), [batch, c.M, c.N], 'f32', 'y');
  const out = upload(GPU, new Float32Array(rows * c.N).fill(NaN), [rows, c.N], 'f32', 'h');
  let specs: PipelineSpec[] = [];
  const [gotY, gotOut] = await run(
    GPU,
    (ctx) => {
      matmul(ctx, { x: upload(GPU, x, [batch, c.M, c.K], 'f32', 'x'), w: tw.tensor, bias: tb, y: ty, batch, gelu: c.gelu, accumulate: c.accumulate, lnAfter: { gamma: norm.gamma.tensor, beta: norm.beta.tensor, out }, label: 'matmul ln', kernel });
      specs = ctx.rec.pipelineSpecs();
    },
    [ty, out],
  );
  const want = matmulRef(x, tw.seen, c, c.bias ? b : undefined, { batch, gelu: c.gelu, residual: c.accumulate ? residual : undefined });
  expect(maxAbsDiff(gotY!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
  // h is the LayerNorm of the y the kernel wrote.
  const wantOut = layerNormRef(gotY!.subarray(0, rows * c.N), norm.gamma.seen, norm.beta.seen, EPS).out;
  expect(maxAbsDiff(gotOut!, wantOut)).toBeLessThanOrEqual(LN_TOLERANCE * maxAbs(wantOut));
  return shadersOf(specs);
}

const LN_IN_CASES: Case[] = [
  { M: 1, K: 512, N: 1536, bias: true }, // a decoding step's qkv
  { M: 1, K: 512, N: 4000, bias: false }, // a slice of the vocabulary projection: many column tiles
  { M: 3, K: 48, N: 200, bias: true, gelu: true, f16Norm: true }, // three beams into an MLP
  { M: 7, K: 20, N: 33, bias: true, accumulate: true },
  { M: 2, K: 36, N: 70, batch: 3, bias: true }, // 6 folded rows
  { M: 1, K: 17, N: 50, bias: true }, // K not a multiple of 4: the matrix-vector kernel
  { M: 50, K: 768, N: 300, bias: true, gelu: true }, // whole sequences: the tiled kernel
  { M: 77, K: 48, N: 144, batch: 3, bias: true },
  { M: 257, K: 64, N: 17, f16Norm: true },
];

const LN_AFTER_CASES: Case[] = [
  { M: 50, K: 3072, N: 768, bias: true, accumulate: true }, // ViT-B/32's MLP down-projection + residual → next ln_1
  { M: 17, K: 64, N: 64, batch: 3, bias: true, accumulate: true }, // CoCa-tiny's vision blocks
  { M: 41, K: 12, N: 70, batch: 2, bias: true, accumulate: true, f16Norm: true }, // 82 folded rows: three 32-row tiles
  { M: 9, K: 20, N: 33, bias: true, gelu: true }, // one row past an 8-row tile
  { M: 1, K: 24, N: 7 },
  { M: 5, K: 17, N: 48, bias: true, accumulate: true }, // K not a multiple of 4: the product, then a LayerNorm pass
];

describe('matmul with the LayerNorm of x folded in (ln)', () => {
  for (const kernel of KERNELS) {
    describe.skipIf(kernel === 'cpu-subgroups' && !GPU.facts.eightLaneSubgroups)(`${kernel} kernels`, () => {
      for (const dtype of ['f32', 'f16x2'] as const) {
        LN_IN_CASES.forEach((c, i) => {
          it(`${dtype} M=${c.M} K=${c.K} N=${c.N}${c.batch ? ` batch=${c.batch}` : ''}${c.gelu ? ' +gelu' : ''}${c.accumulate ? ' +=' : ''}`, async () => {
            const shaders = await checkLnIn(c, dtype, 1000 + 17 * i, kernel);
            // One dispatch, and the CPU kernel takes it when it can (≤ 8 rows, vec4 shapes).
            expect(shaders).toHaveLength(1);
            const cpu = kernel !== 'gpu' && c.M * (c.batch ?? 1) <= 8 && c.K % 4 === 0;
            expect(shaders[0]).toBe(cpu ? 'matmul/cpu+LN_IN' : c.M * (c.batch ?? 1) <= 8 ? 'matmul/gemv+LN_IN' : 'matmul/tiled+LN_IN');
          });
        });
      }
    });
  }

  describe('with f16 arithmetic (shader-f16), tiled and matrix-vector kernels', () => {
    for (const c of [LN_IN_CASES[0]!, LN_IN_CASES[2]!, LN_IN_CASES[6]!]) {
      it(`M=${c.M} K=${c.K} N=${c.N}`, async () => {
        if (!GPU.facts.f16) throw new Error('this adapter has no shader-f16: the f16 path cannot be proven here');
        await checkLnIn(c, 'f16x2', 2000 + c.K, 'gpu', true);
      });
    }
  });
});

describe('matmul with the LayerNorm of y written after it (lnAfter)', () => {
  for (const kernel of KERNELS) {
    describe.skipIf(kernel === 'cpu-subgroups' && !GPU.facts.eightLaneSubgroups)(`${kernel} kernels`, () => {
      for (const dtype of ['f32', 'f16x2'] as const) {
        LN_AFTER_CASES.forEach((c, i) => {
          it(`${dtype} M=${c.M} K=${c.K} N=${c.N}${c.batch ? ` batch=${c.batch}` : ''}${c.gelu ? ' +gelu' : ''}${c.accumulate ? ' +=' : ''}`, async () => {
            const shaders = await checkLnAfter(c, dtype, 3000 + 13 * i, kernel);
            // The CPU kernel writes h itself; elsewhere a LayerNorm pass follows the product.
            if (kernel !== 'gpu' && c.K % 4 === 0) expect(shaders).toEqual(['matmul/cpu+LN_OUT']);
            else expect(shaders.map((s) => s.split('/')[0])).toEqual(['matmul', 'layernorm']);
          });
        });
      }
    });
  }
});
