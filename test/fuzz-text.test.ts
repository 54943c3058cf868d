// The text fuzz suite (cases in test/fuzz/text-cases.ts): hostile and odd texts through the tokenizer,
// checked against the full encoding and OpenCLIP's BPE, and damaged vocabulary files (gzip bombs, junk).
// Every input must be handled or refused with a named error, within the bounds below.
import { expect, it } from 'vitest';
import { runFuzzSuite, summary, type FuzzBounds } from './fuzz/harness';

const BOUNDS: FuzzBounds = {
  // The slowest inputs are texts at the length cap (ftfy's nested-entity passes, the reference BPE on
  // 400-character words) and vocabulary files parsed whole: a second or two on a busy machine.
  caseMs: 6000,
  // A vocabulary inflates to at most 16 MiB and parses into ~50 MiB of maps; a 3 GB gzip bomb would not fit.
  peakGrowthMb: 200,
  heapMb: 512,
  hangMs: 60_000,
};

it('every hostile text and vocabulary file is handled exactly or refused by name, in bounded time and memory', async () => {
  const report = await runFuzzSuite(new URL('./fuzz/text-cases.ts', import.meta.url), BOUNDS);
  console.log(summary('text fuzz', report));
  expect(report.problems).toEqual([]);
  expect(report.cases).toBeGreaterThan(350);
  expect(report.accepted).toBeGreaterThan(300);
  expect(new Set(report.rejected.keys())).toEqual(new Set(['TextTooLongError', 'TokenIdError', 'VocabularyError']));
}, 300_000);
