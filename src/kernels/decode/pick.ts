// The next token of one-row captions, chosen on the GPU (shaders/decode/pick.wgsl) from the row's top-k
// candidates: greedy's first, or a seeded top-p draw. It lands in the next step's ids and the token history.
import { ShapeError } from '../../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import { grid1d, type KernelContext } from '../common';

/** Candidates the draw holds in private memory: shaders/decode/pick.wgsl MAX_K. */
export const PICK_MAX_K = 32;

const PickParams = defineUniforms({ rows: 'u32', k: 'u32', length: 'u32', historyStride: 'u32', scale: 'f32', topP: 'f32', seedLo: 'u32', seedHi: 'u32' });

export const pickSpec = cachedSpecs(function pickSpec(sample: boolean): PipelineSpec {
  return {
    shader: 'decode/pick',
    defines: { SAMPLE: sample },
    uniforms: PickParams,
    bindings: [read('indices', 'u32'), ...(sample ? [read('values'), read('lse')] : []), write('ids', 'u32'), write('history', 'u32')],
  };
});

export interface PickDraw {
  /** [rows, k] f32: the candidates' logits (unscaled) and [rows] lse: log Σ exp(scale · logits). */
  values: Tensor;
  lse: Tensor;
  /** 1 / temperature (used as an f32). */
  scale: number;
  topP: number;
  /** The seed as two u32 words, low first (generate.ts seedWords). */
  seed: readonly [number, number];
}

export interface PickTokenArgs {
  /** [rows, k] u32: each row's candidates, best first (topK's output). */
  indices: Tensor;
  k: number;
  /** [rows] u32: receives each row's token. */
  ids: Tensor;
  /** u32, row r at r·historyStride: the token goes to column `length` (the tokens before it). */
  history: Tensor;
  historyStride: number;
  length: number;
  /** Sampling; without it, greedy (the first candidate). */
  draw?: PickDraw;
  label: string;
}

export function pickToken({ gpu, rec }: KernelContext, args: PickTokenArgs): void {
  const { indices, k, ids, history, historyStride, length, draw, label } = args;
  const what = `pickToken ${label}`;
  expectDtype(indices, ['u32'], what);
  expectDtype(ids, ['u32'], what);
  expectDtype(history, ['u32'], what);
  const rows = numel(ids.shape);
  if (!Number.isInteger(k) || k < 1 || k > PICK_MAX_K) throw new ShapeError(`${what}: k = ${k} is outside 1…${PICK_MAX_K}`);
  if (numel(indices.shape) < rows * k) throw new ShapeError(`${what}: indices [${indices.shape}] hold fewer than ${rows}×${k} candidates`);
  if (length >= historyStride || rows * historyStride > numel(history.shape)) throw new ShapeError(`${what}: token ${length} of ${rows} rows of ${historyStride} overruns history [${history.shape}]`);
  if (draw) {
    expectDtype(draw.values, ['f32'], what);
    expectDtype(draw.lse, ['f32'], what);
    if (numel(draw.values.shape) < rows * k || numel(draw.lse.shape) < rows) throw new ShapeError(`${what}: values [${draw.values.shape}] or lse [${draw.lse.shape}] are short of ${rows} rows of ${k}`);
    if (!(draw.topP > 0 && draw.topP <= 1)) throw new ShapeError(`${what}: topP ${draw.topP} is outside (0, 1]`);
  }
  const pipeline = pickSpec(draw !== undefined);
  rec.dispatch({
    label,
    pipeline,
    uniforms: {
      layout: PickParams,
      values: { rows, k, length, historyStride, scale: draw?.scale ?? 1, topP: draw?.topP ?? 1, seedLo: draw?.seed[0] ?? 0, seedHi: draw?.seed[1] ?? 0 },
    },
    bindings: bindingsFor(pipeline, { indices, values: draw?.values, lse: draw?.lse, ids, history }),
    workgroups: grid1d(Math.ceil(rows / 64), gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: ids,
  });
}
