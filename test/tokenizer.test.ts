// The CLIP BPE tokenizer against OpenCLIP: the golden file (OpenCLIP v2.24.0's SimpleTokenizer on 27
// strings), the coca-tiny greedy captions, and known answers for what the golden file avoids — ftfy's
// fixes, Python's html.unescape, UTF-8 decoding with errors='replace'. Those known answers were
// computed with OpenCLIP's SimpleTokenizer code, ftfy 6.3.1 and CPython 3.11's html module.

import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { TextTooLongError, TokenIdError, VocabularyError } from '../src/errors';
import { ClipTokenizer, cleanText, loadTokenizerFromBytes } from '../src/text';
import { BytePairEncoder } from '../src/text/bpe';
import { BYTE_TO_CHAR } from '../src/text/byte-level';
import { pythonStrip } from '../src/text/clean';
import { ftfyUnescapeHtml, pythonHtmlUnescape } from '../src/text/html-unescape';
import { MAX_CALL_TEXT_CHARS, MAX_TEXT_CHARS, MAX_TEXTS_PER_CALL } from '../src/text/tokenizer';
import { MAX_VOCABULARY_BYTES, vocabularyFromBpeText } from '../src/text/vocabulary';
import { referenceBpe } from './reference/bpe';
import { mulberry32 } from './reference/random';

const shared = (path: string): URL => new URL(`../../shared/${path}`, import.meta.url);

interface GoldenCase {
  text: string;
  ids: number[];
  decoded: string;
}
interface GoldenTokenizer {
  sot: number;
  eot: number;
  context_length: number;
  cases: GoldenCase[];
}
interface GreedyCaption {
  image: string;
  tokens: number[];
  text: string;
}

const golden = JSON.parse(readFileSync(shared('golden/tokenizer.json'), 'utf8')) as GoldenTokenizer;
const greedyCaptions = (
  JSON.parse(readFileSync(shared('golden/coca-tiny/golden.json'), 'utf8')) as { greedy: { captions: GreedyCaption[] } }
).greedy.captions;
const bpeGz = new Uint8Array(readFileSync(shared('vocab/bpe_simple_vocab_16e6.txt.gz')));
const bpeText = gunzipSync(bpeGz).toString('utf8');

/** Python's bytes_to_unicode, written out again here so the hub files below do not come from src. */
function referenceByteChars(): string[] {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCharCode(b));
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bytes.includes(b)) chars.push(String.fromCharCode(256 + n++));
  return chars;
}

/** The hub's CLIPTokenizer files (vocab.json, merges.txt) made from the OpenCLIP merge list. */
function hubFilesFromBpeText(text: string): { vocabJson: string; mergesTxt: string } {
  const merges = text.split('\n').slice(1, 49152 - 256 - 2 + 1);
  const byteChars = referenceByteChars();
  const tokens = [
    ...byteChars,
    ...byteChars.map((c) => `${c}</w>`),
    ...merges.map((m) => m.split(' ').join('')),
    '<|startoftext|>',
    '<|endoftext|>',
  ];
  // Written in reverse id order, so the loader must take ids from the values, not the key order.
  const vocab: Record<string, number> = {};
  for (let id = tokens.length - 1; id >= 0; id--) vocab[tokens[id]!] = id;
  return { vocabJson: JSON.stringify(vocab), mergesTxt: `#version: 0.2\n${merges.join('\n')}\n` };
}

/** ids (without padding) → the row tokenize() returns. */
function padded(ids: number[], contextLength: number): Int32Array {
  const row = new Int32Array(contextLength);
  row.set(ids);
  return row;
}

let tokenizer: ClipTokenizer;
beforeAll(async () => {
  tokenizer = await ClipTokenizer.fromBpeGz(bpeGz);
});

