// What the layernorm variants share: the uniform struct and the bindings of each mode.
import type { BindingDecl } from '../../gpu/pipelines';
import { read, write } from '../../gpu/pipelines';
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
}

/** x (, r), gamma, beta (, y): rows of element type `row`; γ and β given as declarations. */
export function layerNormBindings({ residual, inPlace }: LayerNormMode, row: string, gamma: BindingDecl, beta: BindingDecl): BindingDecl[] {
  if (residual) return [write('x', row), read('r', row), gamma, beta, write('y', row)];
  if (inPlace) return [write('x', row), gamma, beta];
  return [read('x', row), gamma, beta, write('y', row)];
}
