// The config fuzz suite (cases in test/fuzz/config-cases.ts): the golden open_clip_config.json with every
// field set to hostile values, fields removed and added, and its text cut and mangled. Every input must be
// refused with ModelConfigError or accepted with every dimension in bounds, each within the bounds below.
import { expect, it } from 'vitest';
import { runFuzzSuite, summary, type FuzzBounds } from './fuzz/harness';

const BOUNDS: FuzzBounds = {
  // Parsing a config takes well under a millisecond; the largest texts (1 MiB) a few tens.
  caseMs: 2000,
  // JSON.parse of a 1 MiB text (MAX_CONFIG_CHARS) nested or keyed to the limit builds ~80 MiB of objects;
  // a dimension that allocated (a tensor list of 1e9 layers) would need gigabytes.
  peakGrowthMb: 160,
  heapMb: 256,
  hangMs: 30_000,
};

it('every mutated config is refused with ModelConfigError or accepted within the limits, in bounded time and memory', async () => {
  const report = await runFuzzSuite(new URL('./fuzz/config-cases.ts', import.meta.url), BOUNDS);
  console.log(summary('config fuzz', report));
  expect(report.problems).toEqual([]);
  expect(report.cases).toBeGreaterThan(800);
  expect([...report.rejected.keys()]).toEqual(['ModelConfigError']);
  expect(report.accepted).toBeGreaterThan(0);
}, 300_000);
