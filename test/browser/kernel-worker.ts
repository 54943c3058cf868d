// Runs inside a module Web Worker in Chromium: the same GPU core and kernels as in Node, compiled by
// Vite, on the browser's WebGPU. Receives inputs, runs matmul (f32 and fp16 weights), attention and
// layernorm, the fused kernels (matmul with a LayerNorm before or after it, attention with its projection
// over whole sequences and for a decoding step, features, the vision tower's ln_pre with positions) and the
// decoding kernels on seeded jobs (test/reference/decode.ts), and posts the outputs back for the Node side to
// compare with the CPU reference.
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/gpu';
import { viteShaders } from '../../src/gpu/shaders-vite';
import type { Tensor } from '../../src/gpu/tensor';
import { attention, sequenceAttention, stepAttention } from '../../src/kernels/attention';
import { features } from '../../src/kernels/features';
import { layerNorm } from '../../src/kernels/layernorm';
import { matmul } from '../../src/kernels/matmul';
import { f32ArrayToF16, packF16Pairs } from '../../src/io/fp16';
import { runBeamJob, runPenaltyJob, runPickJob, type BeamRun, type PickRun } from '../helpers/decode-kernels';
import { beamJob, penaltyJob, pickJob } from '../reference/decode';
import { FUSED, type DecodeJobs, type DecodeResults, type KernelJob, type KernelResults } from './kernel-job';

async function run(job: KernelJob): Promise<KernelResults> {
  const gpu = new Gpu(await acquireDevice(), viteShaders);
  const upload = (data: Float32Array | Uint32Array, shape: number[], dtype: 'f32' | 'f16x2' = 'f32'): Tensor => {
    const t = gpu.createTensor(shape, dtype, 'input');
    gpu.write(t, data);
    return t;
  };
  const fp16 = (data: Float32Array, shape: number[]): Tensor => upload(packF16Pairs(f32ArrayToF16(data)), shape, 'f16x2');
  const x = upload(job.x, [job.M, job.K]);
  const w32 = upload(job.w, [job.N, job.K]);
  const w16 = fp16(job.w, [job.N, job.K]);
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

  const { rows, K: F, N, L, batch, heads, position, capacity } = FUSED;
  const norm = { gamma: upload(job.norm.subarray(0, F), [F]), beta: upload(job.norm.subarray(F), [F]) };
  const normWide = { gamma: upload(job.normWide.subarray(0, N), [N]), beta: upload(job.normWide.subarray(N), [N]) };
  const up = fp16(job.up, [N, F]);
  const inProj = fp16(job.inProj, [3 * F, F]);
  const inBias = upload(job.inBias, [3 * F]);
  const rowsIn = upload(job.rowsIn, [rows, F]);
  const sequence = upload(job.sequence, [batch, L, F]);
  const lnMatmul = gpu.createTensor([rows, N], 'f32', 'ln matmul');
  matmul(ctx, { x: rowsIn, ln: norm, w: up, y: lnMatmul, label: 'ln matmul' });
  const matmulY = upload(job.wide, [L, N]);
  const matmulH = gpu.createTensor([L, N], 'f32', 'h');
  matmul(ctx, { x: sequence, M: L, w: upload(job.down, [N, F]), y: matmulY, accumulate: true, lnAfter: { ...normWide, out: matmulH }, label: 'matmul ln after' });
  const seqOut = gpu.createTensor([batch, L, F], 'f32', 'sequence attention');
  sequenceAttention(ctx, { x: sequence, w: inProj, bias: inBias, qkv: gpu.createTensor([batch, L, 3 * F], 'f32', 'qkv'), out: seqOut, heads, queries: L, batch, mask: 'causal', label: 'sequence attention' });
  const cache = upload(job.cache, [rows, capacity, 2 * F]);
  const stepOut = gpu.createTensor([rows, F], 'f32', 'step');
  stepAttention(ctx, { x: rowsIn, ln: norm, w: inProj, bias: inBias, cache: { tensor: cache, rowStride: 2 * F, batchStride: capacity * 2 * F }, position, out: stepOut, heads, rows, label: 'step attention' });
  const featuresRaw = gpu.createTensor([batch, N], 'f32', 'raw');
  const featureOut = gpu.createTensor([batch, N], 'f32', 'features');
  features(ctx, { x: sequence, row: L - 1, ln: norm, projection: up, raw: featuresRaw, features: featureOut, label: 'features' });
  const lnPre = upload(job.wide, [1, L, N]);
  layerNorm(ctx, { x: lnPre, ...normWide, y: lnPre, positions: upload(job.positions, [L, N]), classRow: upload(job.classRow, [N]), label: 'ln_pre' });

  const outputs = [y32, y16, att, ln, lnMatmul, matmulY, matmulH, seqOut, stepOut, cache, featuresRaw, featureOut, lnPre];
  const reads = outputs.map((t) => rec.read(t));
  await rec.submit();
  const [m32, m16, a, l, lm, my, mh, sa, so, sc, fr, fo, lp] = (await Promise.all(reads)).map((bytes) => new Float32Array(bytes));
  const decode = await runDecodeJobs(gpu, job.decode);
  const adapter = gpu.adapterName;
  gpu.destroy();
  return {
    adapter,
    matmulF32: m32!,
    matmulF16: m16!,
    attention: a!,
    layerNorm: l!,
    lnMatmul: lm!,
    matmulY: my!,
    matmulH: mh!,
    sequenceAttention: sa!,
    stepOut: so!,
    stepCache: sc!,
    featuresRaw: fr!,
    features: fo!,
    lnPre: lp!,
    decode,
  };
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
