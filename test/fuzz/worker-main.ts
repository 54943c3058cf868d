// The fuzz worker: loads one suite module, runs its cases one by one and reports each outcome to the
// main thread (harness.ts), which enforces the hang bound and judges the reports. Runs in a worker thread
// so that a hang can be cut off (terminate) and a runaway heap ends the worker (resourceLimits), naming
// the case that did it.
import { parentPort, workerData } from 'node:worker_threads';
import * as errorClasses from '../../src/errors';
import { FuzzMismatch, type FuzzSuite } from './case';

export interface FuzzWorkerData {
  /** Absolute path of the suite module. */
  module: string;
}

export type FuzzMessage =
  | { type: 'ready'; cases: number }
  | { type: 'start'; index: number; label: string }
  | {
      type: 'result';
      index: number;
      label: string;
      outcome: 'accepted' | 'rejected' | 'problem';
      /** The error's class name when rejected; what went wrong for a problem. */
      detail: string;
      ms: number;
      /**
       * MiB by which the case pushed the process's peak resident memory above the resident memory it
       * started with (0 when it set no new peak: it then used less than an earlier case or the set-up).
       */
      peakGrowthMb: number;
    }
  | { type: 'done' };

const NAMED_ERRORS = new Set(
  Object.entries(errorClasses)
    .filter(([, value]) => typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof Error)
    .map(([name]) => name),
);

/** One of ours: an instance of a class exported by src/errors.ts, whose name is that class's. */
function isNamed(error: unknown): error is Error {
  return error instanceof errorClasses.CocaError && NAMED_ERRORS.has(error.name) && error.constructor.name === error.name;
}

const peakMb = (): number => process.resourceUsage().maxRSS / 1024;
const residentMb = (): number => process.memoryUsage.rss() / 2 ** 20;

const post = (message: FuzzMessage): void => parentPort!.postMessage(message);

const { module } = workerData as FuzzWorkerData;
const suite = (await import(module)) as FuzzSuite;
const cases = await suite.cases();
post({ type: 'ready', cases: cases.length });
for (const [index, fuzzCase] of cases.entries()) {
  post({ type: 'start', index, label: fuzzCase.label });
  const peakBefore = peakMb();
  const residentBefore = residentMb();
  const started = performance.now();
  let outcome: 'accepted' | 'rejected' | 'problem' = 'accepted';
  let detail = '';
  try {
    await fuzzCase.run();
  } catch (error) {
    if (error instanceof FuzzMismatch) {
      outcome = 'problem';
      detail = `accepted corrupt input: ${error.message}`;
    } else if (isNamed(error)) {
      outcome = 'rejected';
      detail = error.name;
    } else {
      outcome = 'problem';
      detail = `unnamed error ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    }
  }
  const ms = performance.now() - started;
  const peakAfter = peakMb();
  const peakGrowthMb = peakAfter > peakBefore ? peakAfter - residentBefore : 0;
  post({ type: 'result', index, label: fuzzCase.label, outcome, detail, ms, peakGrowthMb });
}
post({ type: 'done' });
