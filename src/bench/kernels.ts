// `npm run bench:kernels [-- --json] [--quick] [--matmul-kernel=gpu|cpu|cpu-subgroups]`: time per kernel
// and shape, with GFLOP/s or GB/s, on the adapter it names. Inputs are random; outputs are not checked
// here (the tests do that). matmul rows name the kernel family that ran (see src/kernels/matmul.ts).
import { acquireDevice } from '../gpu/device';
import { nodeGpu } from '../gpu/dawn-node';
import { Gpu } from '../gpu/gpu';
import { nodeShaders } from '../gpu/shaders-node';
import { bytesFor, reshape, type DType, type Tensor } from '../gpu/tensor';
import type { KernelContext } from '../kernels/common';
import { defaultMatmulKernel, matmul, type MatmulKernel } from '../kernels/matmul';
import { attention, sequenceAttention, stepAttention, type AttentionMaskMode } from '../kernels/attention';
import { features } from '../kernels/features';
import { embedding } from '../kernels/embedding';
import { gelu } from '../kernels/gelu';
import { l2Normalize } from '../kernels/l2norm';
import { layerNorm } from '../kernels/layernorm';
import { patchEmbed } from '../kernels/patch-embed';
import { softmax } from '../kernels/softmax';
import { topK } from '../kernels/topk';
import { formatTable, timeKernel, type Timing } from './harness';

interface BenchCase {
  kernel: string;
  shape: string;
  dtype: string;
  /** Floating-point operations of one run (for GFLOP/s), or 0. */
  flops: number;
  /** Bytes necessarily moved by one run (for GB/s). */
  bytes: number;
  setup(gpu: Gpu): (ctx: KernelContext) => void;
}

function filled(gpu: Gpu, shape: number[], dtype: DType, label: string): Tensor {
  const t = gpu.createTensor(shape, dtype, label);
  const words = bytesFor(dtype, shape.reduce((a, b) => a * b, 1)) / 4;
  const data = new Float32Array(words);
  for (let i = 0; i < words; i++) data[i] = Math.sin(i * 0.37) * 0.5;
  if (dtype === 'f16x2') gpu.write(t, new Uint32Array(words).fill(0x3c003800)); // 0.5 and 1.0 as fp16
  else gpu.write(t, data);
  return t;
}

/** `--matmul-kernel=…` forces a matmul kernel family, e.g. the tiled one on a CPU adapter for comparison. */
const forcedMatmulKernel = process.argv.find((a) => a.startsWith('--matmul-kernel='))?.split('=')[1] as MatmulKernel | undefined;

/**
 * fp16 weights of magnitude 1/16 and 1/32 with every third pair negated: projections of width-768 rows stay
 * O(1), as with real weights. (The constant 0.5/1.0 of `filled` makes attention scores so large that the
 * softmax underflows into denormals, which a CPU adapter computes far more slowly.)
 */
function projectionWeights(gpu: Gpu, shape: number[]): Tensor {
  const t = gpu.createTensor(shape, 'f16x2', 'in_proj_weight');
  const words = bytesFor('f16x2', shape.reduce((a, b) => a * b, 1)) / 4;
  gpu.write(t, Uint32Array.from({ length: words }, (_, i) => (i % 3 ? 0x2c002800 : 0xac00a800)));
  return t;
}

/** `norm`: a LayerNorm folded in before the product ('ln', width K) or after it ('lnAfter', width N, with y += …). */
function matmulCase(M: number, K: number, N: number, dtype: 'f32' | 'f16x2', note: string, epilogue: { gelu?: boolean } = {}, norm?: 'ln' | 'lnAfter'): BenchCase {
  const weightBytes = bytesFor(dtype, N * K);
  return {
    kernel: 'matmul',
    shape: `M=${M} K=${K} N=${N}${epilogue.gelu ? ' +gelu' : ''}${norm === 'ln' ? ' LN before' : norm === 'lnAfter' ? ' += then LN' : ''} (${note})`,
    dtype: dtype === 'f32' ? 'f32' : 'fp16 weights',
    flops: 2 * M * N * K,
    bytes: weightBytes + 4 * (M * K + M * N + N),
    setup(gpu) {
      const x = filled(gpu, [M, K], 'f32', 'x');
      const w = filled(gpu, [N, K], dtype, 'w');
      const b = filled(gpu, [N], 'f32', 'b');
      const y = gpu.createTensor([M, N], 'f32', 'y');
      const kernel = forcedMatmulKernel ?? defaultMatmulKernel(gpu);
      this.kernel = `matmul (${kernel})`;
      const width = norm === 'ln' ? K : N;
      const layerNorm = { gamma: filled(gpu, [width], 'f32', 'gamma'), beta: filled(gpu, [width], 'f32', 'beta') };
      const h = gpu.createTensor([M, N], 'f32', 'h');
      const fused = norm === 'ln' ? { ln: layerNorm } : norm === 'lnAfter' ? { accumulate: true, lnAfter: { ...layerNorm, out: h } } : {};
      return (ctx) => matmul(ctx, { x, w, bias: b, y, label: 'bench', kernel, ...epilogue, ...fused });
    },
  };
}

