// Embedding lookup (token embeddings, optionally + positions), into rows of a bigger activation:
// the text tower's token rows, and CoCa's cls_emb appended as row 76 (a [D] table, ids [0], idsBatchStride 0).
// Out-of-range ids give zero rows on the GPU (never an out-of-bounds read); check ids on the host
// with `assertIdsInRange` wherever they are known there.
import { ShapeError, TokenIdError } from '../errors';
import { bindingsFor, cachedSpecs, read, readValues, write, type PipelineSpec } from '../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../gpu/tensor';
import { defineUniforms } from '../gpu/uniforms';
import { grid1d, type KernelContext } from './common';

const WORKGROUP_SIZE = 256; // shaders/embedding.wgsl WG

const Params = defineUniforms({
  total: 'u32',
  rows: 'u32',
  D: 'u32',
  vocab: 'u32',
  idsOffset: 'u32',
  idsBatchStride: 'u32',
  outRows: 'u32',
  outRowOffset: 'u32',
  posOffset: 'u32',
});

export interface EmbeddingVariant {
  f16Table: boolean;
  /** undefined: no positional table; otherwise whether it is f16x2. */
  f16Pos?: boolean;
}

export const embeddingSpec = cachedSpecs(function embeddingSpec({ f16Table, f16Pos }: EmbeddingVariant): PipelineSpec {
  const pos = f16Pos !== undefined;
  return {
    shader: 'embedding',
    defines: { POS: pos },
    uniforms: Params,
    bindings: [read('ids', 'u32'), readValues('table', f16Table ? 'f16x2' : 'f32'), ...(pos ? [readValues('pos', f16Pos ? 'f16x2' : 'f32')] : []), write('out')],
  };
});

export interface EmbeddingArgs {
  /** [V, D], f32 or f16x2; a 1-D [D] is one row (a class embedding). */
  table: Tensor;
  /** u32 or i32 ids: item b's ids are ids[idsOffset + b·idsBatchStride …]. */
  ids: Tensor;
  /** f32, B items of L_out rows of width D: [..., L_out, D] (a 2-D [L_out, D] is one item), or any shape with `batch` and `outRows` given. */
  out: Tensor;
  /** Ids per item, written to rows outRowOffset … outRowOffset + rows − 1 of each item. */
  rows: number;
  /** Items B and rows per item L_out of `out`; default: from its shape. */
  batch?: number;
  outRows?: number;
  /** Default `rows`; 0 repeats the same ids for every item (the class token). */
  idsBatchStride?: number;
  idsOffset?: number;
  outRowOffset?: number;
  /** [P, D] positional table, f32 or f16x2: adds pos[posOffset + i] to row i. */
  pos?: Tensor;
  posOffset?: number;
  label: string;
}

export function embedding({ gpu, rec }: KernelContext, args: EmbeddingArgs): void {
  const { table, ids, out, rows, pos, label } = args;
  const what = `embedding ${label}`;
  expectDtype(table, ['f32', 'f16x2'], what);
  expectDtype(ids, ['u32', 'i32'], what);
  expectDtype(out, ['f32'], what);
  if (table.shape.length !== 1 && table.shape.length !== 2) throw new ShapeError(`${what}: table ${table.label} [${table.shape}] is not [V, D] or [D]`);
  const [vocab, D] = table.shape.length === 2 ? (table.shape as [number, number]) : [1, table.shape[0]!];
  if (out.shape[out.shape.length - 1] !== D) throw new ShapeError(`${what}: out [${out.shape}] does not have rows of width ${D}`);
  const outRows = args.outRows ?? out.shape[out.shape.length - 2] ?? 1;
  const batch = args.batch ?? numel(out.shape.slice(0, -2));
  if (batch * outRows * D !== numel(out.shape)) throw new ShapeError(`${what}: out [${out.shape}] is not ${batch} item(s) of ${outRows} rows of width ${D}`);
  const { idsBatchStride = rows, idsOffset = 0, outRowOffset = 0, posOffset = 0 } = args;
  const counts = { rows, idsBatchStride, idsOffset, outRowOffset, posOffset };
  for (const [name, v] of Object.entries(counts)) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${what}: ${name} = ${v} is not a count`);
  }
  if (outRowOffset + rows > outRows) throw new ShapeError(`${what}: rows ${outRowOffset}…${outRowOffset + rows - 1} are outside the ${outRows} rows of out`);
  const idsNeeded = rows === 0 ? 0 : idsOffset + (batch - 1) * idsBatchStride + rows;
  if (idsNeeded > numel(ids.shape)) throw new ShapeError(`${what}: needs ${idsNeeded} ids, ${ids.label} has ${numel(ids.shape)}`);
  if (pos) {
    expectDtype(pos, ['f32', 'f16x2'], what);
    if (pos.shape.length !== 2 || pos.shape[1] !== D) throw new ShapeError(`${what}: pos ${pos.label} [${pos.shape}] is not [P, ${D}]`);
    if (posOffset + rows > pos.shape[0]!) throw new ShapeError(`${what}: positions ${posOffset}…${posOffset + rows - 1} are outside the ${pos.shape[0]} of ${pos.label}`);
  }
  const total = batch * rows * D;
  if (total === 0) return;
  const pipeline = embeddingSpec({ f16Table: table.dtype === 'f16x2', f16Pos: pos ? pos.dtype === 'f16x2' : undefined });
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: Params, values: { total, rows, D, vocab, idsOffset, idsBatchStride, outRows, outRowOffset, posOffset } },
    bindings: bindingsFor(pipeline, { ids, table, pos, out }),
    workgroups: grid1d(Math.ceil(total / WORKGROUP_SIZE), gpu.info.limits.maxComputeWorkgroupsPerDimension),
    output: out,
  });
}

/** Throws TokenIdError unless every id is an integer in [0, vocab): the host-side check before upload. */
export function assertIdsInRange(ids: ArrayLike<number>, vocab: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new TokenIdError(`${what}: token id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
    }
  }
}
