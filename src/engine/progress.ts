// Load progress per phase: bytes done and in all, a rate over the last second or so, and the time spent.
// Events are throttled per phase (a smooth bar needs ~10 a second, not one per network packet), and the
// last event of a phase is always sent.
import type { LoadPhase, LoadProgress } from './api';

/** An event goes out when this much time has passed since the last one of its phase… */
const MIN_INTERVAL_MS = 80;
/** …or when the phase has moved by this fraction of its total (a fast load still fills its bar smoothly). */
const MIN_STEP = 0.01;
/** The rate is measured over roughly this window. */
const RATE_WINDOW_MS = 1000;

interface PhaseState {
  done: number;
  total: number;
  lastEmit: number;
  lastDone: number;
  samples: { t: number; done: number }[];
  /** Time spent in this phase (summed over the intervals the caller timed). */
  ms: number;
}

export class ProgressMeter {
  private readonly phases = new Map<LoadPhase, PhaseState>();

  constructor(
    private readonly emit: (p: LoadProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private state(phase: LoadPhase): PhaseState {
    let s = this.phases.get(phase);
    if (!s) {
      s = { done: 0, total: 0, lastEmit: -Infinity, lastDone: 0, samples: [], ms: 0 };
      this.phases.set(phase, s);
    }
    return s;
  }

  /** Sets (or grows) what a phase will process in all. */
  total(phase: LoadPhase, bytes: number): void {
    this.state(phase).total = bytes;
  }

  addTotal(phase: LoadPhase, bytes: number): void {
    this.state(phase).total += bytes;
  }

  add(phase: LoadPhase, bytes: number, detail?: string): void {
    const s = this.state(phase);
    s.done += bytes;
    const t = this.now();
    s.samples.push({ t, done: s.done });
    while (s.samples.length > 2 && s.samples[0]!.t < t - RATE_WINDOW_MS) s.samples.shift();
    const stepped = s.total > 0 && (s.done - s.lastDone >= s.total * MIN_STEP || s.done >= s.total);
    if (stepped || t - s.lastEmit >= MIN_INTERVAL_MS) this.send(phase, s, t, detail);
  }

  /** Sends the phase's current state now (its end, or a phase with no byte count like compile). */
  flush(phase: LoadPhase, detail?: string): void {
    const s = this.state(phase);
    this.send(phase, s, this.now(), detail);
  }

  /** Forgets bytes done and totals, for a load that starts over; the time spent stays counted. */
  restart(): void {
    for (const s of this.phases.values()) Object.assign(s, { done: 0, total: 0, lastDone: 0, samples: [] });
  }

  /** Runs `job`, counting its time to `phase`. */
  async time<T>(phase: LoadPhase, job: () => Promise<T> | T): Promise<T> {
    const start = this.now();
    try {
      return await job();
    } finally {
      this.state(phase).ms += this.now() - start;
    }
  }

  /** Moves `ms` of time already counted to `from` over to `to` (download time measured inside conversion). */
  moveTime(from: LoadPhase, to: LoadPhase, ms: number): void {
    this.state(from).ms -= ms;
    this.state(to).ms += ms;
  }

  /** Milliseconds spent per phase, for ModelInfo.loadTimings. */
  timings(): Partial<Record<LoadPhase, number>> {
    const out: Partial<Record<LoadPhase, number>> = {};
    for (const [phase, s] of this.phases) if (s.ms > 0) out[phase] = Math.round(s.ms);
    return out;
  }

  private send(phase: LoadPhase, s: PhaseState, t: number, detail?: string): void {
    s.lastEmit = t;
    s.lastDone = s.done;
    const first = s.samples[0];
    const span = first ? t - first.t : 0;
    const rate = first && span > 0 ? ((s.done - first.done) / span) * 1000 : 0;
    this.emit({ phase, bytesDone: s.done, bytesTotal: s.total, rate: Math.max(0, rate), ...(detail ? { detail } : {}) });
  }
}
