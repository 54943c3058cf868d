// Runs the decoding kernels on a job from test/reference/decode.ts and reads everything they write back:
// the same code in Node (Dawn) and in the Chromium kernel worker, compared with the same CPU references.
import type { Gpu } from '../../src/gpu/gpu';
import type { DType, Tensor } from '../../src/gpu/tensor';
import { beamSelect, parseBeamRecord, pickToken, repetitionPenalty, BEAM_RECORD_WORDS, type BeamRecord } from '../../src/kernels/decode';
import { seedWords } from '../../src/model/generate';
import type { BeamJob, PickJob } from '../reference/decode';

function tensor(gpu: Gpu, data: Float32Array | Uint32Array, shape: number[], dtype: DType): Tensor {
  const t = gpu.createTensor(shape, dtype, 'input');
  gpu.write(t, data);
  return t;
}

async function readAll(gpu: Gpu, record: (rec: ReturnType<Gpu['recorder']>) => void, outputs: readonly Tensor[]): Promise<ArrayBuffer[]> {
  const rec = gpu.recorder({ label: 'decode kernels' });
  record(rec);
  const reads = outputs.map((t) => rec.read(t));
  await rec.submit();
  return Promise.all(reads);
}

export interface BeamRun {
  record: BeamRecord;
  ids: number[];
  parents: number[];
  scores: number[];
  /** The whole history buffer [2, beams, width] after the step. */
  history: number[];
}

export async function runBeamJob(gpu: Gpu, job: BeamJob): Promise<BeamRun> {
  const B = job.beams;
  const indices = tensor(gpu, job.indices, [B, 2 * B], 'u32');
  const values = tensor(gpu, job.values, [B, 2 * B], 'f32');
  const lse = job.lse && tensor(gpu, job.lse, [B], 'f32');
  const scores = tensor(gpu, job.scores, [B], 'f32');
  const history = tensor(gpu, job.history, [2, B, job.width], 'u32');
  const ids = gpu.createTensor([B], 'u32', 'ids');
  const parents = gpu.createTensor([B], 'u32', 'parents');
  const records = gpu.createTensor([job.record + 1, BEAM_RECORD_WORDS], 'u32', 'records');
  const [r, i, p, s, h] = await readAll(
    gpu,
    (rec) => beamSelect({ gpu, rec }, { beams: B, indices, values, lse, scores, history, historyStride: job.width, src: job.src, length: job.length, ids, parents, records, record: job.record, endId: job.endId, label: 'beam step' }),
    [records, ids, parents, scores, history],
  );
  return {
    record: parseBeamRecord(new Uint32Array(r!), job.record),
    ids: [...new Uint32Array(i!)],
    parents: [...new Uint32Array(p!)],
    scores: [...new Float32Array(s!)],
    history: [...new Uint32Array(h!)],
  };
}

export interface PickRun {
  ids: number[];
  /** [rows, width] after the pick. */
  history: number[];
}

export async function runPickJob(gpu: Gpu, job: PickJob, sample: boolean): Promise<PickRun> {
  const { rows, k, width } = job;
  const indices = tensor(gpu, job.indices, [rows, k], 'u32');
  const draw = sample ? { values: tensor(gpu, job.values, [rows, k], 'f32'), lse: tensor(gpu, job.lse, [rows], 'f32'), scale: job.scale, topP: job.topP, seed: seedWords(job.seed) } : undefined;
  const ids = gpu.createTensor([rows], 'u32', 'ids');
  const history = tensor(gpu, new Uint32Array(rows * width).fill(1), [rows, width], 'u32');
  const [i, h] = await readAll(gpu, (rec) => pickToken({ gpu, rec }, { indices, k, ids, history, historyStride: width, length: job.length, draw, label: 'pick' }), [ids, history]);
  return { ids: [...new Uint32Array(i!)], history: [...new Uint32Array(h!)] };
}

export async function runPenaltyJob(gpu: Gpu, logits: Float32Array, vocab: number, ids: Uint32Array, o: { rows: number; count: number; stride: number; offset: number; penalty: number }): Promise<Float32Array> {
  const x = tensor(gpu, logits, [logits.length / vocab, vocab], 'f32');
  const t = tensor(gpu, ids, [ids.length], 'u32');
  const [out] = await readAll(gpu, (rec) => repetitionPenalty({ gpu, rec }, { logits: x, ids: t, rows: o.rows, count: o.count, idsStride: o.stride, idsOffset: o.offset, penalty: o.penalty, label: 'penalty' }), [x]);
  return new Float32Array(out!);
}
