// `npm run bench:kernels [-- --json] [--quick] [--matmul-kernel=gpu|cpu|cpu-subgroups]`: time per kernel
// and shape, with GFLOP/s or GB/s, on the adapter it names. Inputs are random; outputs are not checked
// here (the tests do that). matmul rows name the kernel family that ran (see src/kernels/matmul.ts).
import { acquireDevice } from '../gpu/device';
import { nodeGpu } from '../gpu/dawn-node';
import { Gpu } from '../gpu/gpu';
import { nodeShaders } from '../gpu/shaders-node';
import { bytesFor, type DType, type Tensor } from '../gpu/tensor';
import type { KernelContext } from '../kernels/common';
import { defaultMatmulKernel, matmul, type MatmulKernel } from '../kernels/matmul';
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

function matmulCase(M: number, K: number, N: number, dtype: 'f32' | 'f16x2', note: string, epilogue: { gelu?: boolean } = {}): BenchCase {
  const weightBytes = bytesFor(dtype, N * K);
  return {
    kernel: 'matmul',
    shape: `M=${M} K=${K} N=${N}${epilogue.gelu ? ' +gelu' : ''} (${note})`,
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
      return (ctx) => matmul(ctx, { x, w, bias: b, y, label: 'bench', kernel, ...epilogue });
    },
  };
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
    );
    if (!quick) cases.push(matmulCase(400, 768, 2304, dtype, 'ViT-B/32 qkv, 8 images'), matmulCase(6, 512, 49408, dtype, 'decoder vocab, 6 beams'));
  }
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
