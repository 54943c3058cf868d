import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/gpu';
import { gelu } from '../src/kernels/gelu';
import { nodeShaders } from '../src/gpu/shaders-node';
import { erf, erfc } from './reference/cpu';
import { randn } from './reference/random';

const GELU_WGSL = nodeShaders().source('lib/gelu');
import { run, testGpu, upload } from './helpers/gpu';

/** |erf_f32 − erf|: ≤ 2 ulps of erf (ulp ≤ 6e-8 below 1) from the series' and the erfc fit's roundings (measured 9.7e-8). */
const ERF_ABS_TOLERANCE = 1.2e-7;
/** |gelu_f32 − gelu| ≤ this · max(1, |gelu|): a few f32 roundings of x/√2, erf and 0.5·x·(1 + erf) (measured 1.2e-7). */
const GELU_TOLERANCE = 2e-7;
/**
 * The negative tail x ≤ −√2, where gelu = 0.5·x·erfc(−x/√2) is tiny: computing 1 + erf there would lose
 * everything (1 + erf(−3) = 2e-5 ≈ 170 ulps of 1). Its relative error is bounded instead, in units of
 * gelu's own condition number there, (1 + x²/2)·2⁻²⁴: a few roundings of x/√2 and of the exp argument
 * −z² + fit, each amplified by z² (measured ≤ 5.8 units on lavapipe).
 */
const GELU_TAIL_CONDITION_ULPS = 8;
/** Below this |gelu| the f32 result is (near-)subnormal and only the absolute bound applies. */
const F32_TINY = 1e-30;

/** x on a uniform grid over [−10, 10], step 1e-4, rounded to f32 (what the GPU sees). */
function denseGrid(): Float32Array {
  const n = 200_001;
  return Float32Array.from({ length: n }, (_, i) => -10 + (20 * i) / (n - 1));
}

/** Runs erf_f32 from shaders/lib/gelu.wgsl on each value: a test-only shader around the shared WGSL text. */
async function erfOnGpu(gpu: Gpu, xs: Float32Array): Promise<Float32Array> {
  const module = gpu.device.createShaderModule({
    code: `${GELU_WGSL}
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&v)) { v[gid.x] = erf_f32(v[gid.x]); }
}`,
  });
  const pipeline = await gpu.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const values = upload(gpu, xs, [xs.length]);
  const bindGroup = gpu.device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: values.buffer, offset: values.byteOffset, size: values.byteLength } }],
  });
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(Math.ceil(xs.length / 256));
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  return gpu.readF32(values);
}

/** Exact GELU as 0.5·x·erfc(−x/√2): the same value as geluScalar, but relatively accurate in the negative tail. */
function geluReference(x: number): number {
  return 0.5 * x * erfc(-x / Math.SQRT2);
}

function geluErrors(xs: Float32Array, got: Float32Array): { scaled: number; tailConditionUlps: number } {
  let scaled = 0;
  let tailConditionUlps = 0;
  xs.forEach((x, i) => {
    const want = geluReference(x);
    const diff = Math.abs(got[i]! - want);
    scaled = Math.max(scaled, diff / Math.max(1, Math.abs(want)));
    if (x <= -Math.SQRT2 && Math.abs(want) >= F32_TINY) {
      const condition = (1 + (x * x) / 2) * 2 ** -24;
      tailConditionUlps = Math.max(tailConditionUlps, diff / Math.abs(want) / condition);
    }
  });
  return { scaled, tailConditionUlps };
}

describe('erf and gelu in WGSL', () => {
  it('erf_f32 matches float64 erf on a dense grid over [−10, 10]', async () => {
    const gpu = await testGpu();
    const xs = denseGrid();
    const got = await erfOnGpu(gpu, xs);
    let maxError = 0;
    xs.forEach((x, i) => (maxError = Math.max(maxError, Math.abs(got[i]! - erf(x)))));
    console.info(`erf_f32: max |error| ${maxError.toExponential(2)} on [−10, 10]`);
    expect(maxError).toBeLessThanOrEqual(ERF_ABS_TOLERANCE);
  });

  it('gelu matches float64 exact GELU on a dense grid over [−10, 10], out of place', async () => {
    const gpu = await testGpu();
    const xs = denseGrid();
    const x = upload(gpu, xs, [xs.length]);
    const y = gpu.createTensor([xs.length], 'f32', 'y');
    const [got] = await run(gpu, (ctx) => gelu(ctx, { x, y, label: 'gelu' }), [y]);
    const { scaled, tailConditionUlps } = geluErrors(xs, got!);
    console.info(
      `gelu: max |error|/max(1, |gelu|) ${scaled.toExponential(2)}; ` +
        `for x ≤ −√2, max relative error ${tailConditionUlps.toFixed(2)} × (1 + x²/2)·2⁻²⁴`,
    );
    expect(scaled).toBeLessThanOrEqual(GELU_TOLERANCE);
    expect(tailConditionUlps).toBeLessThanOrEqual(GELU_TAIL_CONDITION_ULPS);
  });

  it('gelu matches on random activations and extreme values, in place, on an awkward length', async () => {
    const gpu = await testGpu();
    const extremes = [0, -0, 1e-30, -1e-30, 1e-7, -1e-7, 30, -30, 1e4, -1e4, 1e30, -1e30];
    const xs = Float32Array.from([...randn(50 * 257, 5, 3), ...extremes]);
    const x = upload(gpu, xs, [xs.length]);
    const [got] = await run(gpu, (ctx) => gelu(ctx, { x, y: x, label: 'gelu in place' }), [x]);
    const { scaled, tailConditionUlps } = geluErrors(xs, got!);
    expect(scaled).toBeLessThanOrEqual(GELU_TOLERANCE);
    expect(tailConditionUlps).toBeLessThanOrEqual(GELU_TAIL_CONDITION_ULPS);
  });
});
