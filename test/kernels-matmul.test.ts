import { describe, expect, it } from 'vitest';
import { nodeGpu } from '../src/gpu/dawn-node';
import { summarizeAdapter, type AdapterSummary, type GpuDeviceInfo } from '../src/gpu/device';
import { Gpu } from '../src/gpu/gpu';
import type { PipelineSpec } from '../src/gpu/pipelines';
import { nodeShaders } from '../src/gpu/shaders-node';
import { matmul, type MatmulKernel } from '../src/kernels/matmul';
import { isCpuAdapter } from '../src/gpu/adapter';
import { geluScalar, matmul as matmulRef, roundToF16Scalar } from './reference/cpu';
import { randn } from './reference/random';
import { maxAbs, maxAbsDiff, run, testGpu, upload, uploadWeights } from './helpers/gpu';

// f32 dot products of K terms, accumulated with fma in a different order than the float64 reference:
// the error grows like √K·ε·|terms|; 1e-5 of the output's magnitude covers K up to 3072 with margin.
const F32_REL = 1e-5;

/**
 * A second device on the same adapter with the 'subgroups' feature, for the 'cpu-subgroups' kernel
 * (the shared test device does not request it). Null where the adapter lacks 8-lane subgroups.
 */
async function subgroupGpu(): Promise<Gpu | null> {
  const adapter = await nodeGpu().requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter?.features.has('subgroups')) return null;
  const requiredLimits: Record<string, number> = {};
  for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: ['subgroups'], requiredLimits });
  const info: GpuDeviceInfo = { device, adapter: summarizeAdapter(adapter), limits: device.limits, hasF16: false, hasTimestampQuery: false };
  const gpu = new Gpu(info, nodeShaders());
  const lanes = device.adapterInfo;
  if (lanes.subgroupMinSize !== 8 || lanes.subgroupMaxSize !== 8) {
    gpu.destroy();
    return null;
  }
  return gpu;
}

const SUBGROUP_GPU = await subgroupGpu();
const KERNELS: MatmulKernel[] = ['gpu', 'cpu', 'cpu-subgroups'];

function gpuFor(kernel: MatmulKernel): Promise<Gpu> {
  return kernel === 'cpu-subgroups' ? Promise.resolve(SUBGROUP_GPU!) : testGpu();
}

/** What a product looks like to the kernel choice: rows of x per batch, batches, columns. */
interface Shape {
  M: number;
  N: number;
  batch: number;
  /** K and the offsets and strides are multiples of 4 (what matmul_cpu.wgsl needs). */
  cpuFits: boolean;
  /** Batches are dense, so they fold into rows. */
  foldable: boolean;
}

/** The shader (and the defines that pick its variant) a forced kernel family must have used. */
function expectKernel(specs: PipelineSpec[], kernel: MatmulKernel, s: Shape): void {
  expect(specs).toHaveLength(1);
  const spec = specs[0]!;
  const rows = s.foldable ? s.M * s.batch : s.M;
  if (kernel !== 'gpu' && s.cpuFits) {
    expect(spec.shader).toBe('matmul/cpu');
    expect(spec.defines?.SUBGROUPS).toBe(kernel === 'cpu-subgroups' && rows > 8);
  } else if (s.foldable && rows <= 8) {
    expect(spec.shader).toBe('matmul/gemv');
  } else {
    expect(spec.shader).toBe('matmul/tiled');
    expect(spec.defines?.SMALL_TILES).toBe(kernel === 'gpu' && Math.ceil(s.M / 64) * Math.ceil(s.N / 64) * s.batch < 128);
  }
}

interface Case {
  M: number;
  K: number;
  N: number;
  batch?: number;
  bias?: boolean;
  gelu?: boolean;
  accumulate?: boolean;
}

const references = new Map<string, Float64Array>();

