// Caption search on a toy decoder whose logits are scripted per prefix, with results worked out by hand
// (see the comments): greedy, both beam searches, sampling, ties, early end tokens and the min-length rule.
import { describe, expect, it } from 'vitest';
import { beamCandidates, beamSearch, BeamSearch, draw, EOT, greedy, nextBeams, sample, sampleUniform, seedWords, SOT, type BeamOptions, type StepFn, type StepRequest } from '../src/model/generate';

const A = 1;
const B = 2;
const C = 3;
const D = 4;
const E = EOT;
const ln = Math.log;

/** A toy decoder: logits by prefix (ids absent are −∞); rows follow `parents` like the GPU caches do. */
function toy(script: Record<string, Record<number, number>>, fallback?: Record<number, number>): StepFn & { calls: number } {
  let prefixes: number[][] = [];
  const fn = async (req: StepRequest) => {
    fn.calls++;
    const previous = prefixes;
    prefixes = req.ids.map((id, r) => {
      const base = req.parents ? previous[req.parents[r]!]! : previous[r] ?? [];
      return req.position === 0 ? [id] : [...base, id];
    });
    const ids = new Uint32Array(req.ids.length * req.k);
    const values = new Float32Array(req.ids.length * req.k).fill(-Infinity);
    const lse = new Float32Array(req.ids.length);
    prefixes.forEach((prefix, r) => {
      const logits = script[prefix.join(',')] ?? fallback;
      if (!logits) throw new Error(`toy has no logits for prefix ${prefix}`);
      const penalised = new Set(req.penalty?.ids[r] ?? []);
      const entries = Object.entries(logits).map(([id, v]) => {
        let value = v;
        if (penalised.has(Number(id))) value = value > 0 ? value / req.penalty!.value : value * req.penalty!.value;
        return [Number(id), value * req.scale] as [number, number];
      });
      const normal = entries.filter(([id]) => req.lse !== 'blocked' || id !== req.blockId);
      const max = Math.max(...normal.map(([, v]) => v));
      lse[r] = max + Math.log(normal.reduce((s, [, v]) => s + Math.exp(v - max), 0));
      const ranked = entries.filter(([id]) => id !== req.blockId).sort((x, y) => y[1] - x[1] || x[0] - y[0]);
      ranked.slice(0, req.k).forEach(([id, v], j) => {
        ids[r * req.k + j] = id;
        values[r * req.k + j] = v;
      });
    });
    return { ids, values, lse: req.lse === 'none' ? null : lse };
  };
  fn.calls = 0;
  return fn;
}

const STANDARD: Omit<BeamOptions, 'minLength' | 'maxLength' | 'numBeams'> = { scoring: 'logprob', lengthPenalty: 1, earlyStopping: true, forceEndAtMax: true };
const OPENCLIP: Omit<BeamOptions, 'minLength' | 'maxLength' | 'numBeams'> = { scoring: 'raw', lengthPenalty: 1, earlyStopping: false, forceEndAtMax: false };

// Logits are log-probabilities here (each row sums to 1), so raw and log-prob scores agree.
const BEAM_BEATS_GREEDY = {
  [`${SOT}`]: { [A]: ln(0.6), [B]: ln(0.4) },
  [`${SOT},${A}`]: { [C]: ln(0.5), [D]: ln(0.3), [E]: ln(0.2) },
  [`${SOT},${B}`]: { [E]: ln(0.9), [C]: ln(0.1) },
  [`${SOT},${A},${C}`]: { [E]: ln(0.55), [D]: ln(0.45) },
  [`${SOT},${A},${D}`]: { [E]: 0 },
};

