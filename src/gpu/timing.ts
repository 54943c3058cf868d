// Where the time of a recorded pass goes (issue 9 §1): the host phases of every pass and, with the
// `timestamp-query` feature, the GPU's own clock — busy time per pass, or per dispatch. Off by default, and
// then free: the recorder only looks at `mode`. The recorder writes the timestamps; this module owns their
// layout in the query set, their conversion to milliseconds, and the log the profiler and bench read.
import { GpuError } from '../errors';
import type { GpuStats } from './stats';

/**
 * 'off': nothing measured. 'host': host phases only (any adapter). 'pass': host phases and each pass's GPU
 * busy time, from timestamps at the start and end of its compute pass. 'dispatch': the same, with every
 * dispatch in a compute pass of its own, timed alone (separate passes cost a little more on the GPU).
 */
export type TimingMode = 'off' | 'host' | 'pass' | 'dispatch';

/** Milliseconds of host time in each phase of one pass. */
export interface HostPhases {
  /** From the recorder's creation to submit(): the model recording dispatches and queueing uploads. */
  recordMs: number;
  /** Uniforms written, command buffer encoded and submitted. */
  submitMs: number;
  /** Awaiting the staging buffer's map: the GPU finishing its work plus the driver's round trip (0 without reads). */
  waitMs: number;
  /** Copying the mapped results out and unmapping. */
  readbackMs: number;
}

export interface DispatchTiming {
  /** The shader, e.g. "matmul". */
  kernel: string;
  /** The model stage, e.g. "visual.resblocks.3.mlp.c_fc". */
  label: string;
  gpuMs: number;
}

export interface PassTiming {
  /** The recorder's label, e.g. "encode images". */
  label: string;
  dispatches: number;
  /** GPU busy time, from the first dispatch's start to the last one's end; null without timestamps or dispatches. */
  gpuMs: number | null;
  /** 'dispatch' mode: each dispatch's GPU time, in recording order. */
  perDispatch: DispatchTiming[] | null;
  host: HostPhases;
}

/** The WebGPU limit on queries per query set. */
export const MAX_QUERIES = 4096;
/** A timed dispatch writes a begin and an end timestamp. */
export const MAX_TIMED_DISPATCHES = MAX_QUERIES / 2;
/** Bytes per resolved timestamp (a u64 count of nanoseconds). */
export const TIMESTAMP_BYTES = 8;

/** Timestamps a pass of `dispatches` dispatches writes in `mode`: 2 per pass, or 2 per dispatch. */
export function timestampCount(mode: TimingMode, dispatches: number): number {
  if (dispatches === 0) return 0;
  if (mode === 'pass') return 2;
  if (mode === 'dispatch') return 2 * dispatches;
  return 0;
}

/** The query indices a compute pass writes: pass `index` of the recorder (0 in 'pass' mode). */
export function passTimestampIndices(index: number): { beginningOfPassWriteIndex: number; endOfPassWriteIndex: number } {
  return { beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 };
}

/** Nanoseconds (the unit WebGPU resolves timestamps in) between two timestamps, as milliseconds. */
export function intervalMs(begin: bigint, end: bigint): number {
  return Number(end - begin) / 1e6;
}

/**
 * Reads resolved timestamps laid out as timestampCount() describes: pairs (begin, end) per compute pass.
 * Busy time spans the first begin to the last end; in 'dispatch' mode each pair is one dispatch.
 */
export function parseTimestamps(
  ticks: BigUint64Array,
  mode: 'pass' | 'dispatch',
  dispatches: readonly { kernel: string; label: string }[],
): { gpuMs: number; perDispatch: DispatchTiming[] | null } {
  const expected = timestampCount(mode, dispatches.length);
  if (ticks.length !== expected) {
    throw new GpuError(`${ticks.length} timestamps for ${dispatches.length} dispatches in '${mode}' mode: expected ${expected}`);
  }
  const gpuMs = intervalMs(ticks[0]!, ticks[expected - 1]!);
  if (mode === 'pass') return { gpuMs, perDispatch: null };
  const perDispatch = dispatches.map(({ kernel, label }, i) => ({ kernel, label, gpuMs: intervalMs(ticks[2 * i]!, ticks[2 * i + 1]!) }));
  return { gpuMs, perDispatch };
}

/** What the timer needs to make its query buffers (gpu.ts's Gpu; declared here so timing.ts does not import it). */
export interface QueryBufferMaker {
  readonly device: GPUDevice;
  createBuffer(purpose: keyof GpuStats['bytes'], byteLength: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer;
  destroyBuffer(purpose: keyof GpuStats['bytes'], buffer: GPUBuffer): void;
}

/** The timing switch and log of one GPU (gpu.timing); the recorder reads the mode and appends each pass. */
export class PassTimer {
  private current: TimingMode = 'off';
  private log: PassTiming[] = [];
  private queries: { set: GPUQuerySet; resolve: GPUBuffer } | null = null;

  constructor(readonly hasTimestamps: boolean) {}

  get mode(): TimingMode {
    return this.current;
  }

  /** Throws GpuError for 'pass' or 'dispatch' on an adapter without `timestamp-query`. */
  set mode(mode: TimingMode) {
    if ((mode === 'pass' || mode === 'dispatch') && !this.hasTimestamps) {
      throw new GpuError(`timing mode '${mode}' needs the timestamp-query feature, which this adapter does not offer: use 'host' for host phases only`);
    }
    this.current = mode;
  }

  record(timing: PassTiming): void {
    this.log.push(timing);
  }

  /** The passes timed since the last call, oldest first; the log starts again empty. */
  take(): PassTiming[] {
    const taken = this.log;
    this.log = [];
    return taken;
  }

  /**
   * A query set of at least `count` timestamps and the buffer it resolves into, kept and grown (so a timed
   * pass recorded again creates nothing).
   */
  querySlots(gpu: QueryBufferMaker, count: number): { set: GPUQuerySet; resolve: GPUBuffer } {
    if (count > MAX_QUERIES) {
      throw new GpuError(`a pass of ${count / 2} dispatches cannot be timed per dispatch (at most ${MAX_TIMED_DISPATCHES}): time it in 'pass' mode or record fewer dispatches per pass`);
    }
    if (!this.queries || this.queries.set.count < count) {
      if (this.queries) {
        this.queries.set.destroy();
        gpu.destroyBuffer('staging', this.queries.resolve);
      }
      const capacity = Math.min(MAX_QUERIES, 2 ** Math.ceil(Math.log2(Math.max(count, 64))));
      this.queries = {
        set: gpu.device.createQuerySet({ type: 'timestamp', count: capacity, label: 'pass timestamps' }),
        resolve: gpu.createBuffer('staging', capacity * TIMESTAMP_BYTES, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps'),
      };
    }
    return this.queries;
  }
}
