// PNG decoding as Pillow 9.4's PngImagePlugin opens files, shared by Node and browsers: each colour
// type and bit depth becomes Pillow's mode (_MODES) with its unpacker's values; interlaced (Adam7)
// files are assembled; chunk CRCs are checked before the image data, as Pillow does; the image data
// is inflated in bounded steps and decoding stops once every row is in (extra data is ignored, as
// Pillow's ZipDecode does), so a small file cannot inflate past the size its header declares.

import { Unzlib } from 'fflate';
import { ImageDecodeError } from '../errors';
import { readExifOrientation } from './exif';
import { assertDecodableSize } from './header';
import { fullPalette } from './modes';
import type { DecodedImage, ExifOrientation, ImageMode } from './types';

/** Compressed bytes handed to the inflater at a time: at most ~1000× that (64 MB) comes out per step. */
const INFLATE_STEP = 64 * 1024;

const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Pillow's mode for each (bit depth, colour type) it reads. */
function modeOf(bitDepth: number, colorType: number): ImageMode {
  const modes: Record<string, ImageMode> = {
    '1,0': '1', '2,0': 'L', '4,0': 'L', '8,0': 'L', '16,0': 'I',
    '8,2': 'RGB', '16,2': 'RGB',
    '1,3': 'P', '2,3': 'P', '4,3': 'P', '8,3': 'P',
    '8,4': 'LA', '16,4': 'RGBA', // Pillow 9.4 opens 16-bit gray+alpha as RGBA ("LA;16B")
    '8,6': 'RGBA', '16,6': 'RGBA',
  };
  const mode = modes[`${bitDepth},${colorType}`];
  if (mode === undefined) throw new ImageDecodeError(`PNG has an invalid bit depth ${bitDepth} for colour type ${colorType}`);
  return mode;
}

const SAMPLES_PER_PIXEL: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

interface Chunks {
  header: Header;
  palette?: Uint8Array;
  idat: Uint8Array[];
  orientation: ExifOrientation;
}

function readChunks(bytes: Uint8Array): Chunks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  let orientation: ExifOrientation = 1;
  const idat: Uint8Array[] = [];
  while (true) {
    if (at + 8 > bytes.length) {
      if (idat.length > 0) break; // Pillow stops reading at the last IDAT; IEND is optional for it
      throw new ImageDecodeError('PNG file is truncated: it ends before its image data (IDAT)');
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const end = at + 12 + length;
    if (length > 0x7fffffff || end > bytes.length) {
      if (idat.length > 0 && type !== 'IDAT') break;
      if (type === 'IDAT') {
        idat.push(bytes.subarray(at + 8, Math.min(at + 8 + length, bytes.length)));
        break;
      }
      throw new ImageDecodeError(`PNG file is truncated: its ${JSON.stringify(type)} chunk ends past the end of the file`);
    }
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IDAT') {
      if (header === undefined) throw new ImageDecodeError('PNG file is corrupt: image data (IDAT) comes before the header (IHDR)');
      idat.push(data);
    } else if (idat.length > 0) {
      break; // the image data ended: Pillow reads nothing after it
    } else {
      if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) {
        throw new ImageDecodeError(`PNG file is corrupt: the ${JSON.stringify(type)} chunk fails its CRC check (broken PNG file)`);
      }
      if (type === 'IHDR') header = parseHeader(data);
      else if (type === 'PLTE') palette = data.subarray(0, data.length - (data.length % 3));
      else if (type === 'eXIf') orientation = readExifOrientation(data);
      else if (type === 'IEND') break;
    }
    at = end;
  }
  if (header === undefined) throw new ImageDecodeError('PNG file has no IHDR chunk where the format requires it');
  if (idat.length === 0) throw new ImageDecodeError('PNG file has no image data (IDAT chunk)');
  return { header, palette, idat, orientation };
}

function parseHeader(data: Uint8Array): Header {
  if (data.length < 13) throw new ImageDecodeError('PNG file is corrupt: its IHDR chunk is shorter than 13 bytes');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const header = {
    width: view.getUint32(0),
    height: view.getUint32(4),
    bitDepth: data[8]!,
    colorType: data[9]!,
    interlaced: data[12] === 1,
  };
  if (data[12]! > 1) throw new ImageDecodeError(`PNG uses an unknown interlace method ${data[12]}`);
  modeOf(header.bitDepth, header.colorType);
  assertDecodableSize(header.width, header.height, 'PNG');
  return header;
}

/** Bytes of one filtered row of `width` pixels (without the filter-type byte). */
function rowBytes(width: number, bitsPerPixel: number): number {
  return Math.ceil((width * bitsPerPixel) / 8);
}

/** Adam7 passes: start x, start y, step x, step y. */
export const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
}

function passesOf(header: Header): Pass[] {
  if (!header.interlaced) return [{ x0: 0, y0: 0, dx: 1, dy: 1, width: header.width, height: header.height }];
  return ADAM7.map(([x0, y0, dx, dy]) => ({
    x0,
    y0,
    dx,
    dy,
    width: Math.ceil((header.width - x0) / dx),
    height: Math.ceil((header.height - y0) / dy),
  })).filter((p) => p.width > 0 && p.height > 0);
}

