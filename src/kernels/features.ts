// An embedding from one row of each item, in one dispatch: features = l2normalize(LN(x[:, row])·Pᵀ), the
// projection before normalizing kept in `raw` (shaders/features.wgsl). CoCa's image and text features.
import { ShapeError } from '../errors';
import { bindingsFor, cachedSpecs, read, readValues, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, expectShape, numel, type DType, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { LAYER_NORM_EPS, type KernelContext, type LayerNormOf } from './common';

/** Widest row: the workgroup holds it normalized (4 KiB), enough for every CoCa width (≤ 1024). */
export const FEATURES_MAX_WIDTH = 1024;

const Params = defineUniforms({ rows: 'u32', row: 'u32', D: 'u32', E: 'u32', eps: 'f32' });

export const featuresSpec = cachedSpecs(function featuresSpec(f16Projection: boolean, ln: DType | null): PipelineSpec {
  return {
    shader: 'features',
    defines: { LN: ln !== null, MAX_WIDTH: FEATURES_MAX_WIDTH },
    uniforms: Params,
    bindings: [
      read('x'),
      ...(ln ? [readValues('ln_gamma', ln), readValues('ln_beta', ln)] : []),
      readValues('p', f16Projection ? 'f16x2' : 'f32'),
      write('raw'),
      write('features'),
    ],
  };
});

export interface FeaturesArgs {
  /** [B, L, D] f32. */
  x: Tensor;
  /** The row of each item that is projected (0: the pooled image row; L − 1: the text's class token). */
  row: number;
  /** A LayerNorm of that row first (ln_post, ln_final). */
  ln?: LayerNormOf;
  /** [E, D] f32 or f16x2 (visual.proj, text_projection, stored as Linear weights). */
  projection: Tensor;
  /** [B, E] f32: the projection before normalizing (the step's output under `label`). */
  raw: Tensor;
  /** [B, E] f32: raw / max(‖raw‖₂, 1e-12), as torch.nn.functional.normalize. */
  features: Tensor;
  label: string;
}

export function features(ctx: KernelContext, args: FeaturesArgs): void {
  const { x, row, ln, projection, raw, label } = args;
  const what = `features ${label}`;
  expectDtype(x, ['f32'], what);
  expectDtype(projection, ['f32', 'f16x2'], what);
  for (const t of [raw, args.features]) expectDtype(t, ['f32'], what);
  if (x.shape.length !== 3) throw new ShapeError(`${what}: x [${x.shape}] is not [B, L, D]`);
  const [B, L, D] = x.shape as [number, number, number];
  if (projection.shape.length !== 2 || projection.shape[1] !== D) throw new ShapeError(`${what}: projection [${projection.shape}] is not [E, ${D}]`);
  const E = projection.shape[0]!;
  if (D > FEATURES_MAX_WIDTH) throw new ShapeError(`${what}: rows of ${D} exceed the kernel's ${FEATURES_MAX_WIDTH}`);
  if (!Number.isInteger(row) || row < 0 || row >= L) throw new ShapeError(`${what}: row ${row} is outside the ${L} rows of each item`);
  if (numel(raw.shape) < B * E || numel(args.features.shape) < B * E) throw new ShapeError(`${what}: raw and features must hold [${B}, ${E}]`);
  if (raw.buffer === args.features.buffer || raw.buffer === x.buffer || args.features.buffer === x.buffer) throw new ShapeError(`${what}: x, raw and features must be buffers of their own`);
  if (ln) {
    expectDtype(ln.gamma, ['f32', 'f16x2'], what);
    if (ln.beta.dtype !== ln.gamma.dtype) throw new ShapeError(`${what}: LayerNorm gamma is ${ln.gamma.dtype} but beta is ${ln.beta.dtype}`);
    expectShape(ln.gamma, [D], what);
    expectShape(ln.beta, [D], what);
  }
  if (B === 0) return;
  const pipeline = featuresSpec(projection.dtype === 'f16x2', ln?.gamma.dtype ?? null);
  ctx.rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { rows: L, row, D, E, eps: ln?.eps ?? LAYER_NORM_EPS } },
    bindings: bindingsFor(pipeline, { x, ln_gamma: ln?.gamma, ln_beta: ln?.beta, p: projection, raw, features: args.features }),
    workgroups: [B],
    output: raw,
  });
}
