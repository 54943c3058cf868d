// GPT-2/CLIP byte-level alphabet: every byte gets a printable character, so BPE can work on strings
// without whitespace or control characters. Printable Latin-1 bytes stand for themselves; the other
// 68 bytes take U+0100 onwards in byte order. The 256 characters, in this order, are the vocabulary's
// first 256 entries.

function byteAlphabet(): string[] {
  const isPrintable = (byte: number): boolean =>
    (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
  const printable: number[] = [];
  const others: number[] = [];
  for (let byte = 0; byte < 256; byte++) (isPrintable(byte) ? printable : others).push(byte);
  const characters = new Array<string>(256);
  for (const byte of printable) characters[byte] = String.fromCharCode(byte);
  others.forEach((byte, i) => (characters[byte] = String.fromCharCode(256 + i)));
  return characters;
}

/** BYTE_TO_CHAR[byte] is the character that stands for that byte. */
export const BYTE_TO_CHAR: readonly string[] = byteAlphabet();

/** The 256 byte characters in vocabulary order (printable bytes first, then the remapped ones). */
export const BYTE_CHARS_IN_VOCAB_ORDER: readonly string[] = [
  ...BYTE_TO_CHAR.filter((char) => char.charCodeAt(0) < 256),
  ...BYTE_TO_CHAR.filter((char) => char.charCodeAt(0) >= 256),
];

/** Inverse of BYTE_TO_CHAR, indexed by the character's code unit (all are below U+0144). */
const CHAR_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(512).fill(-1);
  BYTE_TO_CHAR.forEach((char, byte) => (table[char.charCodeAt(0)] = byte));
  return table;
})();

/** The byte a byte-level character stands for, or -1 if it is not one. */
export function byteOfChar(char: string): number {
  const code = char.charCodeAt(0);
  return code < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[code]! : -1;
}

const utf8 = new TextEncoder();

/** A word's UTF-8 bytes spelled in the byte-level alphabet. */
export function toByteLevel(word: string): string {
  let spelled = '';
  for (const byte of utf8.encode(word)) spelled += BYTE_TO_CHAR[byte]!;
  return spelled;
}