describe('greedy', () => {
  it('follows the argmax: S → A (.6) → C (.5) → E (.55)', async () => {
    expect(await greedy(toy(BEAM_BEATS_GREEDY), { minLength: 2, maxLength: 6 })).toEqual([SOT, A, C, E]);
  });

  it('blocks the end token while the sequence is shorter than minLength', async () => {
    const script = { [`${SOT}`]: { [E]: ln(0.7), [A]: ln(0.3) }, [`${SOT},${A}`]: { [E]: ln(0.8), [B]: ln(0.2) }, [`${SOT},${A},${B}`]: { [E]: 0 } };
    expect(await greedy(toy(script), { minLength: 1, maxLength: 30 })).toEqual([SOT, E]);
    // Lengths 1 and 2 are < 3: E is blocked twice.
    expect(await greedy(toy(script), { minLength: 3, maxLength: 30 })).toEqual([SOT, A, B, E]);
  });

  it('forces the end token when the sequence would reach maxLength, without running that step', async () => {
    const step = toy({}, { [A]: 1, [E]: 0 });
    expect(await greedy(step, { minLength: 1, maxLength: 4 })).toEqual([SOT, A, A, E]);
    expect(step.calls).toBe(2);
  });

  it('breaks ties by the lower token id', async () => {
    expect(await greedy(toy({ [`${SOT}`]: { [B]: ln(0.5), [A]: ln(0.5) } }, { [E]: 0 }), { minLength: 1, maxLength: 30 })).toEqual([SOT, A, E]);
  });
});

describe('beam search (standard: log-probabilities, length penalty, early stopping)', () => {
  // Step 1: beams [S,A] ln.6, [S,B] ln.4.
  // Step 2: candidates E←B −1.0217, C←A −1.2040, D←A −1.7148, E←A −2.1203: E←B (rank 0) finishes [S,B] with
  //   −1.0217 / 3 = −0.3406; [S,A,C] and [S,A,D] go on.
  // Step 3: E←[S,A,D] −1.7148 finishes with −0.4287; E←[S,A,C] −1.8018/4 = −0.4505 is worse than both kept
  //   hypotheses. Two hypotheses → done; the best is [S,B] (p = .36, where greedy found .165).
  it('finds the more likely caption that greedy misses', async () => {
    expect(await beamSearch(toy(BEAM_BEATS_GREEDY), { ...STANDARD, numBeams: 2, minLength: 2, maxLength: 6 })).toEqual([SOT, B, E]);
  });

  it('with one beam equals greedy, including the min-length rule and the forced end', async () => {
    const scripts = [BEAM_BEATS_GREEDY, { [`${SOT}`]: { [E]: ln(0.7), [A]: ln(0.3) }, [`${SOT},${A}`]: { [E]: ln(0.8), [B]: ln(0.2) }, [`${SOT},${A},${B}`]: { [E]: 0 } }];
    for (const script of scripts) {
      for (const [minLength, maxLength] of [[1, 30], [2, 30], [3, 30], [2, 3]] as const) {
        const g = await greedy(toy(script, { [A]: 1, [E]: 0 }), { minLength, maxLength });
        const b = await beamSearch(toy(script, { [A]: 1, [E]: 0 }), { ...STANDARD, numBeams: 1, minLength, maxLength });
        expect(b).toEqual(g);
      }
    }
  });

  it('keeps both tied candidates as beams, lower id first', async () => {
    const script = { [`${SOT}`]: { [B]: ln(0.5), [A]: ln(0.5) }, [`${SOT},${A}`]: { [E]: 0 }, [`${SOT},${B}`]: { [E]: 0 } };
    const seen: number[] = [];
    // Both hypotheses tie at ln .5 / 3; the one added last wins (Python's stable sort, then pop()).
    const result = await beamSearch(toy(script), { ...STANDARD, numBeams: 2, minLength: 1, maxLength: 30, onToken: (id) => seen.push(id) });
    expect(seen).toEqual([A]);
    expect(result).toEqual([SOT, B, E]);
  });
});

// Unnormalised logits: raw sums and log-probabilities disagree.
const RAW_VS_LOGPROB = {
  [`${SOT}`]: { [A]: 2, [B]: 1 },
  [`${SOT},${A}`]: { [E]: 0, [C]: -10 },
  [`${SOT},${B}`]: { [E]: 3, [C]: -10 },
  [`${SOT},${A},${C}`]: { [E]: 0 },
  [`${SOT},${B},${C}`]: { [E]: 0 },
};