describe('ClipTokenizer from bpe_simple_vocab_16e6.txt.gz', () => {
  it('has the CLIP vocabulary: 49,408 tokens, <start_of_text> 49406, <end_of_text> 49407', () => {
    expect(tokenizer.vocabSize).toBe(49408);
    expect(tokenizer.sot).toBe(golden.sot);
    expect(tokenizer.eot).toBe(golden.eot);
  });

  it.each(golden.cases.map((c) => [JSON.stringify(c.text).slice(0, 60), c] as const))(
    'matches OpenCLIP on %s',
    (_label, goldenCase) => {
      expect(tokenizer.encodeWithSpecials(goldenCase.text, golden.context_length)).toEqual(goldenCase.ids);
      const row = padded(goldenCase.ids, golden.context_length);
      expect(tokenizer.tokenize([goldenCase.text], golden.context_length)).toEqual([row]);
      expect(tokenizer.decode(goldenCase.ids)).toBe(goldenCase.decoded);
    },
  );

  it('tokenizes a batch row by row, 76 ids by default', () => {
    const texts = golden.cases.map((c) => c.text);
    expect(tokenizer.tokenize(texts)).toEqual(golden.cases.map((c) => padded(c.ids, 76)));
  });

  it('truncates to a shorter context with the last id forced to <end_of_text>', () => {
    // "a photo of a cat" is [49406, 320, 1125, 539, 320, 2368, 49407] in the golden file.
    expect(tokenizer.tokenize(['a photo of a cat'], 5)).toEqual([Int32Array.from([49406, 320, 1125, 539, 49407])]);
    expect(tokenizer.encodeWithSpecials('a photo of a cat', 7)).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
    expect(tokenizer.tokenize(['a photo of a cat'], 9)).toEqual([
      Int32Array.from([49406, 320, 1125, 539, 320, 2368, 49407, 0, 0]),
    ]);
  });

  it('decodes padding and ids after <end_of_text> as OpenCLIP does (id 0 is "!")', () => {
    expect(tokenizer.decode([320, 49407, 0])).toBe('a <end_of_text>!');
  });

  it('decodes invalid UTF-8 with one U+FFFD per maximal invalid subpart, keeping a leading BOM', () => {
    // ids of single-byte tokens and Python's bytes.decode('utf-8', errors='replace') of those bytes.
    const cases: Array<[number[], string, string]> = [
      [[171, 119, 123, 64], '\ufeffa', 'EF BB BF 61'],
      [[162, 245], '\ufffd', 'E6 97 (truncated)'],
      [[172, 222, 64], '\ufffd\ufffda', 'F0 80 61'],
      [[124, 107], '\ufffd\ufffd', 'C0 AF (overlong)'],
      [[169, 254, 222], '\ufffd\ufffd\ufffd', 'ED A0 80 (surrogate)'],
      [[187, 64, 158, 224], '\ufffda\ufffd', 'FF 61 E2 82'],
    ];
    for (const [ids, expected, bytes] of cases) expect(tokenizer.decode(ids), bytes).toBe(expected);
  });

  it('rejects ids outside the vocabulary when decoding', () => {
    expect(() => tokenizer.decode([320, 49408])).toThrow(TokenIdError);
  });
});

describe('captionText', () => {
  it.each(greedyCaptions.map((c) => [c.image, c] as const))(
    'gives the golden greedy caption text for %s',
    (_image, caption) => {
      expect(tokenizer.captionText(caption.tokens)).toBe(caption.text);
    },
  );

  it('cuts at <end_of_text> and drops <start_of_text>', () => {
    expect(tokenizer.captionText([49406, 320, 1125, 539, 320, 2368, 49407, 320, 2368])).toBe('a photo of a cat');
  });
});

describe('the other vocabulary loaders', () => {
  const extraTexts = ['A Photo of a Cat!', 'naïve “café” ﬁsh', '日本語 🐱 &amp; <end_of_text> x'];

  it('fromVocabMerges (the hub’s vocab.json + merges.txt) encodes and decodes exactly as the gz', () => {
    const { vocabJson, mergesTxt } = hubFilesFromBpeText(bpeText);
    const hub = ClipTokenizer.fromVocabMerges(vocabJson, mergesTxt);
    expect([hub.vocabSize, hub.sot, hub.eot]).toEqual([49408, 49406, 49407]);
    for (const c of golden.cases) {
      expect(hub.encodeWithSpecials(c.text)).toEqual(c.ids);
      expect(hub.decode(c.ids)).toBe(c.decoded);
    }
    for (const text of extraTexts) expect(hub.encode(text)).toEqual(tokenizer.encode(text));
  });

  it('loadTokenizerFromBytes takes the merge list gzipped or plain', async () => {
    const fromGz = await loadTokenizerFromBytes(bpeGz);
    const fromPlain = await loadTokenizerFromBytes(new TextEncoder().encode(bpeText));
    for (const c of golden.cases) {
      expect(fromGz.encodeWithSpecials(c.text)).toEqual(c.ids);
      expect(fromPlain.encodeWithSpecials(c.text)).toEqual(c.ids);
    }
  });

  it('refuses a truncated merge list and a vocab.json that is not an id map', () => {
    expect(() => ClipTokenizer.fromBpeText(bpeText.slice(0, 1000))).toThrow(VocabularyError);
    expect(() => ClipTokenizer.fromVocabMerges('["a"]', bpeText)).toThrow(VocabularyError);
  });
});

