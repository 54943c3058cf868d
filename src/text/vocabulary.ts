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

/** A value for a message, cut short: a hostile file's "token" can be megabytes long. */
function shortJson(value: unknown): string {
  if (typeof value === 'string' && value.length > 60) return JSON.stringify(`${value.slice(0, 60)}…`);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** Merge lines 1…MERGE_COUNT of a merges file (line 0 is a version header), each as "left right". */
function parseMerges(text: string, source: string): string[] {
  checkVocabularySize(text, source);
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
      throw new VocabularyError(`${source} line ${rank + 2} is ${shortJson(lines[rank + 1])}, expected "left right": the file is damaged or not a merge list`);
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
  checkVocabularySize(vocabJson, 'vocab.json', MAX_VOCAB_JSON_CHARS);
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
        `vocab.json gives ${shortJson(token)} the id ${shortJson(id)}; ` +
          `ids must be the distinct integers 0…${entries.length - 1}`,
      );
    }
    tokens[id] = HUB_SPECIAL_NAMES[token] ?? token;
  }
  return { tokens, merges: parseMerges(mergesTxt, 'merges.txt') };
}

/**
 * Largest vocabulary file read, gunzipped (bytes) or as text (characters): OpenCLIP's
 * bpe_simple_vocab_16e6.txt is 3.2 MB and the hub's vocab.json 0.9 MB, so 16 MiB stops a gzip bomb early.
 */
export const MAX_VOCABULARY_BYTES = 16 * 1024 * 1024;

/**
 * Gunzips with the platform's DecompressionStream (browsers and Node ≥ 18), stopping as soon as the output
 * passes MAX_VOCABULARY_BYTES. Corrupt or truncated gzip data is a VocabularyError.
 */
export async function gunzip(bytes: Uint8Array, name = 'the vocabulary'): Promise<Uint8Array> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const pieces: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > MAX_VOCABULARY_BYTES) {
        await reader.cancel();
        throw new VocabularyError(
          `${name} inflates to more than ${MAX_VOCABULARY_BYTES} bytes; the CLIP vocabulary is 3.2 MB, so this is not it`,
        );
      }
      pieces.push(value);
    }
  } catch (error) {
    if (error instanceof VocabularyError) throw error;
    throw new VocabularyError(`${name} is not valid gzip data (${(error as Error).message}): the file is damaged or truncated`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.byteLength;
  }
  return out;
}

/** Longest vocab.json read (the hub's is 0.9 MB): JSON.parse of a hostile one builds an object per entry. */
export const MAX_VOCAB_JSON_CHARS = 4 * 1024 * 1024;

/** Refuses a vocabulary text far longer than the real files, before it is split or parsed. */
function checkVocabularySize(text: string, source: string, limit = MAX_VOCABULARY_BYTES): void {
  if (text.length > limit) {
    throw new VocabularyError(`${source} is ${text.length} characters long; the CLIP vocabulary files are a few MB, so this is not one`);
  }
}

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}