describe('beam search scores: raw logits (OpenCLIP) versus log-probabilities', () => {
  // Raw: [S,A] 2, [S,B] 1; then E←B totals 4 and E←A 2: hypotheses [S,B] 4/3 and [S,A] 2/3. Not done
  // (2/3 < 4/3); the continuations score −8 and −9, so they cannot win: [S,B] is the caption.
  it('OpenCLIP semantics pick the beam with the larger raw sum', async () => {
    expect(await beamSearch(toy(RAW_VS_LOGPROB), { ...OPENCLIP, numBeams: 2, minLength: 1, maxLength: 30 })).toEqual([SOT, B, E]);
  });
  // Log-probs: A −0.313, B −1.313 after step 1; step 2 ends both: [S,A] −0.104 beats [S,B] −0.438.
  it('standard beam search picks the more probable sequence', async () => {
    expect(await beamSearch(toy(RAW_VS_LOGPROB), { ...STANDARD, numBeams: 2, minLength: 1, maxLength: 30 })).toEqual([SOT, A, E]);
  });

  it('OpenCLIP semantics stop at maxLength without forcing an end token', async () => {
    const result = await beamSearch(toy({}, { [A]: 1, [B]: 0.5, [E]: -5 }), { ...OPENCLIP, numBeams: 2, minLength: 1, maxLength: 4 });
    expect(result).toEqual([SOT, A, A, A]);
  });
});

describe('sampling', () => {
  it('draws from the top-p set with exact probabilities', () => {
    const ids = [A, B, C];
    const values = [ln(0.5), ln(0.3), ln(0.2)];
    // top-p 0.7 keeps A, B (.5 + .3 ≥ .7), renormalised over mass .8: u < .625 → A.
    expect(draw(ids, values, 0, 0.7, 0.6)).toBe(A);
    expect(draw(ids, values, 0, 0.7, 0.7)).toBe(B);
    // top-p 1 keeps all three: u = .85 → past .5 + .3 → C.
    expect(draw(ids, values, 0, 1, 0.85)).toBe(C);
    // The normaliser matters: lse two ln 2 above the values halves every probability (.25, .15, .1), so
    // top-p .5 needs all three; u = .99 → C. (Without it, A alone would have reached .5.)
    expect(draw(ids, values.map((v) => v + ln(2)), ln(2) + ln(2), 0.5, 0.99)).toBe(C);
    expect(draw(ids, values, 0, 0.5, 0.99)).toBe(A);
  });

  it('is reproducible with a seed, and different seeds explore', async () => {
    const script = {};
    const fallback = { [A]: 0, [B]: 0, [C]: 0, [D]: 0, [E]: -1 };
    const run = (seed: number) => sample(toy(script, fallback), { minLength: 1, maxLength: 12, seed, temperature: 1 });
    const first = await run(7);
    expect(await run(7)).toEqual(first);
    const others = await Promise.all([1, 2, 3, 4, 5].map(run));
    expect(others.some((o) => o.join() !== first.join())).toBe(true);
  });

  it('applies temperature, the repetition penalty and top-k before drawing', async () => {
    // With penalty 100, a token already in the sequence (A, logit 2 → 0.02) loses to B (1).
    const step = toy({}, { [A]: 2, [B]: 1, [E]: -50 });
    const tokens = await sample(step, { minLength: 1, maxLength: 5, topK: 1, repetitionPenalty: 100, seed: 1 });
    expect(tokens.slice(0, 3)).toEqual([SOT, A, B]);
    // top-k 1 at any temperature is greedy.
    expect(await sample(toy(BEAM_BEATS_GREEDY), { minLength: 2, maxLength: 6, topK: 1, temperature: 0.3, seed: 9 })).toEqual([SOT, A, C, E]);
  });
});

