// Where the time of each kind of model call goes, through CocaModel's public methods and gpu.timing: for
// every pass a call submits, its GPU busy time (timestamp queries, 'pass' mode) beside the host phases
// (recording, submit, waiting for the map, readback), then the same call once more with every dispatch
// timed alone ('dispatch' mode), named after its kernel and model stage and summed per kernel.
import type { Gpu } from '../gpu/gpu';
import type { DispatchTiming, HostPhases, PassTiming } from '../gpu/timing';
import type { CocaModel } from '../model/coca';
import { formatTable, summarize, timed } from './harness';
import { randomImage, randomTokens } from './model-bench';

export interface KernelTotal {
  kernel: string;
  dispatches: number;
  gpuMs: number;
}

/** The passes of one label within a call (e.g. the ten "decode step" passes of a caption). */
export interface PassProfile {
  label: string;
  /** Passes with this label per call. */
  count: number;
  dispatches: number;
  /** Median GPU busy time of one pass; null without timestamps. */
  gpuMs: number | null;
  /** Median host time of one pass in each phase. */
  host: HostPhases;
  /** 'dispatch' mode, the call's last pass with this label: every dispatch's GPU time, in recording order. */
  perDispatch: DispatchTiming[] | null;
  /** The same pass's busy time when its dispatches run in passes of their own. */
  perDispatchPassMs: number | null;
  perKernel: KernelTotal[] | null;
}

export interface CallProfile {
  name: string;
  /** Median wall-clock time of the whole call with pass timing on. */
  wallMs: number;
  passes: PassProfile[];
}

export interface ModelProfile {
  adapter: string;
  config: string;
  timestamps: boolean;
  runs: number;
  calls: CallProfile[];
}

/** Caption length profiled: long enough that decoding steps outnumber the image pass. */
const PROFILE_CAPTION_TOKENS = 12;

/** The calls profiled, in order: each runs through the model's public API. */
function profiledCalls(model: CocaModel): { name: string; run: () => Promise<unknown> }[] {
  const config = model.config;
  const image = randomImage(config, 1);
  const images8 = Array.from({ length: 8 }, (_, i) => randomImage(config, i + 1));
  const tokens = randomTokens(config, 3);
  const n = PROFILE_CAPTION_TOKENS;
  return [
    { name: 'image encode (batch 1)', run: () => model.encodeImages([image]) },
    { name: 'image encode (batch 8)', run: () => model.encodeImages(images8) },
    { name: 'text encode (1 text)', run: () => model.encodeTexts([tokens]) },
    { name: `greedy caption (${n} tokens)`, run: () => model.caption(image, { strategy: 'greedy', minLength: n, maxLength: n }) },
    { name: `beam caption (3 beams, ${n} tokens)`, run: () => model.caption(image, { strategy: 'beam', numBeams: 3, minLength: n, maxLength: n }) },
  ];
}

export function kernelTotals(dispatches: readonly DispatchTiming[]): KernelTotal[] {
  const totals = new Map<string, KernelTotal>();
  for (const d of dispatches) {
    const total = totals.get(d.kernel) ?? { kernel: d.kernel, dispatches: 0, gpuMs: 0 };
    total.dispatches++;
    total.gpuMs += d.gpuMs;
    totals.set(d.kernel, total);
  }
  return [...totals.values()].sort((a, b) => b.gpuMs - a.gpuMs);
}

function median(values: number[]): number {
  return summarize(values).median;
}

/** Groups the passes of several runs of one call by label, in the order the call first submits them. */
function byLabel(runs: readonly PassTiming[][]): Map<string, PassTiming[][]> {
  const groups = new Map<string, PassTiming[][]>();
  runs.forEach((passes, run) => {
    for (const p of passes) {
      if (!groups.has(p.label)) groups.set(p.label, runs.map(() => []));
      groups.get(p.label)![run]!.push(p);
    }
  });
  return groups;
}

