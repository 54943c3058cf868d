// GPU timing (issue 9 §1): the timestamp layout and its conversion on known numbers, then real passes on
// lavapipe (which has timestamp-query) whose dispatches have known relative costs, and host-wait counting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuError } from '../src/errors';
import { nodeGpu } from '../src/gpu/dawn-node';
import { acquireDevice } from '../src/gpu/device';
import { Gpu } from '../src/gpu/gpu';
import { write, type PipelineSpec } from '../src/gpu/pipelines';
import { libraryFromRecord } from '../src/gpu/shader-library';
import type { Tensor } from '../src/gpu/tensor';
import { intervalMs, MAX_TIMED_DISPATCHES, parseTimestamps, passTimestampIndices, PassTimer, timestampCount } from '../src/gpu/timing';

/** Sums of per-dispatch milliseconds vs the pass's span: each is a u64 nanosecond difference divided by 1e6 in doubles. */
const MS_ROUNDING = 1e-9;

describe('timestamp layout and units (known answers)', () => {
  it('converts nanosecond intervals to milliseconds exactly, even at large clock values', () => {
    expect(intervalMs(1_000_000_000n, 1_002_500_000n)).toBe(2.5);
    const base = 2n ** 60n; // ~36 years of nanoseconds: beyond doubles' exact integers, the difference is taken in u64 first
    expect(intervalMs(base, base + 123_456_789n)).toBe(123.456789);
  });

  it('lays out 2 queries per pass, or 2 per dispatch', () => {
    expect(timestampCount('off', 5)).toBe(0);
    expect(timestampCount('host', 5)).toBe(0);
    expect(timestampCount('pass', 5)).toBe(2);
    expect(timestampCount('dispatch', 5)).toBe(10);
    expect(timestampCount('dispatch', 0)).toBe(0);
    expect(passTimestampIndices(0)).toEqual({ beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    expect(passTimestampIndices(3)).toEqual({ beginningOfPassWriteIndex: 6, endOfPassWriteIndex: 7 });
  });

  it('attributes a fake query buffer to the dispatches in recording order', () => {
    const dispatches = [
      { kernel: 'layernorm', label: 'visual.ln_pre' },
      { kernel: 'matmul', label: 'visual.resblocks.0.mlp.c_fc' },
      { kernel: 'add', label: 'visual.resblocks.0.residual' },
    ];
    // begin/end pairs: 1 µs, 3 ms, 250 ns, with gaps between the passes.
    const ticks = BigUint64Array.of(5_000n, 6_000n, 10_000n, 3_010_000n, 3_020_000n, 3_020_250n);
    const { gpuMs, perDispatch } = parseTimestamps(ticks, 'dispatch', dispatches);
    expect(perDispatch).toEqual([
      { kernel: 'layernorm', label: 'visual.ln_pre', gpuMs: 0.001 },
      { kernel: 'matmul', label: 'visual.resblocks.0.mlp.c_fc', gpuMs: 3 },
      { kernel: 'add', label: 'visual.resblocks.0.residual', gpuMs: 0.00025 },
    ]);
    expect(gpuMs).toBe(3.01525);
    expect(parseTimestamps(BigUint64Array.of(7n, 1_000_007n), 'pass', dispatches)).toEqual({ gpuMs: 1, perDispatch: null });
  });

  it('refuses a query buffer of the wrong length, and timestamp modes without the feature', () => {
    expect(() => parseTimestamps(BigUint64Array.of(1n, 2n), 'dispatch', [{ kernel: 'a', label: 'a' }, { kernel: 'b', label: 'b' }])).toThrow(GpuError);
    const timer = new PassTimer(false);
    expect(() => (timer.mode = 'pass')).toThrow(/timestamp-query.*use 'host'/);
    expect(() => (timer.mode = 'dispatch')).toThrow(GpuError);
    timer.mode = 'host';
    expect(timer.mode).toBe('host');
  });
});

/**
 * A kernel of known cost: every invocation steps a 32-bit LCG ITERATIONS times, so the work is exactly
 * proportional to ITERATIONS and the result is computable on the host.
 */
const SPIN_WGSL = `
override ITERATIONS: u32 = 1u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  var x = state[id.x];
  for (var i = 0u; i < ITERATIONS; i++) { x = x * 1664525u + 1013904223u; }
  state[id.x] = x;
}`;
const HEAVY_ITERATIONS = 4096;
/** Timed passes whose per-dispatch minimum ranks the dispatches. */
const TIMED_RUNS = 3;
const INVOCATIONS = 64 * 256;

function spin(iterations: number): PipelineSpec {
  return { shader: 'spin', constants: { ITERATIONS: iterations }, bindings: [write('state', 'u32')] };
}

function spinOnHost(values: Uint32Array, iterations: number): void {
  for (let i = 0; i < values.length; i++) {
    let x = values[i]!;
    for (let k = 0; k < iterations; k++) x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    values[i] = x;
  }
}

describe('timed passes on the GPU', () => {
  let gpu: Gpu;
  let state: Tensor;
  const specs = new Map<number, PipelineSpec>();
  const specOf = (iterations: number): PipelineSpec => {
    if (!specs.has(iterations)) specs.set(iterations, spin(iterations));
    return specs.get(iterations)!;
  };

  beforeAll(async () => {
    gpu = new Gpu(await acquireDevice({ gpu: nodeGpu() }), libraryFromRecord({ spin: SPIN_WGSL }));
    state = gpu.createTensor([INVOCATIONS], 'u32', 'state');
  });
  afterAll(() => gpu?.destroy());

  /** Records one pass of spin dispatches (iterations each), reads the state back, returns it with the pass's timing. */
  async function runPass(iterations: readonly number[], label = 'spins'): Promise<Uint32Array> {
    const rec = gpu.recorder({ label });
    iterations.forEach((n, i) => rec.dispatch({ label: `spin.${i}.x${n}`, pipeline: specOf(n), bindings: [state], workgroups: [INVOCATIONS / 64] }));
    const read = rec.read(state);
    await rec.submit();
    return new Uint32Array(await read);
  }

  it('times each dispatch: the known-heavy one ranks first, the values are right, the parts fit in the whole', async () => {
    expect(gpu.info.hasTimestampQuery).toBe(true); // lavapipe 25 through Dawn offers it
    const start = Uint32Array.from({ length: INVOCATIONS }, (_, i) => i * 2654435761);
    gpu.write(state, start);
    const plan = [1, 3, HEAVY_ITERATIONS, 1, 2];
    await runPass(plan); // compiles the pipelines (late) outside the timed pass
    gpu.timing.mode = 'dispatch';
    gpu.timing.take();
    let values: Uint32Array;
    try {
      // lavapipe's timestamps are the CPU's clock: a busy machine can stall any dispatch (it only ever adds
      // time), so each dispatch's cost is its least over a few passes.
      for (let run = 0; run < TIMED_RUNS; run++) values = await runPass(plan);
    } finally {
      gpu.timing.mode = 'off';
    }
    const expected = start.slice();
    spinOnHost(expected, (1 + TIMED_RUNS) * plan.reduce((a, b) => a + b, 0));
    expect(values!).toEqual(expected);

    const passes = gpu.timing.take();
    expect(passes.length).toBe(TIMED_RUNS);
    const least = new Map<string, number>();
    for (const pass of passes) {
      expect(pass.label).toBe('spins');
      expect(pass.dispatches).toBe(plan.length);
      const perDispatch = pass.perDispatch!;
      expect(perDispatch.map((d) => d.label)).toEqual(plan.map((n, i) => `spin.${i}.x${n}`));
      expect(perDispatch.every((d) => d.kernel === 'spin')).toBe(true);
      for (const d of perDispatch) expect(d.gpuMs).toBeGreaterThanOrEqual(0);
      const sum = perDispatch.reduce((s, d) => s + d.gpuMs, 0);
      expect(sum).toBeLessThanOrEqual(pass.gpuMs! + MS_ROUNDING);
      for (const d of perDispatch) least.set(d.label, Math.min(least.get(d.label) ?? Infinity, d.gpuMs));
    }
    const ranked = [...least.entries()].sort((a, b) => b[1] - a[1]);
    expect(ranked[0]![0]).toBe(`spin.2.x${HEAVY_ITERATIONS}`);
  });

  it('times whole passes: the pass holding the heavy dispatch is the busier one; host phases fit in the wall time', async () => {
    await runPass([1, 1, 1], 'light');
    await runPass([1, HEAVY_ITERATIONS, 1], 'heavy');
    gpu.timing.mode = 'pass';
    gpu.timing.take();
    const started = performance.now();
    try {
      for (let run = 0; run < TIMED_RUNS; run++) {
        await runPass([1, 1, 1], 'light');
        await runPass([1, HEAVY_ITERATIONS, 1], 'heavy');
      }
    } finally {
      gpu.timing.mode = 'off';
    }
    const wall = performance.now() - started;
    const passes = gpu.timing.take();
    expect(passes.map((p) => p.label)).toEqual(Array.from({ length: TIMED_RUNS }, () => ['light', 'heavy']).flat());
    expect(passes.every((p) => p.perDispatch === null)).toBe(true);
    // As above: stalls only add time, so the least of each kind is compared.
    const least = (label: string): number => Math.min(...passes.filter((p) => p.label === label).map((p) => p.gpuMs!));
    expect(least('heavy')).toBeGreaterThan(least('light'));
    const hostTotal = passes.reduce((s, p) => s + p.host.recordMs + p.host.submitMs + p.host.waitMs + p.host.readbackMs, 0);
    expect(hostTotal).toBeLessThanOrEqual(wall);
    expect(passes.reduce((s, p) => s + p.gpuMs!, 0)).toBeLessThanOrEqual(wall);
  });

  it('with timing off, logs nothing and a repeated timed pass creates no GPU object', async () => {
    await runPass([1, 2]);
    expect(gpu.timing.take()).toEqual([]);
    gpu.timing.mode = 'dispatch';
    try {
      await runPass([1, 2]);
      const created = gpu.stats.buffersCreated;
      await runPass([1, 2]);
      expect(gpu.stats.buffersCreated).toBe(created);
    } finally {
      gpu.timing.mode = 'off';
    }
    expect(gpu.timing.take().map((p) => p.perDispatch!.length)).toEqual([2, 2]);
  });

  it('counts every map the host awaits', async () => {
    const before = gpu.stats.hostWaits;
    const noReads = gpu.recorder({ label: 'no reads' });
    noReads.dispatch({ label: 'spin', pipeline: specOf(1), bindings: [state], workgroups: [1] });
    await noReads.submit(); // nothing to wait for
    expect(gpu.stats.hostWaits - before).toBe(0);

    const three = gpu.recorder({ label: 'three reads' });
    three.dispatch({ label: 'spin', pipeline: specOf(1), bindings: [state], workgroups: [1] });
    await Promise.all([three.read(state), three.read(state), three.read(state), three.submit()]);
    expect(gpu.stats.hostWaits - before).toBe(1); // three reads, one map

    await gpu.read([state]);
    await gpu.readF32(state);
    expect(gpu.stats.hostWaits - before).toBe(3);

    const debug = gpu.recorder({ label: 'debug', debug: true });
    for (let i = 0; i < 4; i++) debug.dispatch({ label: `spin.${i}`, pipeline: specOf(1), bindings: [state], workgroups: [1], output: state });
    await debug.submit(); // each step read back alone
    expect(gpu.stats.hostWaits - before).toBe(7);

    gpu.timing.mode = 'pass';
    try {
      const timed = gpu.recorder({ label: 'timed, no reads' });
      timed.dispatch({ label: 'spin', pipeline: specOf(1), bindings: [state], workgroups: [1] });
      await timed.submit(); // waits for its timestamps
    } finally {
      gpu.timing.mode = 'off';
    }
    expect(gpu.stats.hostWaits - before).toBe(8);
    expect(gpu.timing.take().map((p) => [p.label, p.gpuMs! >= 0])).toEqual([['timed, no reads', true]]);
  });

  it('refuses to time more dispatches than a query set holds, and stays usable', async () => {
    gpu.timing.mode = 'dispatch';
    try {
      const rec = gpu.recorder({ label: 'too many' });
      for (let i = 0; i <= MAX_TIMED_DISPATCHES; i++) rec.dispatch({ label: `spin.${i}`, pipeline: specOf(1), bindings: [state], workgroups: [1] });
      const read = rec.read(state);
      await expect(rec.submit()).rejects.toThrow(/2049 dispatches cannot be timed per dispatch.*'pass' mode/);
      await expect(read).rejects.toThrow(GpuError);
    } finally {
      gpu.timing.mode = 'off';
    }
    gpu.write(state, new Uint32Array(INVOCATIONS));
    const values = await runPass([3]);
    const expected = new Uint32Array(INVOCATIONS);
    spinOnHost(expected, 3);
    expect(values).toEqual(expected);
  });
});
