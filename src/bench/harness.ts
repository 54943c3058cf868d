// Timing helpers shared by the benchmarks: wall-clock time of whole submits, waited to completion, GPU
// time from timestamps, and counts of what a call did.
import type { Gpu } from '../gpu/gpu';
import type { PassTiming, TimingMode } from '../gpu/timing';
import type { KernelContext } from '../kernels/common';

export interface Timing {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** max |got − want| over want's elements (a NaN difference counts as Infinity); got must be at least as long. */
export function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length < want.length) throw new Error(`got ${got.length} values, want ${want.length}`);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function summarize(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/**
 * Milliseconds per repetition of `body`: each sample records `repeat` copies into one submit and
 * waits for the GPU to finish, so recording and submission overheads are amortized.
 */
export async function timeKernel(gpu: Gpu, body: (ctx: KernelContext) => void, options: { warmup?: number; samples?: number; repeat?: number } = {}): Promise<Timing> {
  const { warmup = 1, samples = 5, repeat = 1 } = options;
  const once = async (): Promise<number> => {
    const rec = gpu.recorder({ label: 'bench' });
    for (let i = 0; i < repeat; i++) body({ gpu, rec });
    const start = performance.now();
    await rec.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    return (performance.now() - start) / repeat;
  };
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await once());
  return summarize(times);
}

/** Runs `body` with gpu.timing in `mode` and returns the passes it ran, with its result. */
export async function timed<T>(gpu: Gpu, mode: TimingMode, body: () => Promise<T>): Promise<{ result: T; passes: PassTiming[] }> {
  gpu.timing.mode = mode;
  gpu.timing.take();
  try {
    const result = await body();
    return { result, passes: gpu.timing.take() };
  } finally {
    gpu.timing.mode = 'off';
  }
}

/** GPU milliseconds of one call: the busy times of every pass it ran, summed (needs timestamp-query). */
export async function gpuTime(gpu: Gpu, runs: number, warmup: number, body: () => Promise<unknown>): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await body();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { passes } = await timed(gpu, 'pass', body);
    samples.push(passes.reduce((sum, p) => sum + (p.gpuMs ?? 0), 0));
  }
  return summarize(samples);
}

export interface WorkCounts {
  dispatches: number;
  submits: number;
  hostWaits: number;
}

/** What one call of `body` recorded and waited for, from the GPU's counters. */
export async function countWork(gpu: Gpu, body: () => Promise<unknown>): Promise<WorkCounts> {
  const { dispatches, submits, hostWaits } = gpu.stats;
  await body();
  return { dispatches: gpu.stats.dispatches - dispatches, submits: gpu.stats.submits - submits, hostWaits: gpu.stats.hostWaits - hostWaits };
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