describe('cleaning as OpenCLIP does (ftfy, html.unescape twice, whitespace, lowercase)', () => {
  it('treats typographic variants as their plain forms', () => {
    const same: Array<[string, string]> = [
      ['“curly” quotes', '"curly" quotes'],
      ['it’s ‘single’', "it's 'single'"],
      ['ﬁsh', 'fish'],
      ['ＡＢＣ', 'abc'],
      ['cafe\u0301', 'café'],
      ['tab\tnew\nline  spaces\u3000ideographic', 'tab new line spaces ideographic'],
    ];
    for (const [variant, plain] of same) expect(tokenizer.encode(variant), variant).toEqual(tokenizer.encode(plain));
  });

  // [input, OpenCLIP's cleaned text, OpenCLIP's encode(input)], from OpenCLIP's code with ftfy 6.3.1.
  const knownAnswers: Array<[string, string, number[]]> = [
    ['\u201ccurly\u201d quotes', '"curly" quotes', [257, 20795, 257, 5808]],
    ['it\u2019s a dog\u2019s life', "it's a dog's life", [585, 568, 320, 1929, 568, 970]],
    ['I\u2019M HERE', "i'm here", [328, 880, 763]],
    ['\ufb01sh and \ufb02owers', 'fish and flowers', [2759, 537, 4023]],
    ['\uff21\uff22\uff23\u3000\uff44\uff45\uff46\uff11\uff12\uff13\uff01', 'abc def123!', [5334, 11649, 272, 273, 274, 256]],
    ['\uff76\uff80\uff76\uff85', '\u30ab\u30bf\u30ab\u30ca', [37367, 34941, 37367, 2429, 488]],
    ['cafe\u0301 au lait', 'caf\u00e9 au lait', [15304, 2566, 572, 585]],
    ['\u0132ssel', 'ijssel', [7337, 19373]],
    ['\u0093quoted\u0094 and\u0085', '"quoted" and\u2026', [257, 27706, 257, 537, 959]],
    ['zero\u200bwidth', 'zero\u200bwidth', [5848, 9844, 23571]],
    ['\ufeffbom a\u0000b\u0007c', 'bom abc', [19469, 5334]],
    ['\u001b[31mred\u001b[0m text', 'red text', [736, 4160]],
    ['fish &amp;amp;amp; chips', 'fish & chips', [2759, 261, 8855]],
    ['&EACUTE;T&EACUTE;', '\u00e9t\u00e9', [3459, 39694]],
    ['<b>&amp;amp;amp;</b>', '<b>&amp;</b>', [283, 321, 29, 261, 6259, 26, 34308, 321, 285]],
    ['one &amp;amp;amp;\n<i>two</i> &amp;amp;amp;', 'one & <i>two</i> &amp;', [637, 261, 283, 328, 285, 1237, 34308, 328, 285, 261, 6259, 282]],
    [
      '\u03a3\u039f\u03a6\u039f\u03a3 \u0130stanbul STRASSE \u00df',
      '\u03c3\u03bf\u03c6\u03bf\u03c2 i\u0307stanbul strasse \u00df',
      [139, 225, 138, 123, 139, 228, 138, 123, 139, 480, 328, 16384, 11231, 1894, 8938, 127, 509],
    ],
    ['a\u0345b', 'a\u0345b', [320, 321]],
    ['x\u2028y\u3000z\r\nw', 'x y z w', [343, 344, 345, 342]],
    ['a\ud800b', 'a\ufffdb', [320, 39802, 321]],
    ['&#128;uro &#150; &#0; &#1;x', '\u20acuro \u2013 \ufffd x', [6309, 5925, 1224, 39802, 343]],
    ['&notin; &notit &ampx;', '\u2209 \u00acit &x;', [17788, 487, 126, 361, 585, 261, 343, 282]],
    [
      'Broken text&hellip; it&#x2019;s \ufb02ubberi\ufb01c!',
      "broken text\u2026 it's flubberific!",
      [5107, 4160, 959, 585, 568, 3698, 65, 867, 72, 2059, 256],
    ],
  ];

  it.each(knownAnswers.map(([text, clean, ids]) => [JSON.stringify(text), text, clean, ids] as const))(
    'cleans and encodes %s as OpenCLIP with ftfy',
    (_label, text, clean, ids) => {
      expect(cleanText(text)).toBe(clean);
      expect(tokenizer.encode(text)).toEqual(ids);
    },
  );

  it('unescapes HTML like Python’s html.unescape and ftfy’s unescape_html', () => {
    // [input, html.unescape(input), ftfy.fixes.unescape_html(input)]
    const cases: Array<[string, string, string]> = [
      ['fish &amp; chips', 'fish & chips', 'fish & chips'],
      ['&quot;hi&quot; &#39;x&#39;', '"hi" \'x\'', '"hi" \'x\''],
      ['&eacute;&Eacute;&EACUTE;', '\u00e9\u00c9&EACUTE;', '\u00e9\u00c9\u00c9'],
      ['&amp;amp;', '&amp;', '&amp;'],
      ['&lt;b&gt;', '<b>', '<b>'],
      ['&amp', '&', '&amp'],
      ['&ampx;', '&x;', '&ampx;'],
      ['&notin', '\u00acin', '&notin'],
      ['&notin;', '\u2209', '\u2209'],
      ['&notit;', '\u00acit;', '&notit;'],
      ['&#65;&#x42;&#X43', 'ABC', 'AB&#X43'],
      ['&#128;&#129;&#150;', '\u20ac\u0081\u2013', '\u20ac\u0081\u2013'],
      [
        '&#0;|&#1;|&#13;|&#xd800;|&#x110000;|&#xFFFE;|&#65279;',
        '\ufffd||\r|\ufffd|\ufffd||\ufeff',
        '\ufffd||\r|\ufffd|\ufffd||\ufeff',
      ],
      ['&#;&#x;&;& amp;', '&#;&#x;&;& amp;', '&#;&#x;&;& amp;'],
      ['&nbsp;', '\u00a0', '\u00a0'],
      ['&CounterClockwiseContourIntegral;', '\u2233', '&CounterClockwiseContourIntegral;'],
      ['a&lt=b', 'a<=b', 'a&lt=b'],
    ];
    for (const [input, python, ftfy] of cases) {
      expect(pythonHtmlUnescape(input), input).toBe(python);
      expect(ftfyUnescapeHtml(input), input).toBe(ftfy);
    }
  });
});

