// What the matmul kernel families share: the uniform struct of a product's geometry, and the flags its
// pipeline depends on. A module of its own so that matmul.ts, gemv.ts and matmul-cpu.ts import it without cycles.
import { defineUniforms } from '../gpu/uniforms';
import type { MatmulEpilogue } from './matmul';

/** The sizes, offsets and strides of a product (MatmulGeometry), shared by the tiled and the CPU kernels. */
export const MatmulParams = defineUniforms({
  M: 'u32',
  N: 'u32',
  K: 'u32',
  xOffset: 'u32',
  xRowStride: 'u32',
  xBatchStride: 'u32',
  wOffset: 'u32',
  biasOffset: 'u32',
  yOffset: 'u32',
  yRowStride: 'u32',
  yBatchStride: 'u32',
});

/** Just the epilogue flags of a call (what its spec depends on), so equal calls share one cached spec. */
export function epilogueOf(args: MatmulEpilogue): MatmulEpilogue {
  return { gelu: Boolean(args.gelu), accumulate: Boolean(args.accumulate), f16Math: Boolean(args.f16Math) };
}