async function profileCall(gpu: Gpu, name: string, run: () => Promise<unknown>, runs: number): Promise<CallProfile> {
  const timestamps = gpu.info.hasTimestampQuery;
  await run(); // warm-up, untimed
  const passRuns: PassTiming[][] = [];
  const walls: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const { passes } = await timed(gpu, timestamps ? 'pass' : 'host', run);
    walls.push(performance.now() - start);
    passRuns.push(passes);
  }
  const perDispatch = timestamps ? (await timed(gpu, 'dispatch', run)).passes : [];
  const passes: PassProfile[] = [];
  for (const [label, perRun] of byLabel(passRuns)) {
    const all = perRun.flat();
    const phase = (key: keyof HostPhases): number => median(all.map((p) => p.host[key]));
    const detailed = perDispatch.filter((p) => p.label === label).at(-1);
    passes.push({
      label,
      count: Math.round(all.length / runs),
      dispatches: all.at(-1)!.dispatches,
      gpuMs: timestamps ? median(all.map((p) => p.gpuMs ?? 0)) : null,
      host: { recordMs: phase('recordMs'), submitMs: phase('submitMs'), waitMs: phase('waitMs'), readbackMs: phase('readbackMs') },
      perDispatch: detailed?.perDispatch ?? null,
      perDispatchPassMs: detailed?.gpuMs ?? null,
      perKernel: detailed?.perDispatch ? kernelTotals(detailed.perDispatch) : null,
    });
  }
  return { name, wallMs: median(walls), passes };
}

/** Profiles every call kind on a loaded model; `runs` timed runs per call after a warm-up. */
export async function profileModel(model: CocaModel, runs: number): Promise<ModelProfile> {
  const gpu = model.gpu;
  const calls: CallProfile[] = [];
  for (const { name, run } of profiledCalls(model)) calls.push(await profileCall(gpu, name, run, runs));
  return { adapter: gpu.adapterName, config: model.config.name, timestamps: gpu.info.hasTimestampQuery, runs, calls };
}

const ms = (v: number | null): string => (v === null ? '' : v.toFixed(3));

/** The report as Markdown tables: passes with GPU and host time side by side, then kernels and the costliest dispatches. */
export function formatProfile(profile: ModelProfile, topDispatches = 15): string {
  const out: string[] = [`Adapter: ${profile.adapter}; config ${profile.config}; medians of ${profile.runs} runs.`];
  if (!profile.timestamps) out.push('This adapter has no timestamp-query: host phases only, no GPU time.');
  for (const call of profile.calls) {
    out.push('', `## ${call.name}: ${call.wallMs.toFixed(2)} ms wall`, '');
    out.push(
      formatTable(
        ['pass', '× per call', 'dispatches', 'GPU busy ms', 'record ms', 'submit ms', 'wait ms', 'readback ms'],
        call.passes.map((p) => [p.label, String(p.count), String(p.dispatches), ms(p.gpuMs), ms(p.host.recordMs), ms(p.host.submitMs), ms(p.host.waitMs), ms(p.host.readbackMs)]),
      ),
    );
    for (const p of call.passes) {
      if (!p.perDispatch || !p.perKernel || p.perDispatch.length === 0) continue;
      const sum = p.perDispatch.reduce((s, d) => s + d.gpuMs, 0);
      out.push('', `"${p.label}", every dispatch timed alone: they sum to ${sum.toFixed(3)} ms of the ${ms(p.perDispatchPassMs)} ms the pass then spans`, '');
      out.push(formatTable(['kernel', 'dispatches', 'GPU ms', 'share'], p.perKernel.map((k) => [k.kernel, String(k.dispatches), ms(k.gpuMs), `${((100 * k.gpuMs) / sum).toFixed(1)}%`])));
      out.push('');
      const top = [...p.perDispatch].sort((a, b) => b.gpuMs - a.gpuMs).slice(0, topDispatches);
      out.push(formatTable(['GPU ms', `dispatch (the ${top.length} costliest of ${p.perDispatch.length})`], top.map((d) => [ms(d.gpuMs), `[${d.kernel}] ${d.label}`])));
    }
  }
  return out.join('\n');
}
