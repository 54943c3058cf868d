// The same kernels, in headless Chromium, in a module Web Worker: the browser path proven against the CPU reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { FUSED, type DecodeJobs, type KernelJob, type KernelResults } from './browser/kernel-job';
import { expectBeamRun, expectPenalised, expectPickRun } from './helpers/decode-expect';
import { beamJob, penaltyJob, penaltyReference, pickJob } from './reference/decode';
import { attention as attentionRef, l2Normalize as l2NormalizeRef, layerNorm as layerNormRef, matmul as matmulRef, multiHeadAttentionHeads } from './reference/cpu';
import { randn } from './reference/random';
import { asF16Weights, maxAbs, maxAbsDiff } from './helpers/gpu';
import { launchChromium, startViteServer } from './helpers/browser';

// Same arithmetic as the Node tests: f32 sums of ≤ 77 terms, and softmax/LN over short rows.
const F32_REL = 1e-5;

/** Beam steps of 1, 3 and 8 beams, token picks (greedy and sampled, several rows), the penalty over repeats. */
const DECODE_JOBS: DecodeJobs = {
  beams: [
    { beams: 1, seed: 1, logprob: true, first: true },
    { beams: 3, seed: 2, logprob: true, first: false },
    { beams: 8, seed: 3, logprob: false, first: false },
  ],
  picks: [
    { rows: 1, k: 32, seed: 4, scale: 1, topP: 0.9, sampleSeed: 42, sample: true },
    { rows: 70, k: 7, seed: 5, scale: 1 / 0.7, topP: 0.75, sampleSeed: -5, sample: true },
    { rows: 3, k: 5, seed: 6, scale: 1, topP: 1, sampleSeed: 0, sample: false },
  ],
  penalty: { seed: 3, count: 17, penalty: 1.3 },
};

