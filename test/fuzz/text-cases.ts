// Fuzz cases for the tokenizer and its vocabulary files. Texts: seeded mixes of words, Unicode from many
// scripts, combining marks, emoji, lone surrogates, controls, odd whitespace, HTML entities (nested too),
// ftfy's targets, special-token names, words up to the length cap and texts past it, batches at the call
// limits, and id lists to decode. A text is either refused with TextTooLongError or tokenized into a
// well-formed row that equals (1) the row built from the full, un-stopped encoding and (2), for texts whose
// words are short enough for it, the row built with OpenCLIP's quadratic BPE (test/reference/bpe.ts).
// Vocabulary files: gzip bombs, truncated and damaged gzip, junk with and without the gzip magic, merge
// lists with bad lines, vocab.json files that are not id maps: each refused with VocabularyError, or
// (when the damage still leaves a merge list) giving a tokenizer that tokenizes or fails by name.

import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ClipTokenizer, loadTokenizerFromBytes } from '../../src/text';
import { byteLevelWords, MAX_CALL_TEXT_CHARS, MAX_TEXT_CHARS, MAX_TEXTS_PER_CALL } from '../../src/text/tokenizer';
import { vocabularyFromBpeText } from '../../src/text/vocabulary';
import { referenceBpe } from '../reference/bpe';
import { FuzzMismatch, seededInts, type FuzzCase } from './case';

const CONTEXT = 76;
/** Words up to this long are also run through the quadratic reference BPE. */
const REFERENCE_WORD_LIMIT = 400;

const gz = new Uint8Array(readFileSync(new URL('../../../shared/vocab/bpe_simple_vocab_16e6.txt.gz', import.meta.url)));

/** Character sources for generated texts. */
const PIECES: readonly (readonly string[])[] = [
  ['a', 'photo', 'of', 'the', 'cat', 'dog', "don't", "it's", 'naïve', 'café', 'HTTP', 'x86', '2024', 'ø', 'ß', 'İ', 'ǅ'],
  ['日本語', '中文', '한국어', 'עברית', 'العربية', 'हिन्दी', 'ไทย', 'Ελληνικά', 'Кириллица', 'ᚠᛇᚻ'],
  ['\u0301', '\u0345', '\u0308\u0301', '\u200d', '\u200b', '\ufe0f', '\u034f', '\u0f71\u0f72'],
  ['🐱', '👩‍👩‍👧', '🇫🇷', '𝔘𝔫𝔦', '\ud83d', '\udc31', '\udfff\ud800', '\ufffe', '\uffff', '\ufeff'],
  ['\x00', '\x07', '\x1b[31m', '\x1b[', '\x7f', '\x85', '\x9d', '\r\n', '\r', '\u2028', '\u3000', '\t', '\x1c', '\xa0'],
  ['&amp;', '&amp;amp;amp;', '&#x1F600;', '&#0;', '&#xD800;', '&#128;', '&lt;b&gt;', '&EACUTE;', '&eacute', '&#99999999;', '&', '&#', '<b>', '<'],
  ['“', '”', '‘', '’', 'ﬁ', 'ﬀ', 'Ａ', '１', 'ｶ', 'Ĳ', 'ǈ'],
  ['<start_of_text>', '<end_of_text>', '<|endoftext|>', '</w>', "'s", "'LL", '...', '!!!', '---', '$$$'],
];

function seededText(next: (n: number) => number, pieces: number): string {
  let text = '';
  for (let i = 0; i < pieces; i++) {
    const group = PIECES[next(PIECES.length)]!;
    text += group[next(group.length)]!;
    if (next(3) > 0) text += ' \n\t'[next(3)];
  }
  return text;
}