describe('the counter-based sampling PRNG', () => {
  it('is a function of (seed, step, row) alone, 24-bit, in [0, 1)', () => {
    const u = sampleUniform(7, 3, 0);
    expect(sampleUniform(7, 3, 0)).toBe(u);
    expect(u * 2 ** 24).toBe(Math.floor(u * 2 ** 24));
    for (const [seed, step, row] of [[8, 3, 0], [7, 4, 0], [7, 3, 1]] as const) expect(sampleUniform(seed, step, row)).not.toBe(u);
  });

  it('tells apart seeds that differ only above 32 bits, and negative seeds (64-bit two’s complement words)', () => {
    expect(seedWords(-1)).toEqual([0xffffffff, 0xffffffff]);
    expect(seedWords(2 ** 40 + 3)).toEqual([3, 2 ** 8]);
    expect(sampleUniform(3, 5, 0)).not.toBe(sampleUniform(2 ** 40 + 3, 5, 0));
  });

  it('is close to uniform: 16 bins over 32,000 draws within 4 standard deviations', () => {
    const bins = new Array<number>(16).fill(0);
    const n = 32_000;
    for (let i = 0; i < n; i++) bins[Math.floor(sampleUniform(i % 100, Math.floor(i / 100), i % 3) * 16)]!++;
    const expected = n / 16;
    const sd = Math.sqrt(n * (1 / 16) * (15 / 16));
    for (const b of bins) expect(Math.abs(b - expected)).toBeLessThan(4 * sd);
  });
});

describe('beam search steps (shared by the host-driven and the GPU-fed search)', () => {
  const result = (ids: number[], values: number[], lse: number[] | null) => ({ ids: Uint32Array.from(ids), values: Float32Array.from(values), lse: lse && Float32Array.from(lse) });

  it('ranks every beam’s candidates by f32 score + value − lse, ties in (beam, rank) order, skipping non-finite values', () => {
    // 2 beams, k = 4 each. Beam 1's first candidate (0.5 + 2 − 1) ties beam 0's second (0 + 2 − 0.5); beam 0's
    // last value is −∞. Beam 0: A 2.5, B 1.5, C 0.5; beam 1: B 1.5, E 0, A −0.25, C −0.5.
    const r = result([A, B, C, D, B, E, A, C], [3, 2, 1, -Infinity, 2, 0.5, 0.25, 0], [0.5, 1]);
    const top = beamCandidates([0, 0.5], r, 2);
    expect(top.map((c) => [c.beam, c.token, c.total])).toEqual([[0, A, 2.5], [0, B, 1.5], [1, B, 1.5], [0, C, 0.5]]);
    // f32 arithmetic in the GPU's order: (score + value) − lse, each step rounded to f32.
    const [c] = beamCandidates([0.1], result([A, B], [0.2, 0], [0.3]), 1);
    expect(c!.total).toBe(Math.fround(Math.fround(Math.fround(0.1) + Math.fround(0.2)) - Math.fround(0.3)));
  });

  it('continues non-end candidates until B beams; an end token among the first B ends a hypothesis, later ones are dropped', () => {
    const c = (beam: number, token: number, total: number) => ({ beam, token, total });
    const ended: number[] = [];
    const top = [c(0, E, -1), c(1, A, -2), c(0, E, -3), c(1, B, -4), c(0, C, -5), c(1, D, -6)];
    expect(nextBeams(top, 3, (h) => ended.push(h.total))).toEqual([c(1, A, -2), c(1, B, -4), c(0, C, -5)]);
    expect(ended).toEqual([-1, -3]);
    expect(nextBeams([c(0, E, 0), c(0, E, -1), c(0, A, -2)], 1, (h) => ended.push(h.total))).toEqual([c(0, A, -2)]);
    expect(ended).toEqual([-1, -3, 0]);
  });

  it('takes at most maxLength − 2 steps with a forced end, maxLength − 1 (at least 1) without', async () => {
    expect(BeamSearch.maxSteps({ maxLength: 30, forceEndAtMax: true })).toBe(28);
    expect(BeamSearch.maxSteps({ maxLength: 2, forceEndAtMax: true })).toBe(0);
    expect(BeamSearch.maxSteps({ maxLength: 30, forceEndAtMax: false })).toBe(29);
    expect(BeamSearch.maxSteps({ maxLength: 2, forceEndAtMax: false })).toBe(1);
    for (const [forceEndAtMax, maxLength] of [[true, 5], [false, 5], [false, 2]] as const) {
      // The end token always ranks below the 2 beams' continuations: no hypothesis ends early.
      const step = toy({}, { [A]: 1, [B]: 0.5, [E]: -5 });
      await beamSearch(step, { ...STANDARD, forceEndAtMax, earlyStopping: false, numBeams: 2, minLength: 1, maxLength });
      expect(step.calls).toBe(BeamSearch.maxSteps({ maxLength, forceEndAtMax }));
    }
  });
});
