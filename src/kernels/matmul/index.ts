// y = x·Wᵀ + b (W stored [N, K], PyTorch Linear layout), with optional exact-GELU and residual-add epilogues,
// and a LayerNorm folded in: of x's rows before the product (`ln`), or of y's rows after it (`lnAfter`).
// Two kernel families, chosen from the adapter facts (or forced with `kernel`):
// - 'gpu': the workgroup-memory tiled kernel (tiled.ts), and for M ≤ GEMV_MAX_ROWS the matrix-vector
//   kernel (gemv.ts), which reads each weight once for all rows. They take any shape, and `ln`.
// - 'cpu' / 'cpu-subgroups' (cpu.ts): register-blocked with no workgroup memory, for adapters that run
//   shaders on the CPU (llvmpipe, SwiftShader), where it is 5–15× faster. It needs vec4-aligned shapes
//   (K, offsets and strides multiples of 4), and takes `ln` for up to 8 rows; other calls go to the
//   'gpu' kernels. It is the only one that takes `lnAfter` (its workgroups own whole rows); elsewhere
//   lnAfter is a LayerNorm pass after the product.
import { CocaError, ShapeError } from '../../errors';
import type { Gpu } from '../../gpu/gpu';
import type { KernelContext } from '../common';
import { layerNorm } from '../layernorm';
import { cpuKernelFits, matmulCpu } from './cpu';
import { gemv, GEMV_MAX_ROWS } from './gemv';
import { foldsBatches, matmulGeometry, type MatmulArgs, type MatmulGeometry, type MatmulKernel } from './params';
import { matmulTiled } from './tiled';

export { GEMV_MAX_ROWS } from './gemv';
export { matmulGeometry, type MatmulArgs, type MatmulEpilogue, type MatmulGeometry, type MatmulKernel } from './params';

/** The family matmul() uses on this device when not told: CPU adapters get matmul/cpu.wgsl. */
export function defaultMatmulKernel(gpu: Gpu): MatmulKernel {
  if (!gpu.facts.cpu) return 'gpu';
  return gpu.facts.eightLaneSubgroups ? 'cpu-subgroups' : 'cpu';
}

export function matmul(ctx: KernelContext, callArgs: MatmulArgs): void {
  const f16Math = callArgs.f16Math ?? ctx.f16Math ?? false;
  if (f16Math && !ctx.gpu.facts.f16) {
    throw new CocaError(`matmul ${callArgs.label}: f16 arithmetic needs a GPU with shader-f16; load the model with f32 arithmetic`);
  }
  const args = { ...callArgs, f16Math };
  const g = matmulGeometry(args);
  const kernel = f16Math ? 'gpu' : args.kernel ?? defaultMatmulKernel(ctx.gpu);
  if (kernel === 'cpu-subgroups' && !ctx.gpu.facts.eightLaneSubgroups) {
    throw new ShapeError(`matmul ${args.label}: the 'cpu-subgroups' kernel needs the 'subgroups' feature with 8-lane subgroups`);
  }
  if (kernel !== 'gpu' && cpuKernelFits(ctx.gpu, args, g)) {
    matmulCpu(ctx, args, g, kernel === 'cpu-subgroups');
    return;
  }
  const { lnAfter, ...product } = args;
  if (g.M * g.batch <= GEMV_MAX_ROWS && foldsBatches(g)) gemv(ctx, product, g);
  else matmulTiled(ctx, product, g, kernel);
  if (lnAfter) normalizeRows(ctx, args, g);
}

/** lnAfter where the kernel cannot fold it in: a LayerNorm pass over y's rows into lnAfter.out. */
function normalizeRows(ctx: KernelContext, args: MatmulArgs, g: MatmulGeometry): void {
  const { gamma, beta, eps, out } = args.lnAfter!;
  const rows = g.batch * g.M;
  layerNorm(ctx, { x: { ...args.y, shape: [rows, g.N] }, gamma, beta, eps, y: { ...out, shape: [rows, g.N] }, label: `${args.label}.ln` });
}
