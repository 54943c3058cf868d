// The same-process A/B bench (src/bench/ab.ts): its paired statistics on known samples, and its check that
// two checkouts compute the same thing — exact for this checkout against itself (two independent loads on
// two devices), and a known difference reported as such.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agreement, loadSide, pairedComparison, type Side } from '../src/bench/ab';
import { nodeConfigs } from '../src/bench/node-setup';

const repo = fileURLToPath(new URL('..', import.meta.url));
const tinyConfigFile = fileURLToPath(new URL('../../shared/golden/coca-tiny/open_clip_config.json', import.meta.url));

describe('pairedComparison', () => {
  it('gives each side its median and the median of the per-round ratios', () => {
    // Round ratios 1.2, 0.5, 1.1, 1.0, 1.5 → median 1.1; a drifting machine moves both sides of a round.
    const r = pairedComparison([100, 200, 300, 400, 500], [120, 100, 330, 400, 750]);
    expect(r.baseMedian).toBe(300);
    expect(r.currentMedian).toBe(330);
    expect(r.ratio).toBeCloseTo(1.1, 12);
    expect(pairedComparison([10, 20], [15, 20]).ratio).toBeCloseTo(1.25, 12);
  });

  it('refuses unpaired samples', () => {
    expect(() => pairedComparison([1, 2], [1])).toThrow(/as many samples/);
    expect(() => pairedComparison([], [])).toThrow(/at least one/);
  });
});

describe('agreement of two checkouts', () => {
  let a: Side;
  let b: Side;
  beforeAll(async () => {
    const [config] = nodeConfigs({ configs: [], configFile: tinyConfigFile });
    a = await loadSide(repo, config!, 'fp16');
    b = await loadSide(repo, config!, 'fp16');
  });
  afterAll(() => {
    a?.dispose();
    b?.dispose();
  });

  it('is exact for one checkout loaded twice', async () => {
    const features = await a.encodeImage();
    expect(features.some((v) => v !== 0)).toBe(true);
    expect(await agreement(a, b)).toEqual({ imageMaxAbsDiff: 0, textMaxAbsDiff: 0, tokensEqual: true });
  });

  it('reports a difference in features and tokens', async () => {
    const shifted: Side = {
      ...b,
      encodeImage: async () => (await b.encodeImage()).map((v, i) => (i === 3 ? v + 0.25 : v)),
      caption: async (n) => (await b.caption(n)).map((t, i) => (i === 1 ? t + 1 : t)),
    };
    const result = await agreement(a, shifted);
    expect(result.imageMaxAbsDiff).toBeCloseTo(0.25, 6);
    expect(result.textMaxAbsDiff).toBe(0);
    expect(result.tokensEqual).toBe(false);
    const broken: Side = { ...b, encodeText: async () => (await b.encodeText()).map((v, i) => (i === 0 ? NaN : v)) };
    expect((await agreement(a, broken)).textMaxAbsDiff).toBe(Infinity);
  });
});
