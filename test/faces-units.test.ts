// The faces' pure helpers, against hand-worked answers: number formatting for progress, label templating,
// ?model= parsing, cache matching, byte ranges of the dev/test file server.
import { describe, expect, it } from 'vitest';
import { describeProgress, formatBytes, formatDuration, formatPercent, progressFraction, secondsLeft } from '../src/app/format';
import { asBaseUrl, findCached, HUB_MODELS, isRepoId, settingsFromQuery } from '../src/app/models';
import { parseLabels } from '../src/app/similarity-panel';
import { parseByteRange } from '../src/app/build/plugins-node';
import { labelTexts, parseLabelList } from '../src/client/labels';

describe('progress formatting', () => {
  it('sizes in decimal units, as the hub states them', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1500)).toBe('1.50 KB');
    expect(formatBytes(12_345_678)).toBe('12.3 MB');
    expect(formatBytes(1.01e9)).toBe('1.01 GB');
    expect(formatBytes(253.6e6)).toBe('254 MB');
    expect(formatBytes(-1)).toBe('–');
  });

  it('durations from milliseconds to hours', () => {
    expect(formatDuration(12.4)).toBe('12 ms');
    expect(formatDuration(2345)).toBe('2.35 s');
    expect(formatDuration(42_000)).toBe('42.0 s');
    expect(formatDuration(194_000)).toBe('3 min 14 s');
    expect(formatDuration(3_723_000)).toBe('1 h 02 min');
  });

  it('time left, fraction and the one-line description', () => {
    const p = { phase: 'download' as const, bytesDone: 10e6, bytesTotal: 1.01e9, rate: 5e6 };
    expect(secondsLeft(p)).toBe(200); // (1010 − 10) MB at 5 MB/s
    expect(progressFraction(p)).toBeCloseTo(10 / 1010, 12);
    expect(describeProgress(p)).toBe('Downloading · 10.0 MB of 1.01 GB · 5.00 MB/s · about 3 min 20 s left');
    expect(secondsLeft({ ...p, rate: 0 })).toBeUndefined();
    expect(progressFraction({ bytesDone: 5, bytesTotal: 0 })).toBeUndefined();
    expect(describeProgress({ phase: 'compile', bytesDone: 0, bytesTotal: 0, rate: 0 })).toBe('Compiling GPU kernels');
    expect(describeProgress({ phase: 'compile', bytesDone: 3, bytesTotal: 4, rate: 0 })).toBe('Compiling GPU kernels · 75.0 %');
  });

  it('percentages', () => {
    expect(formatPercent(0.8642)).toBe('86.4 %');
    expect(formatPercent(1)).toBe('100 %');
    expect(formatPercent(0.0001)).toBe('0 %');
  });
});

describe('labels and templates', () => {
  it('one label per line or comma, blanks dropped', () => {
    expect(parseLabels('cat\n dog ,car\n\n')).toEqual(['cat', 'dog', 'car']);
    expect(parseLabelList(' cat, dog ,, car ')).toEqual(['cat', 'dog', 'car']);
    expect(parseLabelList(null)).toEqual([]);
  });

  it('"a photo of a {label}" templating', () => {
    expect(labelTexts(['dog'], '{label} or {label}')).toEqual(['dog or dog']);
    expect(labelTexts(['cat', 'dog'], 'a photo of a {label}')).toEqual(['a photo of a cat', 'a photo of a dog']);
    expect(labelTexts(['a cup of coffee'], '{label}')).toEqual(['a cup of coffee']);
  });
});

describe('model choices', () => {
  const base = 'https://demo.example/app/';

  it('tells repo ids from URLs', () => {
    expect(isRepoId('laion/CoCa-ViT-B-32-laion2B-s13B-b90k')).toBe(true);
    expect(isRepoId('https://x.org/a/b')).toBe(false);
    expect(isRepoId('./models/tiny')).toBe(false);
    expect(asBaseUrl('../models/tiny', base)).toBe('https://demo.example/models/tiny/');
  });

  it('reads ?model=, ?vocab=, ?dtype= from the address', () => {
    const hub = settingsFromQuery('?model=laion/CoCa-ViT-B-32-laion2B-s13B-b90k&dtype=fp32', base);
    expect(hub.dtype).toBe('fp32');
    expect(hub.choice?.source).toBe('laion/CoCa-ViT-B-32-laion2B-s13B-b90k');
    expect(hub.choice?.downloadBytes).toBe(HUB_MODELS[1]!.downloadBytes);
    const url = settingsFromQuery('?model=http://127.0.0.1:9/m/tiny&vocab=/v/bpe.txt.gz&dtype=bogus', base);
    expect(url.dtype).toBeUndefined();
    expect(url.choice?.source).toBe('http://127.0.0.1:9/m/tiny/');
    expect(url.choice?.vocab).toBe('https://demo.example/v/bpe.txt.gz');
    expect(settingsFromQuery('', base).choice).toBeUndefined();
  });

  it('matches cache entries by id, revision, dtype, vocabulary and hub', () => {
    const entry = { id: HUB_MODELS[0]!.key, revision: 'main', dtype: 'fp16' as const, hubUrl: 'https://huggingface.co', vocab: 'default', bytes: 1, storedAt: 0 };
    expect(findCached([entry], HUB_MODELS[0]!, 'fp16')).toBe(entry);
    // Another vocabulary, or a mirror's copy, is another cache entry: loading would download.
    expect(findCached([entry], { ...HUB_MODELS[0]!, vocab: 'https://example.org/bpe.txt.gz' }, 'fp16')).toBeUndefined();
    const custom = { ...entry, vocab: 'url:https://example.org/bpe.txt.gz' };
    expect(findCached([entry, custom], { ...HUB_MODELS[0]!, vocab: 'https://example.org/bpe.txt.gz' }, 'fp16')).toBe(custom);
    expect(findCached([{ ...entry, hubUrl: 'https://mirror.example' }], HUB_MODELS[0]!, 'fp16')).toBeUndefined();
    expect(findCached([entry], HUB_MODELS[0]!, 'fp32')).toBeUndefined();
    expect(findCached([entry], { ...HUB_MODELS[0]!, revision: 'v2' }, 'fp16')).toBeUndefined();
    expect(findCached([entry], HUB_MODELS[1]!, 'fp16')).toBeUndefined();
  });
});

describe('byte ranges of the dev and test file servers', () => {
  it('parses the forms the client sends and refuses the rest', () => {
    expect(parseByteRange(undefined, 100)).toBeUndefined();
    expect(parseByteRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseByteRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseByteRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseByteRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseByteRange('bytes=100-', 100)).toBe('invalid');
    expect(parseByteRange('bytes=5-2', 100)).toBe('invalid');
    expect(parseByteRange('items=0-1', 100)).toBe('invalid');
  });
});
