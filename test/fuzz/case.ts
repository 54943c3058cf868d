// What a fuzz case is. A case feeds one hostile or damaged input to the library; the worker
// (worker-main.ts) runs it under a time and memory bound and classifies the outcome:
// - accepted: the library took the input, and the case checked that what it produced equals what a
//   correct reader produces (for a benign mutation: the unmutated reference), throwing FuzzMismatch if not;
// - rejected: the library threw one of the named errors of src/errors.ts;
// - a problem: anything else (a FuzzMismatch, i.e. corruption accepted silently; an unnamed error such
//   as TypeError or RangeError; a case over its time or memory bound; a hang or a crash of the worker).

import { mulberry32 } from '../reference/random';

export interface FuzzCase {
  label: string;
  /** Resolves when the input was accepted and checked; rejects with whatever the library threw. */
  run(): Promise<void>;
}

/** A module of cases: loaded in the worker, which calls `cases()` once, after its own set-up. */
export interface FuzzSuite {
  cases(): Promise<FuzzCase[]>;
}

/** Thrown by a case when the library accepted an input but produced something other than the reference. */
export class FuzzMismatch extends Error {
  override name = 'FuzzMismatch';
}

/** Seeded integers in [0, n), from the tests' PRNG. */
export function seededInts(seed: number): (n: number) => number {
  const next = mulberry32(seed);
  return (n) => Math.floor(next() * n);
}
