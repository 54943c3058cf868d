// Photo ids: the SHA-256 of the file's bytes (Web Crypto, in browsers and Node alike).
import { LibraryError } from '../errors';

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new LibraryError('hashing photos needs the Web Crypto API, which browsers offer only to pages on HTTPS or localhost');
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