describe('BPE merges as OpenCLIP does, in O(n log n)', () => {
  const vocabulary = vocabularyFromBpeText(bpeText);
  const ranks = new Map(vocabulary.merges.map((merge, rank) => [merge, rank] as [string, number]));
  const ids = new Map(vocabulary.tokens.map((token, id) => [token, id] as [string, number]));
  const reference = (word: string): number[] => referenceBpe(word, ranks).map((symbol) => ids.get(symbol)!);

  /** Seeded words made of pieces of real tokens, so that many merges compete. */
  function seededWords(count: number, maxPieces: number, seed: number): string[] {
    const next = mulberry32(seed);
    const pieces = vocabulary.tokens.slice(256, 20000).map((token) => token.replace('</w>', ''));
    return Array.from({ length: count }, () => {
      let word = '';
      const n = 1 + Math.floor(next() * maxPieces);
      for (let i = 0; i < n; i++) word += pieces[Math.floor(next() * pieces.length)]!;
      return word;
    });
  }

  it('equals the reference on 3,000 seeded words, repeated runs and every byte character', () => {
    const words = [
      ...seededWords(3000, 6, 11),
      ...['a', 'aa', 'aaa', 'aaaa', 'aaaaa', 'ab'.repeat(9), 'aab'.repeat(7), 'ssssss', 'mississippi', 'lololololol'],
      ...BYTE_TO_CHAR.map((char) => char.repeat(5)),
    ];
    const differing = words.filter((word) => {
      const fast = new BytePairEncoder(ranks, ids).encodeWord(word);
      return JSON.stringify(fast) !== JSON.stringify(reference(word));
    });
    expect(differing).toEqual([]);
  });

  it('equals the reference on long words (2,000 characters)', () => {
    const encoder = new BytePairEncoder(ranks, ids);
    for (const word of [...seededWords(3, 400, 5).map((w) => w.slice(0, 2000)), 'ab'.repeat(1000), 'a'.repeat(2000)]) {
      expect(encoder.encodeWord(word)).toEqual(reference(word));
    }
  });

  it(`tokenizes a single ${MAX_TEXT_CHARS}-character word in bounded time`, () => {
    // Reference BPE takes ~30 s on a 20 KB word; O(n log n) takes milliseconds. The bound is loose for busy machines.
    const BOUND_MS = 3000;
    for (const word of ['x'.repeat(MAX_TEXT_CHARS), 'é'.repeat(MAX_TEXT_CHARS), seededWords(1, 4000, 3)[0]!.slice(0, MAX_TEXT_CHARS)]) {
      const started = performance.now();
      const row = tokenizer.encodeWithSpecials(word);
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
      expect(row.length).toBe(76);
      expect(row[75]).toBe(tokenizer.eot);
    }
  });
});

