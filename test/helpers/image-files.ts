// Small image-file writers for the image tests: PNG (any colour type and bit depth, Adam7, every row
// filter) and GIF (LZW), built from sample values, so the tests know exactly what a decoder must give.
import { crc32, deflateSync } from 'node:zlib';
import { ADAM7 } from '../../src/image/png';
import { concat } from '../io-fixtures';

export { concat };

/** A PNG chunk: length, type, data, CRC-32 over type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  chunk.set(new TextEncoder().encode(type), 4);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return chunk;
}

export const PNG_SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function pngHeader(width: number, height: number, bitDepth: number, colorType: number, interlaced = false): Uint8Array {
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([bitDepth, colorType, 0, 0, interlaced ? 1 : 0], 8);
  return pngChunk('IHDR', ihdr);
}

export interface PngSpec {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** Samples per pixel (1 gray/palette, 2 gray+alpha, 3 RGB, 4 RGBA), row-major, in the file's bit depth. */
  samples: (x: number, y: number) => number[];
  interlaced?: boolean;
  palette?: Uint8Array;
  /** Chunks to place before IDAT (e.g. eXIf). */
  extra?: Uint8Array[];
}

function packRow(values: number[], bitDepth: number): Uint8Array {
  if (bitDepth === 16) return Uint8Array.from(values.flatMap((v) => [v >> 8, v & 0xff]));
  if (bitDepth === 8) return Uint8Array.from(values);
  const out = new Uint8Array(Math.ceil((values.length * bitDepth) / 8));
  values.forEach((v, i) => (out[(i * bitDepth) >> 3]! |= v << (8 - bitDepth - ((i * bitDepth) & 7))));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filters rows with filter types 0–4 in turn, so a decoder must undo every one. */
function filterRows(rows: Uint8Array[], bytesPerPixel: number): Uint8Array {
  return concat(
    rows.map((row, y) => {
      const type = y % 5;
      const prev = y > 0 ? rows[y - 1]! : new Uint8Array(row.length);
      const out = new Uint8Array(row.length + 1);
      out[0] = type;
      for (let i = 0; i < row.length; i++) {
        const a = i >= bytesPerPixel ? row[i - bytesPerPixel]! : 0;
        const b = prev[i]!;
        const c = i >= bytesPerPixel ? prev[i - bytesPerPixel]! : 0;
        const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][type]!;
        out[i + 1] = (row[i]! - predictor) & 0xff;
      }
      return out;
    }),
  );
}

export function pngFile(spec: PngSpec): Uint8Array {
  const { width, height, bitDepth, colorType } = spec;
  const samplesPerPixel = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
  const bytesPerPixel = Math.max(1, (samplesPerPixel * bitDepth) >> 3);
  const passes = spec.interlaced ? ADAM7 : [[0, 0, 1, 1] as const];
  const raw: Uint8Array[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    const rows: Uint8Array[] = [];
    for (let y = y0; y < height; y += dy) {
      const values: number[] = [];
      for (let x = x0; x < width; x += dx) values.push(...spec.samples(x, y));
      if (values.length > 0) rows.push(packRow(values, bitDepth));
    }
    raw.push(filterRows(rows, bytesPerPixel));
  }
  return concat([
    PNG_SIGNATURE,
    pngHeader(width, height, bitDepth, colorType, spec.interlaced),
    ...(spec.extra ?? []),
    ...(spec.palette ? [pngChunk('PLTE', spec.palette)] : []),
    pngChunk('IDAT', deflateSync(concat(raw))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** GIF sub-blocks (≤ 255 bytes each) and the terminator. */
function subBlocks(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += 255) {
    const block = data.subarray(at, at + 255);
    parts.push(Uint8Array.of(block.length), block);
  }
  parts.push(Uint8Array.of(0));
  return concat(parts);
}

/** LZW-compresses indices as GIF does (variable code size, clear when the table is full). */
export function gifLzw(indices: Uint8Array, minCodeSize: number): Uint8Array {
  const clear = 1 << minCodeSize;
  const out: number[] = [];
  let bitBuffer = 0;
  let bitCount = 0;
  let codeSize = minCodeSize + 1;
  const emit = (code: number): void => {
    bitBuffer |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) {
      out.push(bitBuffer & 0xff);
      bitBuffer >>>= 8;
      bitCount -= 8;
    }
  };
  let table = new Map<string, number>();
  let next = clear + 2;
  emit(clear);
  let current = String(indices[0]);
  for (let i = 1; i < indices.length; i++) {
    const extended = `${current},${indices[i]}`;
    if (table.has(extended)) {
      current = extended;
      continue;
    }
    emit(table.get(current) ?? Number(current));
    if (next < 4096) {
      table.set(extended, next++);
      if (next - 1 === 1 << codeSize && codeSize < 12) codeSize++;
    } else {
      emit(clear);
      table = new Map();
      next = clear + 2;
      codeSize = minCodeSize + 1;
    }
    current = String(indices[i]);
  }
  emit(table.get(current) ?? Number(current));
  emit(clear + 1);
  if (bitCount > 0) out.push(bitBuffer & 0xff);
  return Uint8Array.from(out);
}

export interface GifSpec {
  width: number;
  height: number;
  /** Palette index per pixel of the frame, row-major (in storage order when interlaced). */
  indices: Uint8Array;
  globalPalette?: Uint8Array;
  localPalette?: Uint8Array;
  /** Frame position and size inside the logical screen (default: the whole screen). */
  frame?: { left: number; top: number; width: number; height: number };
  interlaced?: boolean;
  transparentIndex?: number;
}

function paletteBits(palette: Uint8Array): number {
  return Math.max(0, Math.ceil(Math.log2(palette.length / 3)) - 1);
}

export function gifFile(spec: GifSpec): Uint8Array {
  const frame = spec.frame ?? { left: 0, top: 0, width: spec.width, height: spec.height };
  const screen = new Uint8Array(7);
  new DataView(screen.buffer).setUint16(0, spec.width, true);
  new DataView(screen.buffer).setUint16(2, spec.height, true);
  screen[4] = spec.globalPalette ? 0x80 | paletteBits(spec.globalPalette) : 0;
  const descriptor = new Uint8Array(10);
  descriptor[0] = 0x2c;
  const view = new DataView(descriptor.buffer);
  [frame.left, frame.top, frame.width, frame.height].forEach((v, i) => view.setUint16(1 + 2 * i, v, true));
  descriptor[9] = (spec.localPalette ? 0x80 | paletteBits(spec.localPalette) : 0) | (spec.interlaced ? 0x40 : 0);
  const minCodeSize = 8;
  const control = spec.transparentIndex === undefined ? [] : [Uint8Array.of(0x21, 0xf9, 4, 1, 0, 0, spec.transparentIndex, 0)];
  return concat([
    new TextEncoder().encode('GIF89a'),
    screen,
    ...(spec.globalPalette ? [spec.globalPalette] : []),
    ...control,
    descriptor,
    ...(spec.localPalette ? [spec.localPalette] : []),
    Uint8Array.of(minCodeSize),
    subBlocks(gifLzw(spec.indices, minCodeSize)),
    Uint8Array.of(0x3b),
  ]);
}