/** Inflates the zlib stream until `expected` bytes are out; fewer is "truncated", more is ignored. */
function inflateImageData(idat: Uint8Array[], expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let filled = 0;
  const inflater = new Unzlib((chunk) => {
    const take = Math.min(chunk.length, expected - filled);
    out.set(chunk.subarray(0, take), filled);
    filled += take;
  });
  try {
    for (const part of idat) {
      for (let at = 0; at < part.length && filled < expected; at += INFLATE_STEP) {
        inflater.push(part.subarray(at, at + INFLATE_STEP));
      }
      if (filled >= expected) break;
    }
  } catch (error) {
    throw new ImageDecodeError(`PNG image data is corrupt: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (filled < expected) {
    throw new ImageDecodeError(`PNG image data is truncated: ${filled} of ${expected} bytes (image file is truncated)`);
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the row filters of one pass; returns the rows without their filter bytes. */
function unfilter(raw: Uint8Array, rows: number, stride: number, bytesPerPixel: number): Uint8Array {
  const out = new Uint8Array(rows * stride);
  const bpp = bytesPerPixel;
  for (let y = 0; y < rows; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    // The row above is all zeros for the first row: Up, Average and Paeth then read 0.
    const hasPrev = y > 0;
    switch (filter) {
      case 0:
        out.set(raw.subarray(line, line + stride), row);
        break;
      case 1:
        for (let i = 0; i < stride; i++) out[row + i] = raw[line + i]! + (i >= bpp ? out[row + i - bpp]! : 0);
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[row + i] = raw[line + i]! + (hasPrev ? out[prev + i]! : 0);
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[row + i - bpp]! : 0;
          const b = hasPrev ? out[prev + i]! : 0;
          out[row + i] = raw[line + i]! + ((a + b) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[row + i - bpp]! : 0;
          const b = hasPrev ? out[prev + i]! : 0;
          const c = hasPrev && i >= bpp ? out[prev + i - bpp]! : 0;
          out[row + i] = raw[line + i]! + paeth(a, b, c);
        }
        break;
      default:
        throw new ImageDecodeError(`PNG image data is corrupt: unknown row filter type ${filter}`);
    }
  }
  return out;
}

/** Sample `index` of a row of `bitDepth`-bit samples (MSB first). */
function sampleAt(row: Uint8Array, at: number, index: number, bitDepth: number): number {
  if (bitDepth === 8) return row[at + index]!;
  if (bitDepth === 16) return (row[at + 2 * index]! << 8) | row[at + 2 * index + 1]!;
  const perByte = 8 / bitDepth;
  const byte = row[at + Math.floor(index / perByte)]!;
  const shift = 8 - bitDepth * ((index % perByte) + 1);
  return (byte >> shift) & ((1 << bitDepth) - 1);
}

/** Pillow's unpacked value of one sample: low depths scaled (L;2 ×85, L;4 ×17, 1 → 255), 16-bit → high byte. */
function unpackSample(raw: number, header: Header, mode: ImageMode): number {
  const { bitDepth, colorType } = header;
  if (colorType === 3) return raw; // palette index
  if (mode === 'I') return raw; // 16-bit gray, kept whole
  if (bitDepth === 16) return raw >> 8;
  if (bitDepth === 1) return raw ? 255 : 0;
  if (bitDepth === 2) return raw * 0x55;
  if (bitDepth === 4) return raw * 0x11;
  return raw;
}

/**
 * PNG bytes → the image in Pillow's mode for the file. Throws ImageDecodeError for corrupt or
 * truncated files and ImageTooLargeError (from the header, before inflating) above MAX_IMAGE_PIXELS.
 */
export function decodePng(bytes: Uint8Array): DecodedImage {
  const { header, palette, idat, orientation } = readChunks(bytes);
  const mode = modeOf(header.bitDepth, header.colorType);
  const samples = SAMPLES_PER_PIXEL[header.colorType]!;
  const bitsPerPixel = samples * header.bitDepth;
  const bytesPerPixel = Math.max(1, bitsPerPixel >> 3);
  const passes = passesOf(header);
  const expected = passes.reduce((n, p) => n + p.height * (rowBytes(p.width, bitsPerPixel) + 1), 0);
  const raw = inflateImageData(idat, expected);
  const { width, height } = header;
  if (!header.interlaced && header.bitDepth === 8 && mode !== 'P') {
    const pixels = unfilter(raw, height, rowBytes(width, bitsPerPixel), bytesPerPixel);
    return { width, height, mode, data: pixels, orientation };
  }
  const outBands = mode === 'RGBA' && header.colorType === 4 ? 4 : samples;
  const data = mode === 'I' ? new Int32Array(width * height) : new Uint8Array(width * height * outBands);
  let offset = 0;
  for (const pass of passes) {
    const stride = rowBytes(pass.width, bitsPerPixel);
    const rows = unfilter(raw.subarray(offset, offset + pass.height * (stride + 1)), pass.height, stride, bytesPerPixel);
    offset += pass.height * (stride + 1);
    for (let py = 0; py < pass.height; py++) {
      const y = pass.y0 + py * pass.dy;
      for (let px = 0; px < pass.width; px++) {
        const x = pass.x0 + px * pass.dx;
        const to = (y * width + x) * outBands;
        for (let s = 0; s < samples; s++) {
          const v = unpackSample(sampleAt(rows, py * stride, px * samples + s, header.bitDepth), header, mode);
          if (outBands === samples) data[to + s] = v;
          else if (s === 0) data.fill(v, to, to + 3); // 16-bit LA → RGBA: gray to R, G and B
          else data[to + 3] = v;
        }
      }
    }
  }
  if (mode === 'P' && palette === undefined) throw new ImageDecodeError('PNG palette image has no palette (PLTE chunk)');
  return { width, height, mode, data, palette: mode === 'P' ? fullPalette(palette!) : undefined, orientation };
}
