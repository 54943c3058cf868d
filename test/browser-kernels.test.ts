// The same kernels, in headless Chromium, in a module Web Worker: the browser path proven against the CPU reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import type { DecodeJobs, KernelJob, KernelResults } from './browser/kernel-worker';
import { expectBeamRun, expectPenalised, expectPickRun } from './helpers/decode-expect';
import { beamJob, penaltyJob, penaltyReference, pickJob } from './reference/decode';
import { attention as attentionRef, layerNorm as layerNormRef, matmul as matmulRef } from './reference/cpu';
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
  it('matmul (f32 and fp16 weights, +bias +GELU), causal attention, layernorm and the decoding kernels match the CPU reference', async () => {
    const [M, K, N, L, D, heads] = [17, 77, 50, 17, 48, 4];
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
    };
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${url}/test/browser/kernels.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const results = (await page.evaluate(
      (j) => (window as unknown as { runKernels: (job: unknown) => Promise<unknown> }).runKernels(j),
      { ...job, x: [...job.x], w: [...job.w], b: [...job.b], qkv: [...job.qkv], gamma: [...job.gamma], beta: [...job.beta] },
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

    // Decoding kernels, the same jobs built on both sides from their seeds: exact, like in Node.
    const decode = results.decode as KernelResults['decode'];
    DECODE_JOBS.beams.forEach((b, i) => expectBeamRun(decode.beams[i]!, beamJob(b.beams, b.seed, b)));
    DECODE_JOBS.picks.forEach((p, i) => expectPickRun(decode.picks[i]!, pickJob(p.rows, p.k, p.seed, p), p.sample));
    const { seed, count, penalty } = DECODE_JOBS.penalty;
    const { logits, vocab, ids, rows, stride } = penaltyJob(seed);
    expectPenalised(decode.penalty, penaltyReference(logits, vocab, ids, { rows, count, stride, offset: rows * stride, penalty }), logits);
    await page.close();
  });
});