export async function cases(): Promise<FuzzCase[]> {
  const tokenizer = await ClipTokenizer.fromBpeGz(gz);
  const vocabulary = vocabularyFromBpeText(gunzipSync(gz).toString('utf8'));
  const ranks = new Map(vocabulary.merges.map((merge, rank) => [merge, rank] as [string, number]));
  const ids = new Map(vocabulary.tokens.map((token, id) => [token, id] as [string, number]));
  const specials = new Map([['<start_of_text>', tokenizer.sot], ['<end_of_text>', tokenizer.eot]]);

  /** The row OpenCLIP's tokenize gives: [sot, …ids, eot] cut to the context with eot last, padded with 0. */
  const row = (content: readonly number[]): number[] => {
    const full = [tokenizer.sot, ...content.slice(0, CONTEXT), tokenizer.eot];
    if (full.length > CONTEXT) {
      full.length = CONTEXT;
      full[CONTEXT - 1] = tokenizer.eot;
    }
    return [...full, ...new Array<number>(CONTEXT - full.length).fill(0)];
  };

  const checkText = (text: string): void => {
    const [tokens] = tokenizer.tokenize([text]);
    const got = Array.from(tokens!);
    const expected = row(tokenizer.encode(text));
    if (got.join() !== expected.join()) throw new FuzzMismatch(`the early-stopped row differs from the full encoding's: ${got.join()} vs ${expected.join()}`);
    const words = [...byteLevelWords(text)];
    if (words.every((word) => word.length <= REFERENCE_WORD_LIMIT)) {
      const reference = words.flatMap((word) => {
        const special = specials.get(word);
        return special !== undefined ? [special] : referenceBpe(word, ranks).map((symbol) => ids.get(symbol)!);
      });
      if (row(reference).join() !== got.join()) throw new FuzzMismatch('the row differs from OpenCLIP’s BPE');
    }
    tokenizer.decode(tokens!.subarray(0, got.indexOf(tokenizer.eot) + 1));
  };

  const cases: FuzzCase[] = [];
  const text = (label: string, make: () => string): void => {
    cases.push({ label: `text: ${label}`, run: async () => checkText(make()) });
  };
  const next = seededInts(404);
  for (let i = 0; i < 300; i++) {
    const pieces = 1 + next(i < 250 ? 40 : 400);
    text(`seeded mix ${i} (${pieces} pieces)`, () => seededText(seededInts(1000 + i), pieces));
  }
  for (const length of [300, 2000, MAX_TEXT_CHARS]) {
    text(`one word of ${length} letters`, () => Array.from({ length }, () => 'abcdefghijklmnopqrstuvwxyzéß'[next(28)]).join(''));
    text(`one word of ${length} emoji halves`, () => '🐱'.repeat(length / 2));
    text(`${length} spaces between two words`, () => `a${' '.repeat(length - 2)}b`);
    text(`${length} nested &amp;`, () => `&${'amp;'.repeat(Math.floor((length - 1) / 4))}`);
    text(`${length} lone surrogates`, () => '\ud800'.repeat(length));
    text(`${length} combining marks`, () => `e${'\u0301'.repeat(length - 1)}`);
    text(`${length} escape starts`, () => '\x1b['.repeat(length / 2));
    text(`${length} lines of "<"`, () => '<\n'.repeat(length / 2));
  }
  text('empty', () => '');
  text('special tokens only', () => '<start_of_text><end_of_text>'.repeat(40));
  text(`exactly ${MAX_TEXT_CHARS} characters`, () => 'ab '.repeat(MAX_TEXT_CHARS / 3) + 'x');
  for (const length of [MAX_TEXT_CHARS + 1, 10 * MAX_TEXT_CHARS, 2 ** 24]) text(`${length} characters (over the cap)`, () => 'a'.repeat(length));

  cases.push({
    label: 'batch: at the per-call character limit',
    run: async () => {
      const texts = Array.from({ length: MAX_CALL_TEXT_CHARS / MAX_TEXT_CHARS }, (_, i) => `${i} `.repeat(MAX_TEXT_CHARS / 2).slice(0, MAX_TEXT_CHARS));
      const rows = tokenizer.tokenize(texts);
      if (rows.length !== texts.length || rows.some((r, i) => r.join() !== tokenizer.tokenize([texts[i]!])[0]!.join())) throw new FuzzMismatch('batch rows differ from single rows');
    },
  });
  cases.push({ label: 'batch: one character over the per-call limit', run: async () => void tokenizer.tokenize([...Array.from({ length: MAX_CALL_TEXT_CHARS / MAX_TEXT_CHARS }, () => 'a'.repeat(MAX_TEXT_CHARS)), 'a']) });
  cases.push({ label: 'batch: one text over the per-call count', run: async () => void tokenizer.tokenize(new Array<string>(MAX_TEXTS_PER_CALL + 1).fill('a')) });

  for (let i = 0; i < 20; i++) {
    const idList = Array.from({ length: 1 + next(200) }, () => (next(10) === 0 ? [-1, 49408, 2 ** 31, 0.5, NaN][next(5)]! : next(49408)));
    cases.push({ label: `decode: ${idList.length} ids`, run: async () => void tokenizer.decode(idList) });
  }
  cases.push(...vocabularyCases(tokenizer));
  return cases;
}

