// Reads an image's format and declared size from its first bytes, so that a file claiming
// 20000×20000 pixels is refused before any decoder allocates memory for it.

import { ImageDecodeError, ImageTooLargeError } from '../errors';

/**
 * Largest image (width·height) we decode: Pillow's Image.MAX_IMAGE_PIXELS (a 1024³/4/3-pixel RGB
 * image), past any photo a phone takes (~50 MP). Pillow only warns between 1× and 2× of it; we refuse.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

/**
 * Largest image file we read into memory: 512 MiB, above an uncompressed 89-megapixel RGBA PNG
 * (358 MB), so only files padded with data no decoder reads are refused.
 */
export const MAX_IMAGE_FILE_BYTES = 512 * 2 ** 20;

/** Refuses a file larger than MAX_IMAGE_FILE_BYTES before it is read. */
export function assertFileSize(bytes: number): void {
  if (bytes > MAX_IMAGE_FILE_BYTES) {
    throw new ImageTooLargeError(`image file is ${bytes} bytes, above the ${MAX_IMAGE_FILE_BYTES}-byte (512 MiB) limit; downscale or recompress it first`);
  }
}

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

/** What a file starts with, in hex and printable ASCII, for error messages. */
export function describeLeadingBytes(bytes: Uint8Array, count = 8): string {
  const head = bytes.subarray(0, count);
  if (head.length === 0) return 'an empty file (0 bytes)';
  const hex = Array.from(head, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const text = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
  return `bytes ${hex} ("${text}")`;
}

/** Which format the magic bytes announce, or null for anything else. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, PNG_SIGNATURE)) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 2) === 'BM' && bytes.length >= 26) return 'bmp';
  return null;
}

/** [width, height], or null when the bytes end before the header does. */
type SizeOrIncomplete = [number, number] | null;

function readPngSize(view: DataView, bytes: Uint8Array): SizeOrIncomplete {
  // Signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
  if (bytes.length < 24) return null;
  if (ascii(bytes, 12, 4) !== 'IHDR') throw new ImageDecodeError('PNG file has no IHDR chunk where the format requires it');
  return [view.getUint32(16), view.getUint32(20)];
}

/** True for the start-of-frame markers (SOF0–SOF15 less DHT, JPG and DAC, which share the range). */
export function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

/**
 * Calls `visit(marker, segmentStart, segmentEnd)` for each JPEG marker segment before the first scan
 * (segment bytes exclude the marker and length), until `visit` returns true. Returns false when the
 * bytes end first. Throws ImageDecodeError where a marker should be and is not.
 */
export function walkJpegSegments(bytes: Uint8Array, visit: (marker: number, start: number, end: number) => boolean): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new ImageDecodeError(`JPEG file is corrupt: expected a marker at byte ${at}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte before a marker
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) {
      throw new ImageDecodeError('JPEG file is corrupt: image data starts before any frame header (SOF)');
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2; // markers without a length field
      continue;
    }
    const end = at + 2 + view.getUint16(at + 2);
    if (visit(marker, at + 4, Math.min(end, bytes.length))) return true;
    at = end;
  }
  return false;
}

function readJpegSize(bytes: Uint8Array): SizeOrIncomplete {
  let size: SizeOrIncomplete = null;
  walkJpegSegments(bytes, (marker, start) => {
    if (!isStartOfFrame(marker)) return false;
    if (start + 5 <= bytes.length) size = [(bytes[start + 3]! << 8) | bytes[start + 4]!, (bytes[start + 1]! << 8) | bytes[start + 2]!];
    return true;
  });
  return size;
}

function readGifSize(view: DataView, bytes: Uint8Array): SizeOrIncomplete {
  if (bytes.length < 10) return null;
  return [view.getUint16(6, true), view.getUint16(8, true)];
}

function readWebpSize(view: DataView, bytes: Uint8Array): SizeOrIncomplete {
  if (bytes.length < 30) return null;
  const chunk = ascii(bytes, 12, 4);
  if (chunk === 'VP8X') {
    const width = 1 + (bytes[24]! | (bytes[25]! << 8) | (bytes[26]! << 16));
    const height = 1 + (bytes[27]! | (bytes[28]! << 8) | (bytes[29]! << 16));
    return [width, height];
  }
  if (chunk === 'VP8L') {
    const bits = view.getUint32(21, true);
    return [(bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1];
  }
  if (chunk === 'VP8 ') return [view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff];
  throw new ImageDecodeError(`WebP file has an unknown first chunk "${chunk}"`);
}

function readBmpSize(view: DataView): SizeOrIncomplete {
  // BITMAPINFOHEADER: signed width and height (negative height means top-down rows).
  return [Math.abs(view.getInt32(18, true)), Math.abs(view.getInt32(22, true))];
}

/**
 * Format and declared size from the first bytes of a file, or undefined when they end before the
 * header does (the caller holds only a prefix, or the file is truncated). Throws ImageDecodeError
 * for bytes that are not a PNG, JPEG, GIF, WebP or BMP, for a corrupt header or a zero-sized image,
 * and ImageTooLargeError above MAX_IMAGE_PIXELS.
 */
export function peekImageHeader(bytes: Uint8Array): ImageHeader | undefined {
  const format = sniffImageFormat(bytes);
  if (format === null) {
    throw new ImageDecodeError(
      `not an image: expected PNG, JPEG, GIF, WebP or BMP, found ${describeLeadingBytes(bytes)}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size =
    format === 'png'
      ? readPngSize(view, bytes)
      : format === 'jpeg'
        ? readJpegSize(bytes)
        : format === 'gif'
          ? readGifSize(view, bytes)
          : format === 'webp'
            ? readWebpSize(view, bytes)
            : readBmpSize(view);
  if (size === null) return undefined;
  const [width, height] = size;
  assertDecodableSize(width, height, format.toUpperCase());
  return { format, width, height };
}

/** As peekImageHeader, for a whole file: a header that ends early is an ImageDecodeError. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const header = peekImageHeader(bytes);
  if (header === undefined) {
    const format = sniffImageFormat(bytes)!.toUpperCase();
    throw new ImageDecodeError(`${format} file is truncated: it ends (${bytes.length} bytes) before its header does`);
  }
  return header;
}

/** The size checks every decode path shares: not empty, not above MAX_IMAGE_PIXELS. */
export function assertDecodableSize(width: number, height: number, what: string): void {
  if (width === 0 || height === 0) {
    throw new ImageDecodeError(`${what} image is empty: it declares ${width}×${height} pixels`);
  }
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageTooLargeError(
      `${what} image declares ${width}×${height} pixels (${((width * height) / 1e6).toFixed(0)} MP), ` +
        `above the ${MAX_IMAGE_PIXELS.toLocaleString('en-US')}-pixel limit (Pillow's); downscale it first`,
    );
  }
}
