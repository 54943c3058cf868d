// OpenCLIP's SimpleTokenizer (the CLIP BPE) for CoCa: clean the text as OpenCLIP does, split it with
// OpenCLIP's pattern, spell each piece's UTF-8 bytes in the byte-level alphabet, and BPE it.

import { TextTooLongError, TokenIdError, VocabularyError } from '../errors';
import { BytePairEncoder } from './bpe';
import { byteOfChar, toByteLevel } from './byte-level';
import { cleanText, PYTHON_WHITESPACE_CLASS, pythonStrip } from './clean';
import {
  END_OF_TEXT,
  START_OF_TEXT,
  gunzip,
  isGzip,
  vocabularyFromBpeText,
  vocabularyFromVocabMerges,
  type ClipVocabulary,
} from './vocabulary';

/** Token positions the CoCa text tower reads (77 with its appended class token). */
export const DEFAULT_CONTEXT_LENGTH = 76;

/**
 * Longest text taken, in UTF-16 code units. Only the first ~75 tokens of a text are used (a few hundred
 * characters), so this is a whole page; it bounds the work of cleaning a hostile text (ftfy's repeated
 * passes over nested HTML entities are quadratic, as in ftfy) to a few hundred milliseconds.
 */
export const MAX_TEXT_CHARS = 16_384;
/** Most characters, all texts together, in one call. */
export const MAX_CALL_TEXT_CHARS = 262_144;
/** Most texts in one call. */
export const MAX_TEXTS_PER_CALL = 16_384;

// OpenCLIP's pattern, compiled with re.IGNORECASE: special tokens, English contractions, runs of
// letters, single digits, runs of anything else that is not whitespace.
const WORD_PATTERN = new RegExp(
  `${START_OF_TEXT}|${END_OF_TEXT}|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${PYTHON_WHITESPACE_CLASS}\\p{L}\\p{N}]+`,
  'giu',
);

// Python's `regex` module, case-insensitive, lets U+0345 (a combining mark that case-folds to ι) match
// neither [\p{L}] nor [^\s\p{L}\p{N}], so findall skips it like a space; JavaScript's /iu counts
// it as a letter. Turning it into a space reproduces Python's split.
const IOTA_SUBSCRIPT = /\u0345/g;

const END_OF_WORD = /<\/w>/g;

