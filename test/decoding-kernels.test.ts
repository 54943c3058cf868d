// The decoding kernels (src/kernels/decode) against CPU references built from the host search's own pieces
// (generate.ts): beam search's step, the next token of greedy decoding and sampling (the counter-based PRNG
// included), and the repetition penalty over token histories with repeats.
import { describe, expect, it } from 'vitest';
import { beamJob, penaltyJob, penaltyReference, pickJob, type BeamJob } from './reference/decode';
import { expectBeamRun, expectPenalised, expectPickRun } from './helpers/decode-expect';
import { runBeamJob, runPenaltyJob, runPickJob } from './helpers/decode-kernels';
import { testGpu } from './helpers/gpu';

async function expectBeamStep(job: BeamJob): Promise<void> {
  expectBeamRun(await runBeamJob(await testGpu(), job), job);
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
        for (const sample of [false, true]) expectPickRun(await runPickJob(gpu, job, sample), job, sample);
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
        expectPickRun(await runPickJob(gpu, job, true), job, true);
        compared += rows;
      }
    }
    expect(compared).toBe(6 * 11 * 4);
  });
});

describe('repetition penalty over token histories', () => {
  it('penalises each distinct id once, per row, from an offset, skipping ids beyond the vocabulary', async () => {
    const gpu = await testGpu();
    const { logits, vocab, ids, rows, stride } = penaltyJob(3);
    for (const [count, penalty] of [[1, 1.3], [17, 1.3], [stride, 0.7]] as const) {
      const o = { rows, count, stride, offset: rows * stride, penalty }; // set 1 of the two
      expectPenalised(await runPenaltyJob(gpu, logits, vocab, ids, o), penaltyReference(logits, vocab, ids, o), logits);
    }
  });
});