function vocabularyCases(golden: ClipTokenizer): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const sample = ['a photo of a cat', 'naïve café 日本語 🐱', 'x'.repeat(300)];
  const vocab = (label: string, bytes: () => Uint8Array): void => {
    cases.push({
      label: `vocabulary: ${label}`,
      run: async () => {
        const tokenizer = await loadTokenizerFromBytes(bytes());
        // A damaged but well-formed merge list is another vocabulary; it must still tokenize or fail by name.
        for (const text of sample) tokenizer.tokenize([text]);
        if (tokenizer.vocabSize !== golden.vocabSize) throw new FuzzMismatch(`a vocabulary of ${tokenizer.vocabSize} tokens was built`);
      },
    });
  };
  const next = seededInts(505);
  vocab('the real one (harmless)', () => gz);
  for (const mb of [17, 64]) vocab(`a gzip bomb of ${mb} MiB of zeros`, () => new Uint8Array(gzipSync(new Uint8Array(mb * 2 ** 20), { level: 9 })));
  vocab('a gzip bomb of merge-like lines', () => new Uint8Array(gzipSync(new TextEncoder().encode('a b\n'.repeat(6 * 2 ** 20)))));
  for (let i = 0; i < 4; i++) {
    const cut = next(gz.length);
    vocab(`gzip cut at ${cut}`, () => gz.subarray(0, cut));
  }
  for (let i = 0; i < 4; i++) {
    const at = 10 + next(gz.length - 10);
    vocab(`gzip byte ${at} flipped`, () => {
      const copy = gz.slice();
      copy[at]! ^= 1 << next(8);
      return copy;
    });
  }
  vocab('gzip magic and junk', () => Uint8Array.from({ length: 4096 }, (_, i) => (i === 0 ? 0x1f : i === 1 ? 0x8b : next(256))));
  vocab('binary junk', () => Uint8Array.from({ length: 100_000 }, () => next(256)));
  vocab('text junk lines', () => new TextEncoder().encode(Array.from({ length: 60_000 }, () => 'q'.repeat(1 + next(5))).join('\n')));
  vocab('a merge list with one three-part line', () => new TextEncoder().encode(`#version\n${'a b\n'.repeat(30_000)}a b c\n${'a b\n'.repeat(30_000)}`));
  vocab('one 20 MB line', () => new TextEncoder().encode('#version\n' + 'a'.repeat(20 * 2 ** 20)));

  const hub = (label: string, vocabJson: () => string, mergesTxt: () => string = () => 'a b\n'): void => {
    cases.push({ label: `vocabulary: vocab.json ${label}`, run: async () => void ClipTokenizer.fromVocabMerges(vocabJson(), mergesTxt()) });
  };
  hub('not JSON', () => '{"a": 0,');
  hub('an array', () => '[1, 2]');
  hub('with ids out of range', () => JSON.stringify({ a: 0, b: 7 }));
  hub('with a repeated id', () => JSON.stringify({ a: 0, b: 0 }));
  hub('with a fractional id', () => JSON.stringify({ a: 0.5 }));
  hub('of 5 MB', () => `{"a":0,"b":"${'x'.repeat(5 * 2 ** 20)}"}`);
  return cases;
}
