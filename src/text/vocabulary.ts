// The CLIP BPE vocabulary, from either of its two published forms:
// - OpenCLIP's `bpe_simple_vocab_16e6.txt(.gz)`: a version line, then one merge per line. The
//   vocabulary is derived: 256 byte characters, the same with "</w>", the first 48,894 merges joined,
//   then <start_of_text> and <end_of_text> (49,408 entries).
// - The hub's CLIPTokenizer `vocab.json` (token → id) + `merges.txt` (same merges), whose special
//   tokens are spelled <|startoftext|> and <|endoftext|>; they are renamed to OpenCLIP's spelling so
//   that decoding gives OpenCLIP's text.

import { VocabularyError } from '../errors';
import { BYTE_CHARS_IN_VOCAB_ORDER } from './byte-level';

export const START_OF_TEXT = '<start_of_text>';
export const END_OF_TEXT = '<end_of_text>';
const HUB_SPECIAL_NAMES: Readonly<Record<string, string>> = {
  '<|startoftext|>': START_OF_TEXT,
  '<|endoftext|>': END_OF_TEXT,
};

/** Merges CLIP uses: 49,152 − 256 byte tokens − 2 special tokens, each merge giving one new token. */
export const MERGE_COUNT = 49152 - 256 - 2;

const END_OF_WORD = '</w>';

/** A vocabulary ready for the tokenizer: id → token, and the merges by rank as "left right". */
export interface ClipVocabulary {
  readonly tokens: readonly string[];
  readonly merges: readonly string[];
}

/** Merge lines 1…MERGE_COUNT of a merges file (line 0 is a version header), each as "left right". */
function parseMerges(text: string, source: string): string[] {
  const lines = text.split('\n', MERGE_COUNT + 1);
  if (lines.length < MERGE_COUNT + 1) {
    throw new VocabularyError(
      `${source} has ${lines.length} lines, expected a version line and at least ${MERGE_COUNT} merges: ` +
        'is it the CLIP BPE merge list (bpe_simple_vocab_16e6.txt or the hub’s merges.txt)?',
    );
  }
  const merges = new Array<string>(MERGE_COUNT);
  for (let rank = 0; rank < MERGE_COUNT; rank++) {
    const parts = lines[rank + 1]!.trim().split(/\s+/);
    if (parts.length !== 2) {
      throw new VocabularyError(`${source} line ${rank + 2} is ${JSON.stringify(lines[rank + 1])}, expected "left right"`);
    }
    merges[rank] = `${parts[0]} ${parts[1]}`;
  }
  return merges;
}

/** OpenCLIP's SimpleTokenizer vocabulary from the text of bpe_simple_vocab_16e6.txt. */
export function vocabularyFromBpeText(bpeText: string): ClipVocabulary {
  const merges = parseMerges(bpeText, 'the BPE vocabulary');
  const tokens = [...BYTE_CHARS_IN_VOCAB_ORDER, ...BYTE_CHARS_IN_VOCAB_ORDER.map((char) => char + END_OF_WORD)];
  for (const merge of merges) tokens.push(merge.replace(' ', ''));
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  return { tokens, merges };
}

/** The same vocabulary from the hub's CLIPTokenizer files. */
export function vocabularyFromVocabMerges(vocabJson: string, mergesTxt: string): ClipVocabulary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vocabJson);
  } catch (error) {
    throw new VocabularyError(`vocab.json is not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new VocabularyError('vocab.json must be an object mapping each token to its id');
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const tokens = new Array<string>(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length || tokens[id] !== undefined) {
      throw new VocabularyError(
        `vocab.json gives ${JSON.stringify(token)} the id ${JSON.stringify(id)}; ` +
          `ids must be the distinct integers 0…${entries.length - 1}`,
      );
    }
    tokens[id] = HUB_SPECIAL_NAMES[token] ?? token;
  }
  return { tokens, merges: parseMerges(mergesTxt, 'merges.txt') };
}

/** Gunzips with the platform's DecompressionStream (browsers and Node ≥ 18). */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}