/** Self- or cross-attention of `heads` heads of width 64: q [Lq, D], k and v [Lk, D]. */
function attentionCase(queries: number, keys: number, heads: number, mask: AttentionMaskMode, note: string): BenchCase {
  const D = heads * 64;
  return {
    kernel: 'attention',
    shape: `Lq=${queries} Lk=${keys} ${heads}×64 ${mask} (${note})`,
    dtype: 'f32',
    flops: 4 * queries * keys * D,
    bytes: 4 * (queries * D * 2 + keys * D * 2),
    setup(gpu) {
      const q = filled(gpu, [queries, D], 'f32', 'q');
      const kv = filled(gpu, [keys, 2 * D], 'f32', 'kv');
      const out = gpu.createTensor([queries, D], 'f32', 'out');
      return (ctx) =>
        attention(ctx, {
          q: { tensor: q, rowStride: D },
          k: { tensor: kv, offset: 0, rowStride: 2 * D },
          v: { tensor: kv, offset: D, rowStride: 2 * D },
          out: { tensor: out, rowStride: D },
          heads,
          headDim: 64,
          queries,
          keys,
          queryPos0: mask === 'causal' ? keys - queries : 0,
          mask,
          label: 'bench',
        });
    },
  };
}

/** Kernels that stream their input once: GB/s is what matters. */
function rowCase(kernel: string, rows: number, width: number, note: string, record: (ctx: KernelContext, x: Tensor, y: Tensor, gpu: Gpu) => void): BenchCase {
  return {
    kernel,
    shape: `${rows}×${width} (${note})`,
    dtype: 'f32',
    flops: 0,
    bytes: 8 * rows * width,
    setup(gpu) {
      const x = filled(gpu, [rows, width], 'f32', 'x');
      const y = gpu.createTensor([rows, width], 'f32', 'y');
      return (ctx) => record(ctx, x, y, gpu);
    },
  };
}

/** Attention with its projection: whole sequences of L rows (self), or one decoding step of R rows. */
function projectedAttentionCase(kind: 'sequence' | 'step' | 'cross step', rows: number, heads: number, keys: number, note: string): BenchCase {
  const D = heads * 64;
  return {
    kernel: kind === 'sequence' ? 'sequenceAttention' : 'stepAttention',
    shape: `${kind === 'sequence' ? `L=${rows}` : `R=${rows} Lk=${keys}`} ${heads}×64 (${note})`,
    dtype: 'fp16 weights',
    flops: 2 * rows * D * (kind === 'cross step' ? D : 3 * D) + 4 * rows * keys * D,
    bytes: bytesFor('f16x2', 3 * D * D) + 4 * (rows * D * 2 + keys * 2 * D),
    setup(gpu) {
      const x = filled(gpu, [rows, D], 'f32', 'x');
      const w = projectionWeights(gpu, [3 * D, D]);
      const bias = filled(gpu, [3 * D], 'f32', 'in_proj_bias');
      const out = gpu.createTensor([rows, D], 'f32', 'out');
      if (kind === 'sequence') {
        const qkv = gpu.createTensor([rows, 3 * D], 'f32', 'qkv');
        return (ctx) => sequenceAttention(ctx, { x, w, bias, qkv, out, heads, queries: rows, mask: 'causal', label: 'bench' });
      }
      const ln = { gamma: filled(gpu, [D], 'f32', 'gamma'), beta: filled(gpu, [D], 'f32', 'beta') };
      const capacity = Math.max(keys, 77);
      const cache = filled(gpu, [rows, capacity, 2 * D], 'f32', 'cache');
      const cross = kind === 'cross step';
      const at = { tensor: cache, rowStride: 2 * D, batchStride: cross ? 0 : capacity * 2 * D };
      return (ctx) => stepAttention(ctx, { x, ln, w, bias, cache: at, position: cross ? 0 : keys - 1, crossKeys: cross ? keys : undefined, out, heads, rows, label: 'bench' });
    },
  };
}