describe('caps and early stopping', () => {
  it('stops BPE once the context is full, with rows identical to full encoding', () => {
    const words = Array.from({ length: 300 }, (_, i) => `word${i}x`);
    const text = words.join(' ');
    const full = [tokenizer.sot, ...tokenizer.encode(text)];
    const expected = [...full.slice(0, 75), tokenizer.eot];
    const spy = vi.spyOn(BytePairEncoder.prototype, 'encodeWord');
    try {
      expect(tokenizer.encodeWithSpecials(text)).toEqual(expected);
      // Each "wordNx" is 3 words to the tokenizer (letters, digit(s) split one per digit, letters): the
      // context fills after ~30 of the 300, and no word after it reaches BPE.
      expect(spy.mock.calls.length).toBeLessThanOrEqual(76);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a text longer than MAX_TEXT_CHARS, and calls too large, by name and at once', () => {
    const long = 'a '.repeat(MAX_TEXT_CHARS / 2) + 'b';
    for (const call of [
      () => tokenizer.encode(long),
      () => tokenizer.tokenize([long]),
      () => tokenizer.tokenize(Array.from({ length: MAX_CALL_TEXT_CHARS / 1024 + 1 }, () => 'a'.repeat(1024))),
      () => tokenizer.tokenize(Array.from({ length: MAX_TEXTS_PER_CALL + 1 }, () => '')),
    ]) {
      const started = performance.now();
      expect(call).toThrow(TextTooLongError);
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(() => tokenizer.encode(long)).toThrow(/a text of 16385 characters is longer than the 16384 taken/);
    expect(tokenizer.encode('a '.repeat(MAX_TEXT_CHARS / 2 - 1))).toHaveLength(MAX_TEXT_CHARS / 2 - 1);
  });

  it('strips long inner runs of whitespace in linear time', () => {
    const text = `a${' \u3000\u2028'.repeat(MAX_TEXT_CHARS / 3)}b`;
    const started = performance.now();
    expect(cleanText(text)).toBe('a b');
    expect(performance.now() - started).toBeLessThan(500);
    expect(pythonStrip('\x1c\u3000 x y \t\x1f')).toBe('x y');
  });
});

describe('vocabulary files that are not the vocabulary', () => {
  it('a gzip bomb stops at MAX_VOCABULARY_BYTES with VocabularyError', async () => {
    const bomb = gzipSync(new Uint8Array(MAX_VOCABULARY_BYTES * 2)); // 32 MiB of zeros in ~32 KB
    expect(bomb.byteLength).toBeLessThan(64 * 1024);
    const error = await loadTokenizerFromBytes(new Uint8Array(bomb)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VocabularyError);
    expect((error as Error).message).toMatch(/bpe_simple_vocab_16e6\.txt\.gz inflates to more than 16777216 bytes/);
  });

  it('damaged or truncated gzip data is a VocabularyError', async () => {
    const damaged = bpeGz.slice();
    damaged.fill(0x55, 5000, 5100);
    for (const bytes of [damaged, bpeGz.subarray(0, bpeGz.length / 2), Uint8Array.from([0x1f, 0x8b, 8, 0])]) {
      const error = await loadTokenizerFromBytes(bytes).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VocabularyError);
      expect((error as Error).message).toMatch(/not valid gzip data|has \d+ lines|line \d+ is/);
    }
  });

  it('a malformed merge line is named, shortened', () => {
    const lines = bpeText.split('\n');
    lines[1000] = `only-one-part${'x'.repeat(10_000)}`;
    expect(() => ClipTokenizer.fromBpeText(lines.join('\n'))).toThrow(/line 1001 is "only-one-partx+…", expected "left right"/);
    lines[1000] = 'three parts here';
    expect(() => ClipTokenizer.fromBpeText(lines.join('\n'))).toThrow(VocabularyError);
  });
});
