// The options module: each strategy's defaults (OpenCLIP's generate() defaults and the documented ones),
// and a named OptionsError for every kind of bad value, spelled as the caller spells options.
import { describe, expect, it } from 'vitest';
import { OptionsError } from '../src/errors';
import { beamsPerGroup, resolveCaptionOptions, resolveDtype, resolveMath, resolveStrategy, type CaptionSettings } from '../src/options';

function failure(run: () => unknown): OptionsError {
  try {
    run();
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError');
}

describe('resolveCaptionOptions', () => {
  it('fills in each strategy’s defaults', () => {
    // OpenCLIP's generate(): seq_len 30, min_seq_len 5; its beam search: 6 beams in 3 groups.
    expect(resolveCaptionOptions()).toEqual({ strategy: 'greedy', minLength: 5, maxLength: 30 });
    expect(resolveCaptionOptions({ strategy: 'beam-openclip' })).toEqual({
      strategy: 'beam-openclip',
      minLength: 5,
      maxLength: 30,
      numBeams: 6,
      numBeamGroups: 3,
      lengthPenalty: 1,
      repetitionPenalty: 1,
    });
    expect(resolveCaptionOptions({ strategy: 'beam', numBeams: 4, maxLength: 12 })).toEqual({
      strategy: 'beam',
      minLength: 5,
      maxLength: 12,
      numBeams: 4,
      lengthPenalty: 1,
      repetitionPenalty: 1,
    });
    expect(resolveCaptionOptions({ strategy: 'sample', seed: 7, topP: 0.9 })).toEqual({
      strategy: 'sample',
      minLength: 5,
      maxLength: 30,
      topK: null,
      topP: 0.9,
      temperature: 1,
      repetitionPenalty: 1,
      seed: 7,
    });
  });

  it('counts the rows a step carries: beams per group', () => {
    expect(beamsPerGroup(resolveCaptionOptions({ strategy: 'beam-openclip' }))).toBe(2);
    expect(beamsPerGroup(resolveCaptionOptions({ strategy: 'beam', numBeams: 8 }))).toBe(8);
    expect(beamsPerGroup(resolveCaptionOptions({ strategy: 'sample' }))).toBe(1);
  });

  it('ignores the call’s hooks and undefined values', () => {
    const hooks = { onToken: () => undefined, signal: new AbortController().signal, maxLength: undefined } as CaptionSettings;
    expect(resolveCaptionOptions(hooks)).toEqual({ strategy: 'greedy', minLength: 5, maxLength: 30 });
  });

  const bad: [CaptionSettings | Record<string, unknown>, string, RegExp][] = [
    [{ strategy: 'nucleus' }, 'strategy', /strategy must be 'greedy', 'beam', 'beam-openclip', 'sample' \(got 'nucleus'\)/],
    [{ max_length: 20 }, 'max_length', /max_length is not a caption option/],
    [{ topK: 5 }, 'topK', /topK does not apply to strategy 'greedy' \(sample use it\)/],
    [{ strategy: 'beam', numBeamGroups: 2 }, 'numBeamGroups', /does not apply to strategy 'beam' \(beam-openclip use it\)/],
    [{ maxLength: 1 }, 'maxLength', /maxLength must be an integer ≥ 2/],
    [{ maxLength: 12.5 }, 'maxLength', /got 12\.5/],
    [{ minLength: 20, maxLength: 10 }, 'minLength', /minLength \(20\) must not exceed maxLength \(10\)/],
    [{ strategy: 'beam', numBeams: 9 }, 'numBeams', /numBeams must be at most 8/],
    [{ strategy: 'beam-openclip', numBeams: 7 }, 'numBeams', /numBeams \(7\) must be a multiple of numBeamGroups \(3\)/],
    [{ strategy: 'beam-openclip', numBeams: 18, numBeamGroups: 2 }, 'numBeams', /at most 8 beams per group/],
    [{ strategy: 'sample', temperature: 0 }, 'temperature', /temperature must be a number > 0/],
    [{ strategy: 'sample', topP: 1.5 }, 'topP', /topP must be a number in \(0, 1\]/],
    [{ strategy: 'sample', seed: 'x' }, 'seed', /seed must be an integer \(got 'x'\)/],
    [{ strategy: 'sample', repetitionPenalty: -1 }, 'repetitionPenalty', /repetitionPenalty must be a number > 0/],
  ];
  for (const [settings, option, message] of bad) {
    it(`refuses ${JSON.stringify(settings)} naming ${option}`, () => {
      const error = failure(() => resolveCaptionOptions(settings as CaptionSettings));
      expect(error.name).toBe('OptionsError');
      expect(error.option).toBe(option);
      expect(error.message).toMatch(message);
    });
  }

  it('checks maxLength against the model’s context length, and spells options the caller’s way', () => {
    expect(failure(() => resolveCaptionOptions({ maxLength: 77 }, { contextLength: 76 })).message).toMatch(/at most the model's context length, 76 \(got 77\)/);
    const kebab = (o: string): string => `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    expect(failure(() => resolveCaptionOptions({ strategy: 'beam', numBeams: 0 }, { spell: kebab })).message).toBe('--num-beams must be an integer ≥ 1 (got 0)');
  });
});

describe('resolveDtype, resolveMath, resolveStrategy', () => {
  it('default when absent and refuse other values by name', () => {
    expect([resolveDtype(undefined), resolveMath(undefined), resolveStrategy(undefined)]).toEqual(['fp16', 'f32', 'greedy']);
    expect([resolveDtype('fp32'), resolveMath('f16'), resolveStrategy('sample')]).toEqual(['fp32', 'f16', 'sample']);
    expect(failure(() => resolveDtype('bf16')).message).toBe("dtype must be 'fp16', 'fp32' (got 'bf16')");
    expect(failure(() => resolveMath(16, '--math')).message).toBe("--math must be 'f32', 'f16' (got 16)");
  });
});