let browser: Browser;
let server: ViteDevServer;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startViteServer());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('kernels in Chromium (module worker, WebGPU on SwiftShader)', () => {
  it('matmul (f32 and fp16 weights, +bias +GELU), causal attention, layernorm, the fused kernels and the decoding kernels match the CPU reference', async () => {
    const [M, K, N, L, D, heads] = [17, 77, 50, 17, 48, 4];
    const F = FUSED.K;
    const job: KernelJob = {
      x: randn(M * K, 11, 1),
      w: randn(N * K, 12, 0.2),
      b: randn(N, 13, 0.5),
      M,
      K,
      N,
      qkv: randn(L * 3 * D, 14, 1),
      L,
      D,
      heads,
      gamma: randn(K, 15, 1),
      beta: randn(K, 16, 1),
      decode: DECODE_JOBS,
      rowsIn: randn(FUSED.rows * F, 20, 1).map((v) => v + 1),
      sequence: randn(FUSED.batch * FUSED.L * F, 21, 1),
      wide: randn(FUSED.L * FUSED.N, 22, 1).map((v) => v + 2),
      inProj: randn(3 * F * F, 23, 1.5 / Math.sqrt(F)),
      inBias: randn(3 * F, 24, 0.3),
      up: randn(FUSED.N * F, 25, 1 / Math.sqrt(F)),
      down: randn(FUSED.N * F, 26, 1 / Math.sqrt(F)),
      norm: Float32Array.from([...randn(F, 27, 0.3).map((v) => v + 1), ...randn(F, 28, 0.2)]),
      normWide: Float32Array.from([...randn(FUSED.N, 29, 0.3).map((v) => v + 1), ...randn(FUSED.N, 30, 0.2)]),
      cache: randn(FUSED.rows * FUSED.capacity * 2 * F, 31, 1),
      positions: randn(FUSED.L * FUSED.N, 32, 0.5),
      classRow: randn(FUSED.N, 33, 1),
    };
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/test/browser/kernels.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const results = (await page.evaluate(
      (j) => (window as unknown as { runKernels: (job: unknown) => Promise<unknown> }).runKernels(j),
      Object.fromEntries(Object.entries(job).map(([k, v]) => [k, v instanceof Float32Array ? [...v] : v])),
    )) as Record<keyof KernelResults, unknown>;
    expect(errors).toEqual([]);
    expect(String(results.adapter).toLowerCase()).toContain('swiftshader');
    const values = (v: unknown): number[] => Object.values(v as Record<string, number>);

    const want32 = matmulRef(job.x, job.w, { M, K, N }, job.b, { gelu: true });
    expect(maxAbsDiff(values(results.matmulF32), want32)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want32)));
    const want16 = matmulRef(job.x, asF16Weights(job.w).rounded, { M, K, N }, job.b, { gelu: true });
    expect(maxAbsDiff(values(results.matmulF16), want16)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want16)));

    const q = new Float32Array(L * D);
    const k = new Float32Array(L * D);
    const v = new Float32Array(L * D);
    for (let i = 0; i < L; i++) {
      q.set(job.qkv.subarray(i * 3 * D, i * 3 * D + D), i * D);
      k.set(job.qkv.subarray(i * 3 * D + D, i * 3 * D + 2 * D), i * D);
      v.set(job.qkv.subarray(i * 3 * D + 2 * D, i * 3 * D + 3 * D), i * D);
    }
    const wantAttn = attentionRef({ q, k, v, heads, headDim: D / heads, mask: 'causal' });
    expect(maxAbsDiff(values(results.attention), wantAttn)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(wantAttn)));

    const wantLn = layerNormRef(job.x, job.gamma, job.beta).out;
    expect(maxAbsDiff(values(results.layerNorm), wantLn)).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(wantLn)));

    // The fused kernels, on SwiftShader's CPU-adapter variants without subgroups (fp16 weights where the
    // runtime has them). The reference sees the fp16-rounded weights.
    const expectClose = (got: unknown, want: ArrayLike<number>, what: string): void => {
      expect(maxAbsDiff(values(got), want), what).toBeLessThanOrEqual(F32_REL * Math.max(1, maxAbs(want)));
    };
    const { rows, batch, position, capacity } = FUSED;
    const [width, length] = [FUSED.N, FUSED.L];
    const [gamma, beta] = [job.norm.subarray(0, F), job.norm.subarray(F)];
    const [gammaWide, betaWide] = [job.normWide.subarray(0, width), job.normWide.subarray(width)];
    const up = asF16Weights(job.up).rounded;
    const inProj = asF16Weights(job.inProj).rounded;
    const normalizedRows = layerNormRef(job.rowsIn, gamma, beta).out;
    expectClose(results.lnMatmul, matmulRef(normalizedRows, up, { M: rows, K: F, N: width }), 'matmul with ln');
    const wantY = matmulRef(job.sequence.subarray(0, length * F), job.down, { M: length, K: F, N: width }, undefined, { residual: job.wide });
    expectClose(results.matmulY, wantY, 'matmul with lnAfter: y');
    expectClose(results.matmulH, layerNormRef(Float64Array.from(values(results.matmulY)), gammaWide, betaWide).out, 'matmul with lnAfter: h');
    for (let item = 0; item < batch; item++) {
      const input = job.sequence.subarray(item * length * F, (item + 1) * length * F);
      const want = multiHeadAttentionHeads({ inProjWeight: inProj, inProjBias: job.inBias, xq: input, xkv: input, heads, mask: 'causal' }).heads;
      expectClose(values(results.sequenceAttention).slice(item * length * F, (item + 1) * length * F), want, `sequenceAttention item ${item}`);
    }
    const step = values(results.stepOut);
    for (let r = 0; r < rows; r++) {
      const project = (part: number) => matmulRef(normalizedRows.subarray(r * F, (r + 1) * F), inProj.subarray(part * F * F, (part + 1) * F * F), { M: 1, K: F, N: F }, job.inBias.subarray(part * F, (part + 1) * F));
      const base = r * capacity * 2 * F;
      const k = new Float64Array((position + 1) * F);
      const v = new Float64Array((position + 1) * F);
      for (let j = 0; j < position; j++) {
        k.set(job.cache.subarray(base + j * 2 * F, base + j * 2 * F + F), j * F);
        v.set(job.cache.subarray(base + j * 2 * F + F, base + (j + 1) * 2 * F), j * F);
      }
      k.set(project(1), position * F);
      v.set(project(2), position * F);
      expectClose(step.slice(r * F, (r + 1) * F), attentionRef({ q: project(0), k, v, heads, headDim: F / heads, mask: 'none' }), `stepAttention row ${r}`);
      expectClose(values(results.stepCache).slice(base + position * 2 * F, base + (position + 1) * 2 * F), [...project(1), ...project(2)], `stepAttention cache row ${r}`);
    }
    const lastRows = new Float32Array(batch * F);
    for (let item = 0; item < batch; item++) lastRows.set(job.sequence.subarray((item * length + length - 1) * F, (item * length + length) * F), item * F);
    const wantRaw = matmulRef(layerNormRef(lastRows, gamma, beta).out, up, { M: batch, K: F, N: width });
    expectClose(results.featuresRaw, wantRaw, 'features: raw');
    expectClose(results.features, l2NormalizeRef(wantRaw, width), 'features');
    const preInput = new Float64Array(length * width);
    for (let i = 0; i < length; i++) for (let d = 0; d < width; d++) preInput[i * width + d] = (i === 0 ? job.classRow[d]! : job.wide[i * width + d]!) + job.positions[i * width + d]!;
    expectClose(results.lnPre, layerNormRef(preInput, gammaWide, betaWide).out, 'layerNorm with positions and a class row');

    // Decoding kernels, the same jobs built on both sides from their seeds: exact, like in Node.
    {
      const decode = results.decode as KernelResults['decode'];
      DECODE_JOBS.beams.forEach((b, i) => expectBeamRun(decode.beams[i]!, beamJob(b.beams, b.seed, b)));
      DECODE_JOBS.picks.forEach((p, i) => expectPickRun(decode.picks[i]!, pickJob(p.rows, p.k, p.seed, p), p.sample));
      const { seed, count, penalty } = DECODE_JOBS.penalty;
      const { logits, vocab, ids, rows, stride } = penaltyJob(seed);
      expectPenalised(decode.penalty, penaltyReference(logits, vocab, ids, { rows, count, stride, offset: rows * stride, penalty }), logits);
    }
    await page.close();
  });
});
