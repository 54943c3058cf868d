// Runs a fuzz suite (a module of FuzzCase, see case.ts) in a worker thread and judges it: every case must be
// accepted-and-checked or rejected with a named error, within its time and memory bounds; a case that
// stops reporting is a hang (the worker is terminated) and a worker that dies (heap limit) names the case
// it was running. The result lists every problem, so a failing test shows all of them at once.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FuzzMessage, FuzzWorkerData } from './worker-main';

export interface FuzzBounds {
  /** Longest a case may take (measured in the worker, around the case alone). */
  caseMs: number;
  /** How far a case may push the process's peak resident memory above what it started with, in MiB. */
  peakGrowthMb: number;
  /** The worker's JS heap limit: a case that needs more kills the worker. */
  heapMb: number;
  /** A case that reports nothing for this long is taken to hang. */
  hangMs: number;
}

export interface FuzzReport {
  cases: number;
  accepted: number;
  /** Rejections by error class name. */
  rejected: Map<string, number>;
  problems: string[];
  /** The slowest case and the largest peak growth seen, for the log. */
  slowestMs: number;
  largestGrowthMb: number;
  /** Milliseconds spent per kind of case (the label up to its first colon). */
  msByKind: Map<string, number>;
}

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));

/** Runs the suite module at `moduleUrl` (an import.meta.url-relative URL) under `bounds`. */
export function runFuzzSuite(moduleUrl: URL, bounds: FuzzBounds): Promise<FuzzReport> {
  const report: FuzzReport = { cases: 0, accepted: 0, rejected: new Map(), problems: [], slowestMs: 0, largestGrowthMb: 0, msByKind: new Map() };
  const workerData: FuzzWorkerData = { module: fileURLToPath(moduleUrl) };
  const worker = new Worker(WORKER, {
    workerData,
    resourceLimits: { maxOldGenerationSizeMb: bounds.heapMb },
    stdout: false,
    stderr: false,
  });
  return new Promise((resolve) => {
    let current = 'set-up';
    let finished = false;
    let watchdog: NodeJS.Timeout | undefined;
    const finish = (problem?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(watchdog);
      if (problem) report.problems.push(problem);
      void worker.terminate().then(() => resolve(report));
    };
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => finish(`${current}: no answer within ${bounds.hangMs} ms (hangs)`), bounds.hangMs);
    };
    arm();
    worker.on('message', (message: FuzzMessage) => {
      arm();
      switch (message.type) {
        case 'ready':
          report.cases = message.cases;
          break;
        case 'start':
          current = `case ${message.index} (${message.label})`;
          break;
        case 'result':
          judge(report, message, bounds);
          break;
        case 'done':
          finish();
          break;
      }
    });
    worker.on('error', (error) => finish(`${current}: the worker died: ${error.name}: ${error.message}`));
    worker.on('exit', (code) => finish(`${current}: the worker exited with code ${code}`));
  });
}

function judge(report: FuzzReport, result: Extract<FuzzMessage, { type: 'result' }>, bounds: FuzzBounds): void {
  const where = `case ${result.index} (${result.label})`;
  if (result.outcome === 'accepted') report.accepted++;
  else if (result.outcome === 'rejected') report.rejected.set(result.detail, (report.rejected.get(result.detail) ?? 0) + 1);
  else report.problems.push(`${where}: ${result.detail}`);
  if (result.ms > bounds.caseMs) report.problems.push(`${where}: took ${result.ms.toFixed(0)} ms (bound ${bounds.caseMs})`);
  if (result.peakGrowthMb > bounds.peakGrowthMb) {
    report.problems.push(`${where}: resident memory peaked ${result.peakGrowthMb.toFixed(0)} MiB above its start (bound ${bounds.peakGrowthMb})`);
  }
  report.slowestMs = Math.max(report.slowestMs, result.ms);
  const kind = result.label.split(':')[0]!;
  report.msByKind.set(kind, (report.msByKind.get(kind) ?? 0) + result.ms);
  report.largestGrowthMb = Math.max(report.largestGrowthMb, result.peakGrowthMb);
}

/** One line for the test log: what was accepted, what was rejected by which error, the worst bounds. */
export function summary(name: string, report: FuzzReport): string {
  const rejected = [...report.rejected].sort((a, b) => b[1] - a[1]).map(([error, n]) => `${error} ${n}`).join(', ');
  const time = [...report.msByKind].map(([kind, ms]) => `${kind} ${(ms / 1000).toFixed(1)} s`).join(', ');
  return (
    `${name}: ${report.cases} cases, ${report.accepted} accepted (checked against the reference), rejected: ${rejected}; ` +
    `time: ${time}; slowest case ${report.slowestMs.toFixed(0)} ms, peak memory +${report.largestGrowthMb.toFixed(0)} MiB`
  );
}
