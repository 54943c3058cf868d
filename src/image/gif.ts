// GIF decoding as Pillow 9.4 opens a file (GifImagePlugin + GifDecode.c), shared by Node and
// browsers: the first frame only, mode "P" with the frame's palette (local, else global), or "L"
// when there is none or it is the identity gray ramp; the canvas grows to hold the frame and is
// filled with the frame's transparent index (else 0) outside it. A stream that ends before the last
// pixel is "truncated" (Pillow raises); data after the last pixel is ignored.

import { ImageDecodeError } from '../errors';
import { assertDecodableSize } from './header';
import { fullPalette } from './modes';
import type { DecodedImage } from './types';

const MAX_CODES = 4096;
const MAX_CODE_SIZE = 12;

/** Reads the bytes of a GIF sub-block sequence one at a time (length byte, data, …, 0). */
class SubBlockReader {
  private remaining = 0;
  private ended = false;

  constructor(
    private readonly bytes: Uint8Array,
    private at: number,
  ) {}

  /** The next data byte, or -1 at the terminator or the end of the file. */
  next(): number {
    while (this.remaining === 0) {
      if (this.ended || this.at >= this.bytes.length) return -1;
      this.remaining = this.bytes[this.at++]!;
      if (this.remaining === 0) {
        this.ended = true;
        return -1;
      }
    }
    if (this.at >= this.bytes.length) return -1;
    this.remaining--;
    return this.bytes[this.at++]!;
  }
}

/** Skips a sub-block sequence from `at`; returns the offset after its terminator (or the file end). */
function skipSubBlocks(bytes: Uint8Array, at: number): number {
  while (at < bytes.length) {
    const length = bytes[at]!;
    at += 1 + length;
    if (length === 0) break;
  }
  return at;
}

/** True unless entry i is (i, i, i) for every entry: Pillow then drops the palette ("L"). */
function isPaletteNeeded(palette: Uint8Array): boolean {
  for (let i = 0; i < palette.length; i += 3) {
    const index = i / 3;
    if (!(palette[i] === index && palette[i + 1] === index && palette[i + 2] === index)) return true;
  }
  return false;
}

interface Frame {
  left: number;
  top: number;
  width: number;
  height: number;
  interlaced: boolean;
  palette: Uint8Array | null;
  codeSize: number;
  dataAt: number;
}

/** Rows of an interlaced frame in the order they are stored (passes from 0 step 8, 4 step 8, 2 step 4, 1 step 2). */
function rowOrder(height: number, interlaced: boolean): number[] {
  if (!interlaced) return Array.from({ length: height }, (_, y) => y);
  const rows: number[] = [];
  for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]] as const) for (let y = start; y < height; y += step) rows.push(y);
  return rows;
}