async function check(c: Case, dtype: 'f32' | 'f16x2', seed: number, kernel: MatmulKernel): Promise<void> {
  const gpu = await gpuFor(kernel);
  const batch = c.batch ?? 1;
  const x = randn(batch * c.M * c.K, seed, 1);
  const w = randn(c.N * c.K, seed + 1, 1 / Math.sqrt(c.K));
  const b = randn(c.N, seed + 2, 0.5);
  const residual = randn(batch * c.M * c.N, seed + 3, 1);
  const tx = upload(gpu, x, [batch, c.M, c.K], 'f32', 'x');
  const tw = uploadWeights(gpu, w, [c.N, c.K], dtype);
  const tb = c.bias ? upload(gpu, b, [c.N], 'f32', 'b') : undefined;
  const ty = upload(gpu, c.accumulate ? residual : new Float32Array(batch * c.M * c.N), [batch, c.M, c.N], 'f32', 'y');
  let specs: PipelineSpec[] = [];
  const [got] = await run(
    gpu,
    (ctx) => {
      matmul(ctx, { x: tx, w: tw.tensor, bias: tb, y: ty, batch, gelu: c.gelu, accumulate: c.accumulate, label: 'matmul', kernel });
      specs = ctx.rec.pipelineSpecs();
    },
    [ty],
  );
  for (const t of [tx, tw.tensor, tb, ty]) if (t) gpu.destroyBuffer('activations', t.buffer);
  expectKernel(specs, kernel, { M: c.M, N: c.N, batch, cpuFits: c.K % 4 === 0, foldable: true });
  const key = `${JSON.stringify(c)} ${dtype} ${seed}`;
  let want = references.get(key);
  if (!want) {
    want = matmulRef(x, tw.seen, { M: c.M, K: c.K, N: c.N }, c.bias ? b : undefined, {
      batch,
      gelu: c.gelu,
      residual: c.accumulate ? residual : undefined,
    });
    references.set(key, want);
  }
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
  // Shapes the CPU kernel takes (K a multiple of 4) that are not multiples of its tiles (8 or 32 rows × 32 columns):
  { M: 9, K: 20, N: 33, bias: true, gelu: true }, // one row past an 8-row tile
  { M: 41, K: 12, N: 70, batch: 2, bias: true, accumulate: true }, // 82 folded rows: three 32-row tiles, the last mostly empty
  { M: 5, K: 36, N: 1, bias: true }, // one column: 31 of 32 lanes' columns are clamped and dropped
  { M: 1, K: 4, N: 255 }, // one vec4 of K
  { M: 3, K: 8, N: 131, batch: 2, gelu: true }, // 6 folded rows (decoding with beams)
  { M: 130, K: 24, N: 4000, bias: true }, // 189 64×64 blocks: enough for the tiled kernel's large tiles
];

