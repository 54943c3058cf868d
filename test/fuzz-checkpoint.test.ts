// The checkpoint fuzz suite (cases in test/fuzz/checkpoint-cases.ts): mutated safetensors and .bin files
// built from the golden tiny CoCa, hostile pickles, and the pickle parser on mutated input. Every input
// must load exactly what a correct reader loads or fail with a named error, within the bounds below.
import { expect, it } from 'vitest';
import { runFuzzSuite, summary, type FuzzBounds } from './fuzz/harness';

const BOUNDS: FuzzBounds = {
  // A full load of the 20 MB golden model (CRC, conversion, comparison) takes ~0.3 s; the rest is headroom
  // for a machine shared with other test runs.
  caseMs: 5000,
  // Two 20 MB golden files are loaded before the cases; a case may build one more 20 MB file and read it.
  peakGrowthMb: 256,
  heapMb: 512,
  hangMs: 60_000,
};

it('every mutated checkpoint loads exactly the reference or fails with a named error, in bounded time and memory', async () => {
  const report = await runFuzzSuite(new URL('./fuzz/checkpoint-cases.ts', import.meta.url), BOUNDS);
  console.log(summary('checkpoint fuzz', report));
  expect(report.problems).toEqual([]);
  expect(report.cases).toBeGreaterThan(700);
  // Harmless mutations exist (padding, a swapped pair, bytes the reader never needs) and were compared.
  expect(report.accepted).toBeGreaterThan(20);
}, 600_000);
