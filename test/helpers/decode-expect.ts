// What the decoding kernels must leave, compared with the CPU references of test/reference/decode.ts: shared by
// the Node kernel tests and the Chromium ones, which run the same jobs.
import { expect } from 'vitest';
import { beamReference, pickReference, type BeamJob, type PickJob } from '../reference/decode';
import type { BeamRun, PickRun } from './decode-kernels';

// One f32 multiplication or division per penalised logit: WGSL's division is within 2.5 ULP (2.5 · 2⁻²³
// relative), and the penalty itself is rounded to f32.
const DIVISION_REL = 4e-7;

/** The beam step, exactly: the same f32 additions and the same comparisons as the host's. */
export function expectBeamRun(got: BeamRun, job: BeamJob): void {
  const want = beamReference(job);
  expect(got.record.top).toEqual(want.top);
  expect(got.record.next).toEqual(want.next.map((c) => ({ beam: c.beam, token: c.token })));
  const m = want.next.length;
  expect(got.ids.slice(0, m)).toEqual(want.next.map((c) => c.token));
  expect(got.parents.slice(0, m)).toEqual(want.next.map((c) => c.beam));
  expect(got.scores.slice(0, m)).toEqual(want.next.map((c) => c.total));
  const set = job.beams * job.width;
  const dst = (1 - job.src) * set;
  want.history.forEach((row, r) => expect(got.history.slice(dst + r * job.width, dst + r * job.width + row.length)).toEqual(row));
  // The set read is left as it was.
  expect(got.history.slice(job.src * set, (job.src + 1) * set)).toEqual([...job.history.subarray(job.src * set, (job.src + 1) * set)]);
}

/** The picked tokens, exactly, in `ids` and at column `length` of each row's history (all else untouched: 1). */
export function expectPickRun(got: PickRun, job: PickJob, sample: boolean): void {
  const want = pickReference(job, sample);
  expect(got.ids, `sample ${sample}, scale ${job.scale}, topP ${job.topP}, seed ${job.seed}`).toEqual(want);
  got.history.forEach((t, i) => expect(t).toBe(i % job.width === job.length ? want[Math.floor(i / job.width)] : 1));
}

/** Penalised logits within DIVISION_REL of the reference; the others exactly as they were. */
export function expectPenalised(got: ArrayLike<number>, want: Float32Array, logits: Float32Array): void {
  for (let i = 0; i < want.length; i++) {
    if (want[i] === logits[i]) expect(got[i], `logit ${i} is not penalised`).toBe(logits[i]);
    else expect(Math.abs(got[i]! - want[i]!), `logit ${i}`).toBeLessThanOrEqual(DIVISION_REL * Math.abs(want[i]!));
  }
}