/** LZW-decodes the frame's pixels into `canvas` (width `canvasWidth`), as GifDecode.c does. */
function decodeFrame(bytes: Uint8Array, frame: Frame, canvas: Uint8Array, canvasWidth: number): void {
  const { codeSize: bits, width, height } = frame;
  if (bits > MAX_CODE_SIZE) throw new ImageDecodeError(`GIF image data is corrupt: LZW code size ${bits} is above 12`);
  const reader = new SubBlockReader(bytes, frame.dataAt);
  const clear = 1 << bits;
  const end = clear + 1;
  const prefix = new Int32Array(MAX_CODES);
  const suffix = new Uint8Array(MAX_CODES);
  const stack = new Uint8Array(MAX_CODES);
  const rows = rowOrder(height, frame.interlaced);
  const total = width * height;
  let written = 0;
  let bitBuffer = 0;
  let bitCount = 0;
  let codeSizeNow = bits + 1;
  let next = clear + 2;
  let lastCode = -1;
  let lastFirst = 0;
  const put = (value: number): void => {
    const row = rows[Math.floor(written / width)]!;
    canvas[(frame.top + row) * canvasWidth + frame.left + (written % width)] = value;
    written++;
  };
  while (written < total) {
    while (bitCount < codeSizeNow) {
      const byte = reader.next();
      if (byte < 0) throw new ImageDecodeError(`GIF image data is truncated: ${written} of ${total} pixels (image file is truncated)`);
      bitBuffer |= byte << bitCount;
      bitCount += 8;
    }
    const code = bitBuffer & ((1 << codeSizeNow) - 1);
    bitBuffer >>>= codeSizeNow;
    bitCount -= codeSizeNow;
    if (code === clear) {
      codeSizeNow = bits + 1;
      next = clear + 2;
      lastCode = -1;
      continue;
    }
    if (code === end) throw new ImageDecodeError(`GIF image data ends after ${written} of ${total} pixels (image file is truncated)`);
    if (lastCode < 0) {
      if (code > clear) throw new ImageDecodeError('GIF image data is corrupt: the first code after a clear is not a colour');
      put(code);
      lastCode = code;
      lastFirst = code;
      continue;
    }
    if (code > next) throw new ImageDecodeError(`GIF image data is corrupt: code ${code} is past the next free code ${next}`);
    let depth = 0;
    let c = code;
    if (code === next) {
      stack[depth++] = lastFirst;
      c = lastCode;
    }
    while (c >= clear) {
      if (depth >= MAX_CODES) throw new ImageDecodeError('GIF image data is corrupt: an LZW string is too long');
      stack[depth++] = suffix[c]!;
      c = prefix[c]!;
    }
    stack[depth++] = c;
    lastFirst = c;
    if (next < MAX_CODES) {
      suffix[next] = c;
      prefix[next] = lastCode;
      if (next === (1 << codeSizeNow) - 1 && codeSizeNow < MAX_CODE_SIZE) codeSizeNow++;
      next++;
    }
    lastCode = code;
    while (depth > 0 && written < total) put(stack[--depth]!);
  }
}

/** GIF bytes → the first frame in Pillow's mode ("P" or "L"). Throws ImageDecodeError / ImageTooLargeError. */
export function decodeGif(bytes: Uint8Array): DecodedImage {
  if (bytes.length < 13) throw new ImageDecodeError(`GIF file is truncated: it ends (${bytes.length} bytes) before its header does`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = view.getUint16(6, true);
  let height = view.getUint16(8, true);
  const flags = bytes[10]!;
  let at = 13;
  let globalPalette: Uint8Array | null = null;
  if (flags & 0x80) {
    const size = 3 << ((flags & 7) + 1);
    const palette = bytes.subarray(at, at + size);
    at += size;
    if (isPaletteNeeded(palette)) globalPalette = palette;
  }
  let transparency: number | null = null;
  let frame: Frame | undefined;
  while (at < bytes.length && frame === undefined) {
    const marker = bytes[at++]!;
    if (marker === 0x3b) break; // trailer
    if (marker === 0x21) {
      const label = bytes[at++];
      if (label === 0xf9 && bytes[at]! >= 4 && at + 4 < bytes.length && bytes[at + 1]! & 1) transparency = bytes[at + 4]!;
      at = skipSubBlocks(bytes, at);
    } else if (marker === 0x2c) {
      if (at + 10 > bytes.length) break;
      const descriptor = { left: view.getUint16(at, true), top: view.getUint16(at + 2, true), width: view.getUint16(at + 4, true), height: view.getUint16(at + 6, true) };
      const frameFlags = bytes[at + 8]!;
      at += 9;
      let palette: Uint8Array | null = globalPalette;
      if (frameFlags & 0x80) {
        const size = 3 << ((frameFlags & 7) + 1);
        const local = bytes.subarray(at, at + size);
        at += size;
        palette = isPaletteNeeded(local) ? local : null;
      }
      frame = { ...descriptor, interlaced: (frameFlags & 0x40) !== 0, palette, codeSize: bytes[at] ?? 0, dataAt: at + 1 };
    }
    // Any other byte is skipped, as Pillow does.
  }
  if (frame === undefined) throw new ImageDecodeError('GIF file has no image (no frame before its end)');
  width = Math.max(width, frame.left + frame.width);
  height = Math.max(height, frame.top + frame.height);
  assertDecodableSize(width, height, 'GIF');
  const canvas = new Uint8Array(width * height).fill(transparency ?? 0);
  if (frame.width > 0 && frame.height > 0) decodeFrame(bytes, frame, canvas, width);
  const common = { width, height, data: canvas, orientation: 1 as const };
  return frame.palette === null ? { ...common, mode: 'L' } : { ...common, mode: 'P', palette: fullPalette(frame.palette) };
}
