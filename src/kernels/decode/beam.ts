// One beam-search step on the GPU (shaders/decode/beam_select.wgsl): the best continuations of every beam,
// ranked, turned into the next beams (ids, parents, scores, token histories) and recorded for the host,
// which keeps the finished hypotheses from those records.
import { ShapeError } from '../../errors';
import { bindingsFor, cachedSpecs, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import type { KernelContext } from '../common';

/** Beams the kernel carries (shaders/decode/beam_select.wgsl MAX_BEAMS). */
export const BEAM_SELECT_MAX_BEAMS = 8;
/** u32 words per step record (RECORD_WORDS), and where its parts start (TOP_AT, NEXT_AT). */
export const BEAM_RECORD_WORDS = 68;
const TOP_AT = 4;
const NEXT_AT = 52;

const BeamParams = defineUniforms({ beams: 'u32', k: 'u32', length: 'u32', historyStride: 'u32', src: 'u32', dst: 'u32', endId: 'u32', record: 'u32' });

export const beamSelectSpec = cachedSpecs(function beamSelectSpec(logprob: boolean): PipelineSpec {
  return {
    shader: 'decode/beam_select',
    defines: { LSE: logprob },
    uniforms: BeamParams,
    bindings: [
      read('indices', 'u32'),
      read('values'),
      ...(logprob ? [read('lse')] : []),
      write('scores'),
      write('history', 'u32'),
      write('ids', 'u32'),
      write('parents', 'u32'),
      write('records', 'u32'),
    ],
  };
});

export interface BeamSelectArgs {
  beams: number;
  /** [beams, 2·beams] u32 and f32: each beam's candidates, best first (topK's output). */
  indices: Tensor;
  values: Tensor;
  /** [beams]: each row's log Σ exp(logits) (log-probability scoring); null: raw logits (OpenCLIP's). */
  lse: Tensor | null;
  /** [beams] f32: the running scores, replaced by the next beams'. */
  scores: Tensor;
  /** u32 [2, beams, historyStride]: token histories; set `src` is read, set `dst` written. */
  history: Tensor;
  historyStride: number;
  src: 0 | 1;
  /** Tokens in every beam so far: the new token goes to column `length`. */
  length: number;
  /** [beams] u32: the next step's input ids and parent rows. */
  ids: Tensor;
  parents: Tensor;
  /** u32 [steps, BEAM_RECORD_WORDS]; this step writes row `record`. */
  records: Tensor;
  record: number;
  /** The end token: never continued as a beam. */
  endId: number;
  label: string;
}

export function beamSelect({ rec }: KernelContext, args: BeamSelectArgs): void {
  const { beams, indices, values, lse, scores, history, historyStride, src, length, ids, parents, records, record, endId, label } = args;
  const what = `beamSelect ${label}`;
  const k = 2 * beams;
  expectDtype(indices, ['u32'], what);
  expectDtype(values, ['f32'], what);
  expectDtype(scores, ['f32'], what);
  for (const t of [history, ids, parents, records]) expectDtype(t, ['u32'], what);
  if (!Number.isInteger(beams) || beams < 1 || beams > BEAM_SELECT_MAX_BEAMS) throw new ShapeError(`${what}: ${beams} beams are outside 1…${BEAM_SELECT_MAX_BEAMS}`);
  if (numel(indices.shape) < beams * k || numel(values.shape) < beams * k) throw new ShapeError(`${what}: indices [${indices.shape}] or values [${values.shape}] hold fewer than ${beams}×${k} candidates`);
  if (lse && numel(lse.shape) < beams) throw new ShapeError(`${what}: lse [${lse.shape}] has fewer than ${beams} rows`);
  if (numel(scores.shape) < beams || numel(ids.shape) < beams || numel(parents.shape) < beams) throw new ShapeError(`${what}: scores, ids and parents need ${beams} rows`);
  if (length >= historyStride || 2 * beams * historyStride > numel(history.shape)) throw new ShapeError(`${what}: token ${length} of 2×${beams} rows of ${historyStride} overruns history [${history.shape}]`);
  if ((record + 1) * BEAM_RECORD_WORDS > numel(records.shape)) throw new ShapeError(`${what}: record ${record} overruns records [${records.shape}]`);
  const set = beams * historyStride;
  const pipeline = beamSelectSpec(lse !== null);
  rec.dispatch({
    label,
    pipeline,
    uniforms: { layout: BeamParams, values: { beams, k, length, historyStride, src: src * set, dst: (1 - src) * set, endId, record } },
    bindings: bindingsFor(pipeline, { indices, values, lse: lse ?? undefined, scores, history, ids, parents, records }),
    workgroups: [1],
    output: records,
  });
}

/** One step's record: the ranked candidates (best first) and the beams the GPU continued. */
export interface BeamRecord {
  top: { beam: number; token: number; total: number }[];
  next: { beam: number; token: number }[];
}

/** Record `index` of the records' words. */
export function parseBeamRecord(words: Uint32Array, index: number): BeamRecord {
  const at = index * BEAM_RECORD_WORDS;
  const totals = new Float32Array(words.buffer, words.byteOffset, words.length);
  const n = words[at]!;
  const m = words[at + 1]!;
  if (n > 2 * BEAM_SELECT_MAX_BEAMS || m > BEAM_SELECT_MAX_BEAMS) throw new ShapeError(`beam record ${index} is malformed (${n} candidates, ${m} beams)`);
  const top = Array.from({ length: n }, (_, i) => {
    const w = at + TOP_AT + 3 * i;
    return { beam: words[w]!, token: words[w + 1]!, total: totals[w + 2]! };
  });
  const next = Array.from({ length: m }, (_, r) => ({ beam: words[at + NEXT_AT + 2 * r]!, token: words[at + NEXT_AT + 2 * r + 1]! }));
  return { top, next };
}
