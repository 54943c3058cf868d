// The decoding kernels (src/kernels/decode) against CPU references built from the host search's own pieces
// (generate.ts): beam search's step, the next token of greedy decoding and sampling (the counter-based PRNG
// included), and the repetition penalty over token histories with repeats.
import { describe, expect, it } from 'vitest';
import { beamJob, beamReference, penaltyReference, pickJob, pickReference, type BeamJob } from './reference/decode';
import { randn, uniformInts } from './reference/random';
import { runBeamJob, runPenaltyJob, runPickJob } from './helpers/decode-kernels';
import { testGpu } from './helpers/gpu';

// One f32 multiplication or division per penalised logit: WGSL's division is within 2.5 ULP (2.5 · 2⁻²³
// relative), and the penalty itself is rounded to f32.
const DIVISION_REL = 4e-7;

/** What the beam step must leave, compared exactly: the same f32 additions, the same comparisons. */
async function expectBeamStep(job: BeamJob): Promise<void> {
  const gpu = await testGpu();
  const want = beamReference(job);
  const got = await runBeamJob(gpu, job);
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

describe('beam search step on the GPU', () => {
  for (const beams of [1, 2, 3, 5, 8]) {
    for (const logprob of [true, false]) {
      it(`${beams} beam(s), ${logprob ? 'log-probability' : 'raw'} scores: ranking, next beams, scores and reordered histories equal the host's`, async () => {
        for (const seed of [1, 2, 3]) await expectBeamStep(beamJob(beams, 100 * beams + seed + (logprob ? 0 : 50), { logprob, first: seed === 1 }));
      });
    }
  }

  it('continues fewer beams when the candidates run out (one finite candidate; only end tokens)', async () => {
    const one = beamJob(3, 9, { logprob: true });
    one.values.fill(-Infinity, 1);
    one.indices[0] = 11;
    await expectBeamStep(one);
    const ends = beamJob(2, 10, { logprob: false });
    ends.indices.forEach((_, i) => (ends.indices[i] = i % 2 === 0 ? ends.endId : 1000 + i));
    ends.values.forEach((_, i) => (ends.values[i] = i % 2 === 0 ? 1 : -Infinity));
    await expectBeamStep(ends);
  });
});

describe('next token on the GPU (greedy and sampling)', () => {
  for (const [rows, k] of [[1, 1], [1, 32], [3, 5], [70, 7]] as const) {
    it(`${rows} row(s) of ${k} candidates: greedy takes the first, sampling draws as the host does`, async () => {
      const gpu = await testGpu();
      for (const [scale, topP, sampleSeed] of [[1, 1, 0], [1 / 0.7, 0.9, 42], [2, 0.3, -5], [1, 0.75, 2 ** 40 + 3]] as const) {
        const job = pickJob(rows, k, rows * 31 + k + sampleSeed, { scale, topP, sampleSeed });
        for (const sample of [false, true]) {
          const want = pickReference(job, sample);
          const got = await runPickJob(gpu, job, sample);
          expect(got.ids, `sample ${sample}, scale ${scale}, topP ${topP}, seed ${sampleSeed}`).toEqual(want);
          // The token lands in each row's history at `length`; nothing else changes.
          got.history.forEach((t, i) => expect(t).toBe(i % job.width === job.length ? want[Math.floor(i / job.width)] : 1));
        }
      }
    });
  }

  it('draws with the counter-based PRNG of (seed, step, row): 32 equal candidates reveal its top 5 bits', async () => {
    const gpu = await testGpu();
    const rows = 4;
    const k = 32;
    let compared = 0;
    for (const seed of [0, 1, 7, -1, 123456789, 2 ** 33]) {
      for (let length = 1; length < 12; length++) {
        const job = pickJob(rows, k, 5, { scale: 1, topP: 1, sampleSeed: seed });
        job.values.fill(0);
        job.lse.fill(Math.log(k)); // every candidate has probability 1/32, and they hold all the mass
        job.length = length;
        expect((await runPickJob(gpu, job, true)).ids).toEqual(pickReference(job, true));
        compared += rows;
      }
    }
    expect(compared).toBe(6 * 11 * 4);
  });
});

describe('repetition penalty over token histories', () => {
  it('penalises each distinct id once, per row, from an offset, skipping ids beyond the vocabulary', async () => {
    const gpu = await testGpu();
    const vocab = 1000;
    const rows = 3;
    const stride = 76;
    const logits = randn(rows * vocab, 3, 4);
    // Two sets of histories; set 1 is read. Repeats are likely (ids from 0…40), plus ids ≥ vocab.
    const ids = Uint32Array.from(uniformInts(2 * rows * stride, 4, 0, 40));
    ids[rows * stride + 5] = vocab + 3;
    ids[rows * stride + stride + 1] = 0xffffffff;
    for (const [count, penalty] of [[1, 1.3], [17, 1.3], [stride, 0.7]] as const) {
      const o = { rows, count, stride, offset: rows * stride, penalty };
      const got = await runPenaltyJob(gpu, logits, vocab, ids, o);
      const want = penaltyReference(logits, vocab, ids, o);
      for (let i = 0; i < want.length; i++) {
        if (want[i] === logits[i]) expect(got[i], `logit ${i} is not penalised`).toBe(logits[i]);
        else expect(Math.abs(got[i]! - want[i]!), `logit ${i}`).toBeLessThanOrEqual(DIVISION_REL * Math.abs(want[i]!));
      }
    }
  });
});
