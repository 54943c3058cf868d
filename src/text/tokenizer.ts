// OpenCLIP's SimpleTokenizer (the CLIP BPE) for CoCa: clean the text as OpenCLIP does, split it with
// OpenCLIP's pattern, spell each piece's UTF-8 bytes in the byte-level alphabet, and BPE it.

import { TokenIdError, VocabularyError } from '../errors';
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
    return ClipTokenizer.fromBpeText(new TextDecoder().decode(await gunzip(bytes)));
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
    const ids: number[] = [];
    for (const [word] of cleanText(text).replace(IOTA_SUBSCRIPT, ' ').matchAll(WORD_PATTERN)) {
      const spelled = toByteLevel(word);
      const special = this.specialIds.get(spelled);
      if (special !== undefined) ids.push(special);
      else ids.push(...this.encoder.encodeWord(spelled));
    }
    return ids;
  }

  /**
   * [sot, …encode(text), eot], cut to `contextLength` with the last id forced to eot — one row of
   * `tokenize` without its padding.
   */
  encodeWithSpecials(text: string, contextLength = DEFAULT_CONTEXT_LENGTH): number[] {
    assertContextLength(contextLength);
    const ids = [this.sot, ...this.encode(text), this.eot];
    if (ids.length <= contextLength) return ids;
    ids.length = contextLength;
    ids[contextLength - 1] = this.eot;
    return ids;
  }

  /** OpenCLIP's `tokenize`: one row of `contextLength` ids per text, padded with 0. */
  tokenize(texts: readonly string[], contextLength = DEFAULT_CONTEXT_LENGTH): Int32Array[] {
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