function otherCases(): BenchCase[] {
  const gamma = (gpu: Gpu, width: number): Tensor => filled(gpu, [width], 'f32', 'gamma');
  const cases: BenchCase[] = [
    attentionCase(50, 50, 12, 'none', 'ViT-B/32 self-attention'),
    attentionCase(77, 77, 8, 'causal', 'text tower'),
    attentionCase(256, 50, 8, 'none', 'attentional pooler'),
    attentionCase(1, 20, 8, 'causal', 'decoding step, 20 cached keys'),
    attentionCase(1, 255, 8, 'none', 'decoding step, cross-attention'),
    projectedAttentionCase('sequence', 50, 12, 50, 'ViT-B/32 block: qkv + attention'),
    projectedAttentionCase('sequence', 77, 8, 77, 'text tower block: qkv + attention'),
    projectedAttentionCase('step', 1, 8, 20, 'decoding step: ln_1 + qkv + cache + attention'),
    projectedAttentionCase('cross step', 1, 8, 255, 'decoding step: ln_1 + q + cross-attention'),
    {
      kernel: 'features',
      shape: 'row 0 of 1×256×512 → 512 (ln_post + proj + L2 norm)',
      dtype: 'fp16 weights',
      flops: 2 * 512 * 512,
      bytes: bytesFor('f16x2', 512 * 512),
      setup(gpu) {
        const x = filled(gpu, [1, 256, 512], 'f32', 'pooled');
        const projection = filled(gpu, [512, 512], 'f16x2', 'proj');
        const ln = { gamma: filled(gpu, [512], 'f32', 'gamma'), beta: filled(gpu, [512], 'f32', 'beta') };
        const raw = gpu.createTensor([1, 512], 'f32', 'raw');
        const out = gpu.createTensor([1, 512], 'f32', 'features');
        return (ctx) => features(ctx, { x, row: 0, ln, projection, raw, features: out, label: 'bench' });
      },
    },
  ];
  for (const [rows, width, note] of [[50, 768, 'ViT-B/32'], [77, 512, 'text tower'], [1, 512, 'decoding step']] as const) {
    let g: Tensor | null = null;
    let b: Tensor | null = null;
    cases.push(
      rowCase('layernorm', rows, width, note, (ctx, x, y, gpu) => {
        g ??= gamma(gpu, width);
        b ??= gamma(gpu, width);
        layerNorm(ctx, { x, gamma: g, beta: b, y, label: 'bench' });
      }),
    );
  }
  let pos: Tensor | null = null;
  let g: Tensor | null = null;
  cases.push(
    rowCase('layernorm', 50, 768, 'ViT-B/32 ln_pre with class token and positions, in place', (ctx, x, _y, gpu) => {
      pos ??= filled(gpu, [50, 768], 'f32', 'positional_embedding');
      g ??= gamma(gpu, 768);
      layerNorm(ctx, { x: reshape(x, [1, 50, 768]), gamma: g, beta: g, y: reshape(x, [1, 50, 768]), positions: pos, classRow: g, label: 'bench' });
    }),
  );
  cases.push(
    rowCase('softmax', 1, 49408, 'vocabulary row', (ctx, x, y) => softmax(ctx, { x, y, label: 'bench' })),
    rowCase('gelu', 50, 3072, 'ViT-B/32 MLP', (ctx, x, y) => gelu(ctx, { x, y, label: 'bench' })),
    rowCase('l2norm', 8, 512, 'embeddings', (ctx, x, y) => l2Normalize(ctx, { x, y, label: 'bench' })),
  );
  for (const k of [1, 6]) {
    cases.push({
      kernel: 'topk',
      shape: `k=${k} over 49408 (${k === 1 ? 'greedy' : 'beam search'})`,
      dtype: 'f32',
      flops: 0,
      bytes: 4 * 49408,
      setup(gpu) {
        const x = filled(gpu, [1, 49408], 'f32', 'logits');
        const indices = gpu.createTensor([1, k], 'u32', 'indices');
        const values = gpu.createTensor([1, k], 'f32', 'values');
        return (ctx) => topK(ctx, { x, k, indices, values, label: 'bench' });
      },
    });
  }
  for (const dtype of ['f32', 'f16x2'] as const) {
    cases.push({
      kernel: 'embedding',
      shape: '77 ids from 49408×512 (+ positions)',
      dtype: dtype === 'f32' ? 'f32' : 'fp16 weights',
      flops: 0,
      bytes: bytesFor(dtype, 77 * 512) + 4 * 77 * 512 * 2,
      setup(gpu) {
        const table = filled(gpu, [49408, 512], dtype, 'table');
        const pos = filled(gpu, [77, 512], 'f32', 'pos');
        const ids = gpu.createTensor([77], 'u32', 'ids');
        gpu.write(ids, Uint32Array.from({ length: 77 }, (_, i) => (i * 641) % 49408));
        const out = gpu.createTensor([77, 512], 'f32', 'out');
        return (ctx) => embedding(ctx, { table, ids, out, rows: 77, pos, label: 'bench' });
      },
    });
    cases.push({
      kernel: 'patch_embed (tiled)',
      shape: '224×224, P32 → 768 (ViT-B/32)',
      dtype: dtype === 'f32' ? 'f32' : 'fp16 weights',
      flops: 2 * 49 * 3072 * 768,
      bytes: bytesFor(dtype, 768 * 3072) + 4 * (3 * 224 * 224 + 50 * 768),
      setup(gpu) {
        const pixels = filled(gpu, [1, 3, 224, 224], 'f32', 'pixels');
        const weight = filled(gpu, [768, 3, 32, 32], dtype, 'conv1');
        const out = gpu.createTensor([1, 50, 768], 'f32', 'out');
        return (ctx) => patchEmbed(ctx, { pixels, weight, out, outRowOffset: 1, label: 'bench', kernel: 'tiled' });
      },
    });
    cases.push({
      kernel: 'patch_embed (im2col)',
      shape: '224×224, P32 → 768 (ViT-B/32; im2col + matmul)',
      dtype: dtype === 'f32' ? 'f32' : 'fp16 weights',
      flops: 2 * 49 * 3072 * 768,
      bytes: bytesFor(dtype, 768 * 3072) + 4 * (2 * 3 * 224 * 224 + 50 * 768),
      setup(gpu) {
        const pixels = filled(gpu, [1, 3, 224, 224], 'f32', 'pixels');
        const weight = filled(gpu, [768, 3, 32, 32], dtype, 'conv1');
        const patches = gpu.createTensor([1, 49, 3072], 'f32', 'patches');
        const out = gpu.createTensor([1, 50, 768], 'f32', 'out');
        return (ctx) => patchEmbed(ctx, { pixels, weight, out, outRowOffset: 1, patches, label: 'bench', kernel: 'im2col' });
      },
    });
  }
  return cases;
}

