// What the layernorm variants share: the uniform struct and the bindings of each mode.
import { read, readValues, write, type BindingDecl } from '../../gpu/pipelines';
import type { DType } from '../../gpu/tensor';
import type { ShaderDefines } from '../../gpu/wgsl';
import { defineUniforms } from '../../gpu/uniforms';

export const LayerNormParams = defineUniforms({
  totalRows: 'u32',
  rows: 'u32',
  D: 'u32',
  eps: 'f32',
  xRows: 'u32',
  xRowOffset: 'u32',
  yRows: 'u32',
  yRowOffset: 'u32',
});

/** The flags a layernorm pipeline depends on. */
export interface LayerNormMode {
  /** x ← x + r before normalizing (x bound read-write). */
  residual: boolean;
  /** y is x (bound once, read-write). */
  inPlace: boolean;
  /** dtype of a positional table added to the rows first (in place), or null. */
  positions: DType | null;
  /** dtype of a vector that replaces row 0 of each item first (with positions), or null. */
  classRow: DType | null;
}

/** x (, r), gamma, beta (, pos, cls) (, y): rows of element type `row`; γ and β given as declarations. */
export function layerNormBindings({ residual, inPlace, positions, classRow }: LayerNormMode, row: string, gamma: BindingDecl, beta: BindingDecl): BindingDecl[] {
  const tables = [...(positions ? [readValues('pos', positions)] : []), ...(classRow ? [readValues('cls', classRow)] : [])];
  if (residual) return [write('x', row), read('r', row), gamma, beta, write('y', row)];
  if (inPlace) return [write('x', row), gamma, beta, ...tables];
  return [read('x', row), gamma, beta, write('y', row)];
}

/** The defines of a mode, shared by both kernels. */
export function layerNormDefines({ residual, inPlace, positions, classRow }: LayerNormMode): ShaderDefines {
  return { RESIDUAL: residual, IN_PLACE: inPlace, POSITIONS: positions !== null, CLASS_ROW: classRow !== null };
}
