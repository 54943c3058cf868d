// Runs inside a module Web Worker in Chromium: the same GPU core and kernels as in Node, compiled by
// Vite, on the browser's WebGPU. Receives inputs, runs matmul (f32 and fp16 weights), attention and
// layernorm, and the decoding kernels on seeded jobs (test/reference/decode.ts), and posts the outputs back
// for the Node side to compare with the CPU reference.
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/gpu';
import { viteShaders } from '../../src/gpu/shaders-vite';
import type { Tensor } from '../../src/gpu/tensor';
import { attention } from '../../src/kernels/attention';
import { layerNorm } from '../../src/kernels/layernorm';
import { matmul } from '../../src/kernels/matmul';
import { f32ArrayToF16, packF16Pairs } from '../../src/io/fp16';
import { runBeamJob, runPenaltyJob, runPickJob, type BeamRun, type PickRun } from '../helpers/decode-kernels';
import { beamJob, penaltyJob, pickJob } from '../reference/decode';

/** Decoding-kernel jobs by their seeds (the worker builds them as the Node side does). */
export interface DecodeJobs {
  beams: { beams: number; seed: number; logprob: boolean; first: boolean }[];
  picks: { rows: number; k: number; seed: number; scale: number; topP: number; sampleSeed: number; sample: boolean }[];
  penalty: { seed: number; count: number; penalty: number };
}

export interface DecodeResults {
  beams: BeamRun[];
  picks: PickRun[];
  penalty: number[];
}

export interface KernelJob {
  x: Float32Array; // [M, K]
  w: Float32Array; // [N, K]
  b: Float32Array; // [N]
  M: number;
  K: number;
  N: number;
  qkv: Float32Array; // [L, 3D]
  L: number;
  D: number;
  heads: number;
  gamma: Float32Array; // [K]
  beta: Float32Array;
  decode: DecodeJobs;
}

export interface KernelResults {
  adapter: string;
  matmulF32: Float32Array;
  matmulF16: Float32Array;
  attention: Float32Array;
  layerNorm: Float32Array;
  decode: DecodeResults;
}

async function run(job: KernelJob): Promise<KernelResults> {
  const gpu = new Gpu(await acquireDevice(), viteShaders);
  const upload = (data: Float32Array | Uint32Array, shape: number[], dtype: 'f32' | 'f16x2' = 'f32'): Tensor => {
    const t = gpu.createTensor(shape, dtype, 'input');
    gpu.write(t, data);
    return t;
  };
  const x = upload(job.x, [job.M, job.K]);
  const w32 = upload(job.w, [job.N, job.K]);
  const w16 = upload(packF16Pairs(f32ArrayToF16(job.w)), [job.N, job.K], 'f16x2');
  const b = upload(job.b, [job.N]);
  const qkv = upload(job.qkv, [job.L, 3 * job.D]);
  const gamma = upload(job.gamma, [job.K]);
  const beta = upload(job.beta, [job.K]);
  const y32 = gpu.createTensor([job.M, job.N], 'f32', 'y32');
  const y16 = gpu.createTensor([job.M, job.N], 'f32', 'y16');
  const att = gpu.createTensor([job.L, job.D], 'f32', 'attn');
  const ln = gpu.createTensor([job.M, job.K], 'f32', 'ln');
  const rec = gpu.recorder({ label: 'browser kernels' });
  const ctx = { gpu, rec };
  matmul(ctx, { x, w: w32, bias: b, y: y32, gelu: true, label: 'matmul f32' });
  matmul(ctx, { x, w: w16, bias: b, y: y16, gelu: true, label: 'matmul f16' });
  const D = job.D;
  attention(ctx, {
    q: { tensor: qkv, offset: 0, rowStride: 3 * D },
    k: { tensor: qkv, offset: D, rowStride: 3 * D },
    v: { tensor: qkv, offset: 2 * D, rowStride: 3 * D },
    out: { tensor: att, rowStride: D },
    heads: job.heads,
    headDim: D / job.heads,
    queries: job.L,
    keys: job.L,
    mask: 'causal',
    label: 'attention',
  });
  layerNorm(ctx, { x, gamma, beta, y: ln, label: 'layernorm' });
  const reads = [y32, y16, att, ln].map((t) => rec.read(t));
  await rec.submit();
  const [m32, m16, a, l] = (await Promise.all(reads)).map((bytes) => new Float32Array(bytes));
  const decode = await runDecodeJobs(gpu, job.decode);
  const adapter = gpu.adapterName;
  gpu.destroy();
  return { adapter, matmulF32: m32!, matmulF16: m16!, attention: a!, layerNorm: l!, decode };
}

async function runDecodeJobs(gpu: Gpu, jobs: DecodeJobs): Promise<DecodeResults> {
  const beams: BeamRun[] = [];
  for (const b of jobs.beams) beams.push(await runBeamJob(gpu, beamJob(b.beams, b.seed, b)));
  const picks: PickRun[] = [];
  for (const p of jobs.picks) picks.push(await runPickJob(gpu, pickJob(p.rows, p.k, p.seed, p), p.sample));
  const { seed, count, penalty } = jobs.penalty;
  const { logits, vocab, ids, rows, stride } = penaltyJob(seed);
  return { beams, picks, penalty: [...(await runPenaltyJob(gpu, logits, vocab, ids, { rows, count, stride, offset: rows * stride, penalty }))] };
}

self.onmessage = (event: MessageEvent<KernelJob>) => {
  run(event.data).then(
    (results) => self.postMessage({ ok: true, results }),
    (error: unknown) => self.postMessage({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
};