export function kernelCases(quick: boolean): BenchCase[] {
  const cases: BenchCase[] = [];
  for (const dtype of ['f32', 'f16x2'] as const) {
    cases.push(
      matmulCase(50, 768, 2304, dtype, 'ViT-B/32 qkv'),
      matmulCase(50, 768, 768, dtype, 'ViT-B/32 attn out'),
      matmulCase(50, 768, 3072, dtype, 'ViT-B/32 mlp up', { gelu: true }),
      matmulCase(50, 3072, 768, dtype, 'ViT-B/32 mlp down'),
      matmulCase(1, 512, 49408, dtype, 'decoder vocab'),
      matmulCase(1, 512, 1536, dtype, 'decoder qkv, 1 token'),
      matmulCase(1, 512, 2048, dtype, 'decoding step mlp up', { gelu: true }, 'ln'),
      matmulCase(50, 3072, 768, dtype, 'ViT-B/32 mlp down + next ln_1', {}, 'lnAfter'),
    );
    if (!quick) cases.push(matmulCase(400, 768, 2304, dtype, 'ViT-B/32 qkv, 8 images'), matmulCase(6, 512, 49408, dtype, 'decoder vocab, 6 beams'));
  }
  cases.push(...otherCases());
  return cases;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const info = await acquireDevice({ gpu: nodeGpu() });
  const gpu = new Gpu(info, nodeShaders());
  const adapter = gpu.adapterName;
  const rows: string[][] = [];
  for (const c of kernelCases(quick)) {
    const body = c.setup(gpu);
    const timing: Timing = await timeKernel(gpu, body, { warmup: 1, samples: quick ? 3 : 5 });
    const gflops = c.flops / (timing.median * 1e6);
    const gbs = c.bytes / (timing.median * 1e6);
    if (json) {
      console.log(JSON.stringify({ runtime: 'node', adapter, kernel: c.kernel, shape: c.shape, dtype: c.dtype, metric: 'kernel_ms', ...timing, gflops, gbs }));
    } else {
      rows.push([c.kernel, c.shape, c.dtype, timing.median.toFixed(3), c.flops ? gflops.toFixed(2) : '', gbs.toFixed(2)]);
      process.stderr.write('.');
    }
  }
  if (!json) {
    process.stderr.write('\n');
    console.log(`Adapter: ${adapter} (Node, Dawn)\n`);
    console.log(formatTable(['kernel', 'shape', 'weights', 'ms (median)', 'GFLOP/s', 'GB/s'], rows));
  }
  gpu.destroy();
}

await main();
