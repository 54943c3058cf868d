// The CLIP BPE tokenizer against OpenCLIP: the golden file (OpenCLIP v2.24.0's SimpleTokenizer on 27
// strings), the coca-tiny greedy captions, and known answers for what the golden file avoids — ftfy's
// fixes, Python's html.unescape, UTF-8 decoding with errors='replace'. Those known answers were
// computed with OpenCLIP's SimpleTokenizer code, ftfy 6.3.1 and CPython 3.11's html module.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenIdError, VocabularyError } from '../src/errors';
import { ClipTokenizer, cleanText, loadTokenizerFromBytes } from '../src/text';
import { ftfyUnescapeHtml, pythonHtmlUnescape } from '../src/text/html-unescape';

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