// Python's bytes.decode('utf-8', errors='replace') keeps a leading byte order mark; so must we.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class ClipTokenizer {
  /** Id of <start_of_text> (49406 in the CLIP vocabulary). */
  readonly sot: number;
  /** Id of <end_of_text> (49407). */
  readonly eot: number;
  readonly vocabSize: number;

  private readonly tokens: readonly string[];
  private readonly specialIds: ReadonlyMap<string, number>;
  private readonly encoder: BytePairEncoder;

  constructor(vocabulary: ClipVocabulary) {
    this.tokens = vocabulary.tokens;
    this.vocabSize = vocabulary.tokens.length;
    const ids = new Map<string, number>();
    vocabulary.tokens.forEach((token, id) => ids.set(token, id));
    const sot = ids.get(START_OF_TEXT);
    const eot = ids.get(END_OF_TEXT);
    if (sot === undefined || eot === undefined) {
      throw new VocabularyError(`the vocabulary lacks ${START_OF_TEXT} or ${END_OF_TEXT}: it is not CLIP's`);
    }
    this.sot = sot;
    this.eot = eot;
    this.specialIds = new Map([
      [START_OF_TEXT, sot],
      [END_OF_TEXT, eot],
    ]);
    const ranks = new Map<string, number>();
    vocabulary.merges.forEach((merge, rank) => ranks.set(merge, rank));
    this.encoder = new BytePairEncoder(ranks, ids);
  }

  /** From the bytes of bpe_simple_vocab_16e6.txt.gz (OpenCLIP's file). */
  static async fromBpeGz(bytes: Uint8Array): Promise<ClipTokenizer> {
    return ClipTokenizer.fromBpeText(new TextDecoder().decode(await gunzip(bytes, 'bpe_simple_vocab_16e6.txt.gz')));
  }

  /** From the text of bpe_simple_vocab_16e6.txt (the same file, not gzipped). */
  static fromBpeText(bpeText: string): ClipTokenizer {
    return new ClipTokenizer(vocabularyFromBpeText(bpeText));
  }

  /** From the hub's CLIPTokenizer files `vocab.json` and `merges.txt`. */
  static fromVocabMerges(vocabJson: string, mergesTxt: string): ClipTokenizer {
    return new ClipTokenizer(vocabularyFromVocabMerges(vocabJson, mergesTxt));
  }

  /** OpenCLIP's `encode`: the ids of the cleaned text, without <start_of_text>/<end_of_text>. */
  encode(text: string): number[] {
    return this.encodeUpTo(text, Infinity);
  }

  /** The first ids of encode(text): BPE stops once `limit` ids are known (a word's ids may go past it). */
  private encodeUpTo(text: string, limit: number): number[] {
    const ids: number[] = [];
    for (const spelled of byteLevelWords(text)) {
      if (ids.length >= limit) break;
      const special = this.specialIds.get(spelled);
      if (special !== undefined) ids.push(special);
      else for (const id of this.encoder.encodeWord(spelled)) ids.push(id);
    }
    return ids;
  }

  /**
   * [sot, …encode(text), eot], cut to `contextLength` with the last id forced to eot — one row of
   * `tokenize` without its padding. Words past the context are never BPE'd.
   */
  encodeWithSpecials(text: string, contextLength = DEFAULT_CONTEXT_LENGTH): number[] {
    assertContextLength(contextLength);
    // contextLength − 1 content ids decide the row: fewer fit with both specials, that many are cut.
    const content = this.encodeUpTo(text, contextLength - 1);
    if (content.length + 2 <= contextLength) return [this.sot, ...content, this.eot];
    const ids = [this.sot, ...content.slice(0, contextLength - 2)];
    ids.push(this.eot);
    return ids;
  }

  /** OpenCLIP's `tokenize`: one row of `contextLength` ids per text, padded with 0. */
  tokenize(texts: readonly string[], contextLength = DEFAULT_CONTEXT_LENGTH): Int32Array[] {
    checkCallSize(texts);
    return texts.map((text) => {
      const row = new Int32Array(contextLength);
      row.set(this.encodeWithSpecials(text, contextLength));
      return row;
    });
  }

  /**
   * OpenCLIP's `decode`: the tokens' bytes as UTF-8 (invalid sequences become U+FFFD), with every
   * "</w>" turned into a space. Special tokens appear as their names.
   */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const token = this.tokens[id];
      if (token === undefined) {
        throw new TokenIdError(`token id ${id} at position ${i} is outside the vocabulary (0…${this.vocabSize - 1})`);
      }
      for (const char of token) bytes.push(byteOfChar(char));
    }
    return utf8.decode(new Uint8Array(bytes)).replace(END_OF_WORD, ' ');
  }

  /**
   * A generated caption as text, the rule of OpenCLIP's examples: decode, cut at <end_of_text>, drop
   * <start_of_text>, strip (Python's str.strip).
   */
  captionText(ids: ArrayLike<number>): string {
    const beforeEnd = this.decode(ids).split(END_OF_TEXT)[0]!;
    return pythonStrip(beforeEnd.replaceAll(START_OF_TEXT, ''));
  }
}

/**
 * OpenCLIP's pre-tokenization: the words of the cleaned text, in order, each spelled in the byte-level
 * alphabet (what BPE works on). Lazy, so a caller that has enough tokens stops the splitting too.
 */
export function* byteLevelWords(text: string): Generator<string> {
  checkTextLength(text);
  for (const [word] of cleanText(text).replace(IOTA_SUBSCRIPT, ' ').matchAll(WORD_PATTERN)) yield toByteLevel(word);
}

function checkTextLength(text: string): void {
  if (text.length > MAX_TEXT_CHARS) {
    throw new TextTooLongError(
      `a text of ${text.length} characters is longer than the ${MAX_TEXT_CHARS} taken; only its first ~75 tokens ` +
        'would be used anyway, so shorten it',
      text.length,
      MAX_TEXT_CHARS,
    );
  }
}

function checkCallSize(texts: readonly string[]): void {
  if (texts.length > MAX_TEXTS_PER_CALL) {
    throw new TextTooLongError(`${texts.length} texts in one call, more than the ${MAX_TEXTS_PER_CALL} taken: split the call`, texts.length, MAX_TEXTS_PER_CALL);
  }
  let total = 0;
  for (const text of texts) total += text.length;
  if (total > MAX_CALL_TEXT_CHARS) {
    throw new TextTooLongError(
      `the texts of one call hold ${total} characters, more than the ${MAX_CALL_TEXT_CHARS} taken: split the call`,
      total,
      MAX_CALL_TEXT_CHARS,
    );
  }
}

function assertContextLength(contextLength: number): void {
  if (!Number.isInteger(contextLength) || contextLength < 2) {
    throw new RangeError(
      `contextLength must be an integer ≥ 2 (room for <start_of_text> and <end_of_text>), got ${contextLength}`,
    );
  }
}

/** A tokenizer from vocabulary bytes as fetched or read: bpe_simple_vocab_16e6.txt, gzipped or not. */
export async function loadTokenizerFromBytes(bytes: Uint8Array): Promise<ClipTokenizer> {
  if (isGzip(bytes)) return ClipTokenizer.fromBpeGz(bytes);
  return ClipTokenizer.fromBpeText(new TextDecoder().decode(bytes));
}