describe('matmul y = x·Wᵀ + b', () => {
  for (const kernel of KERNELS) {
    describe.skipIf(kernel === 'cpu-subgroups' && !SUBGROUP_GPU)(`${kernel} kernels`, () => {
      for (const dtype of ['f32', 'f16x2'] as const) {
        CASES.forEach((c, i) => {
          const name = `${dtype} M=${c.M} K=${c.K} N=${c.N}${c.batch ? ` batch=${c.batch}` : ''}${c.bias ? ' +bias' : ''}${c.gelu ? ' +gelu' : ''}${c.accumulate ? ' +=' : ''}`;
          it(name, () => check(c, dtype, 100 + i * 7, kernel));
        });
      }

      it('uses a slice of the weight rows and writes into a strided slice of y', async () => {
        const gpu = await gpuFor(kernel);
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
          (ctx) => matmul(ctx, { x: tx, w: tw, bias: tb, y: ty, wRowStart: 48, N: 48, yOffset: 10, yRowStride: 100, label: 'slice', kernel }),
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

      it('takes its bias from elsewhere than W (biasStart: two adjacent weights, one bias with their rows)', async () => {
        const gpu = await gpuFor(kernel);
        const [M, K, N] = [6, 32, 40];
        const x = randn(M * K, 21, 1);
        const w = randn(N * K, 22, 0.2);
        const b = randn(3 * N, 23, 1);
        const ty = gpu.createTensor([M, N], 'f32', 'y');
        const [got] = await run(gpu, (ctx) => matmul(ctx, { x: upload(gpu, x, [M, K]), w: upload(gpu, w, [N, K]), bias: upload(gpu, b, [3 * N]), biasStart: N, y: ty, label: 'biasStart', kernel }), [ty]);
        const want = matmulRef(x, w, { M, K, N }, b.subarray(N, 2 * N));
        expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
      });

      for (const dtype of ['f32', 'f16x2'] as const) {
        it(`${dtype}: batches with padded rows and padded batches in x and y (not foldable), from a W slice`, async () => {
          const gpu = await gpuFor(kernel);
          const [batch, M, K, N, nTotal, wRowStart] = [3, 10, 24, 37, 80, 40];
          const [xRowStride, xBatchStride, yRowStride, yBatchStride] = [28, 300, 41, 420];
          const x = randn(batch * xBatchStride, 11, 1);
          const w = randn(nTotal * K, 12, 0.3);
          const b = randn(nTotal, 13, 1);
          const tx = upload(gpu, x, [batch * xBatchStride]);
          const tw = uploadWeights(gpu, w, [nTotal, K], dtype);
          const tb = upload(gpu, b, [nTotal]);
          const ty = upload(gpu, new Float32Array(batch * yBatchStride).fill(7), [batch * yBatchStride]);
          let specs: PipelineSpec[] = [];
          const [got] = await run(
            gpu,
            (ctx) => {
              matmul(ctx, { x: tx, w: tw.tensor, bias: tb, y: ty, M, N, wRowStart, batch, xRowStride, xBatchStride, yRowStride, yBatchStride, gelu: true, label: 'strided', kernel });
              specs = ctx.rec.pipelineSpecs();
            },
            [ty],
          );
          expectKernel(specs, kernel, { M, N, batch, cpuFits: true, foldable: false });
          const want = new Float32Array(batch * yBatchStride).fill(7);
          for (let i = 0; i < batch; i++) {
            const rows = x.subarray(i * xBatchStride, i * xBatchStride + M * xRowStride);
            const dense = new Float32Array(M * K);
            for (let m = 0; m < M; m++) dense.set(rows.subarray(m * xRowStride, m * xRowStride + K), m * K);
            const out = matmulRef(dense, tw.seen.subarray(wRowStart * K, (wRowStart + N) * K), { M, K, N }, b.subarray(wRowStart, wRowStart + N), { gelu: true });
            for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) want[i * yBatchStride + m * yRowStride + n] = out[m * N + n]!;
          }
          expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
        });
      }
    });
  }
});

describe('kernel choice', () => {
  const adapter = (a: Partial<AdapterSummary>): GpuDeviceInfo =>
    ({ adapter: { vendor: '', architecture: '', device: '', description: '', isFallbackAdapter: false, ...a } }) as GpuDeviceInfo;

  it('takes the CPU kernel on software adapters and the tiled kernel on GPUs', () => {
    // What Dawn reports for Mesa's llvmpipe, Chrome's SwiftShader, and two real GPUs.
    expect(isCpuAdapter(adapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', isFallbackAdapter: true }))).toBe(true);
    expect(isCpuAdapter(adapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' }))).toBe(true);
    expect(isCpuAdapter(adapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }))).toBe(false);
    expect(isCpuAdapter(adapter({ vendor: 'apple', architecture: 'metal-3' }))).toBe(false);
  });
});

describe('matmul with f16 arithmetic (shader-f16: products in f16, sums in f32)', () => {
  // The reference rounds x and every product to f16 exactly as the kernel does, so only the f32
  // summation order differs: the f32 tolerance applies.
  const f16Cases: Case[] = [
    { M: 50, K: 768, N: 231, bias: true, gelu: true }, // tiled kernel
    { M: 3, K: 512, N: 1000, bias: true, accumulate: true }, // matrix-vector kernel
    { M: 7, K: 17, N: 33 }, // odd K: the weight pairs straddle rows
  ];
  for (const c of f16Cases) {
    it(`M=${c.M} K=${c.K} N=${c.N}`, async () => {
      const gpu = await testGpu();
      if (!gpu.device.features.has('shader-f16')) throw new Error('this adapter has no shader-f16: the f16 path cannot be proven here');
      const x = randn(c.M * c.K, 500 + c.K, 1);
      const w = randn(c.N * c.K, 501 + c.K, 1 / Math.sqrt(c.K));
      const b = randn(c.N, 502, 0.5);
      const residual = randn(c.M * c.N, 503, 1);
      const tx = upload(gpu, x, [c.M, c.K]);
      const tw = uploadWeights(gpu, w, [c.N, c.K], 'f16x2');
      const tb = c.bias ? upload(gpu, b, [c.N]) : undefined;
      const ty = upload(gpu, c.accumulate ? residual : new Float32Array(c.M * c.N), [c.M, c.N]);
      const [got] = await run(gpu, (ctx) => matmul({ ...ctx, f16Math: true }, { x: tx, w: tw.tensor, bias: tb, y: ty, gelu: c.gelu, accumulate: c.accumulate, label: 'f16 math' }), [ty]);
      const want = new Float64Array(c.M * c.N);
      for (let m = 0; m < c.M; m++) {
        for (let n = 0; n < c.N; n++) {
          let sum = 0;
          for (let k = 0; k < c.K; k++) sum += roundToF16Scalar(roundToF16Scalar(x[m * c.K + k]!) * tw.seen[n * c.K + k]!);
          if (c.bias) sum += b[n]!;
          if (c.gelu) sum = geluScalar(sum);
          if (c.accumulate) sum += residual[m * c.N + n]!;
          want[m * c.N + n] = sum;
        }
      }
      expect(maxAbsDiff(got!, want)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
    });
  }
});
