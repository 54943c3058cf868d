// 4-component (CMYK / YCCK) JPEGs, read as Pillow 9.4 reads them: libjpeg-turbo 2.1 decodes to
// JCS_CMYK (YCCK converted with jdcolor.c's tables, CMYK passed through) and Pillow's "CMYK;I"
// unpacker inverts every value (Adobe's polarity, assumed for all CMYK JPEGs). mozjpeg's WASM build
// only outputs RGBA, so this is a port of the libjpeg-turbo parts such files need, bit-exact:
// Huffman decoding (baseline, extended and progressive), the ISLOW integer IDCT (jidctint.c) with its
// range limiting, and fancy upsampling (jdsample.c). Data libjpeg would only warn about (corrupt or
// truncated entropy data) is refused here with ImageDecodeError.

import { ImageDecodeError } from '../errors';
import { assertDecodableSize } from './header';
import type { DecodedImage, ExifOrientation } from './types';

/** Natural-order index of the k-th coefficient in zigzag order. */
const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

function corrupt(what: string): ImageDecodeError {
  return new ImageDecodeError(`CMYK JPEG is corrupt: ${what}`);
}

interface HuffmanTable {
  /** Largest code of each length 1..16 (-1 when none), the index of its first value, and the values. */
  maxCode: Int32Array;
  valueOffset: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const maxCode = new Int32Array(18).fill(-1);
  const valueOffset = new Int32Array(18);
  let code = 0;
  let index = 0;
  for (let length = 1; length <= 16; length++) {
    const n = counts[length - 1]!;
    if (n > 0) {
      valueOffset[length] = index - code;
      code += n;
      index += n;
      maxCode[length] = code - 1;
    }
    code <<= 1;
  }
  if (index > values.length) throw corrupt('a Huffman table lists more codes than values');
  return { maxCode, valueOffset, values };
}

interface Component {
  id: number;
  h: number;
  v: number;
  quantTable: number;
  /** Blocks in the component's padded (whole-MCU) plane, and its real (downsampled) sample size. */
  blocksPerLine: number;
  blocksPerColumn: number;
  width: number;
  height: number;
  coefficients: Int16Array;
  dcTable?: HuffmanTable;
  acTable?: HuffmanTable;
  prediction: number;
}

/** Entropy-coded data, with 0xFF00 stuffing removed on the fly; stops at any marker. */
class BitReader {
  private buffer = 0;
  private bits = 0;
  markerHit = false;

  constructor(
    private readonly bytes: Uint8Array,
    public at: number,
  ) {}

  bit(): number {
    if (this.bits === 0) {
      if (this.at >= this.bytes.length) throw new ImageDecodeError('CMYK JPEG file is truncated: the image data ends early');
      const byte = this.bytes[this.at]!;
      if (byte === 0xff) {
        const next = this.bytes[this.at + 1];
        if (next !== 0) {
          this.markerHit = true;
          throw corrupt('the image data ends before its last block (a marker came first)');
        }
        this.at += 2;
      } else this.at += 1;
      this.buffer = byte;
      this.bits = 8;
    }
    this.bits--;
    return (this.buffer >> this.bits) & 1;
  }

  receive(length: number): number {
    let value = 0;
    for (let i = 0; i < length; i++) value = (value << 1) | this.bit();
    return value;
  }

  /** jpeg's EXTEND: a `length`-bit value whose top bit 0 means negative. */
  receiveExtend(length: number): number {
    if (length === 0) return 0;
    if (length > 16) throw corrupt(`a coefficient claims ${length} bits`);
    const value = this.receive(length);
    return value < 1 << (length - 1) ? value - (1 << length) + 1 : value;
  }

  decode(table: HuffmanTable | undefined): number {
    if (table === undefined) throw corrupt('a scan uses a Huffman table that was never defined');
    let code = this.bit();
    let length = 1;
    while (code > table.maxCode[length]!) {
      code = (code << 1) | this.bit();
      if (++length > 16) throw corrupt('a Huffman code matches no table entry');
    }
    const value = table.values[table.valueOffset[length]! + code];
    if (value === undefined) throw corrupt('a Huffman code matches no table entry');
    return value;
  }

  /** Drops the bits left in the current byte and consumes the expected restart marker. */
  restart(expected: number): void {
    this.bits = 0;
    while (this.at < this.bytes.length && this.bytes[this.at] === 0xff && this.bytes[this.at + 1] === 0xff) this.at++;
    if (this.bytes[this.at] !== 0xff || this.bytes[this.at + 1] !== 0xd0 + expected) throw corrupt(`restart marker RST${expected} is missing`);
    this.at += 2;
  }
}

interface Scan {
  components: Component[];
  spectralStart: number;
  spectralEnd: number;
  approxHigh: number;
  approxLow: number;
}

/** One scan's entropy decoding into the components' coefficients (baseline and progressive). */
function decodeScan(reader: BitReader, frame: Frame, scan: Scan, restartInterval: number): void {
  const { spectralStart: ss, spectralEnd: se, approxHigh: ah, approxLow: al } = scan;
  let eobRun = 0;
  const decodeBlock = (c: Component, offset: number): void => {
    const block = c.coefficients;
    if (!frame.progressive) {
      const t = reader.decode(c.dcTable);
      c.prediction += reader.receiveExtend(t);
      block[offset] = c.prediction;
      for (let k = 1; k < 64; ) {
        const rs = reader.decode(c.acTable);
        const s = rs & 15;
        const r = rs >> 4;
        if (s === 0) {
          if (r < 15) break;
          k += 16;
          continue;
        }
        k += r;
        if (k > 63) throw corrupt('a block has more than 64 coefficients');
        block[offset + ZIGZAG[k]!] = reader.receiveExtend(s);
        k++;
      }
      return;
    }
    if (ss === 0) {
      if (ah === 0) {
        const t = reader.decode(c.dcTable);
        c.prediction += reader.receiveExtend(t);
        block[offset] = c.prediction * (1 << al);
      } else if (reader.bit()) block[offset] |= 1 << al;
      return;
    }
    if (ah === 0) {
      if (eobRun > 0) {
        eobRun--;
        return;
      }
      for (let k = ss; k <= se; ) {
        const rs = reader.decode(c.acTable);
        const s = rs & 15;
        const r = rs >> 4;
        if (s === 0) {
          if (r < 15) {
            eobRun = reader.receive(r) + (1 << r) - 1;
            break;
          }
          k += 16;
          continue;
        }
        k += r;
        if (k > 63) throw corrupt('a block has more than 64 coefficients');
        block[offset + ZIGZAG[k]!] = reader.receiveExtend(s) * (1 << al);
        k++;
      }
      return;
    }
    refineAc(reader, block, offset, ss, se, al, c);
  };
  // Successive-approximation AC refinement keeps its end-of-band run across blocks.
  const refineAc = (r: BitReader, block: Int16Array, offset: number, start: number, end: number, low: number, c: Component): void => {
    const positive = 1 << low;
    const negative = -1 << low;
    let k = start;
    if (eobRun === 0) {
      for (; k <= end; k++) {
        const rs = r.decode(c.acTable);
        let s = rs & 15;
        let zeros = rs >> 4;
        if (s !== 0) {
          if (s !== 1) throw corrupt('a refinement coefficient is not ±1');
          s = r.bit() ? positive : negative;
        } else if (zeros !== 15) {
          eobRun = 1 << zeros;
          if (zeros > 0) eobRun += r.receive(zeros);
          break;
        }
        while (k <= end) {
          const z = offset + ZIGZAG[k]!;
          if (block[z] !== 0) {
            if (r.bit() && (block[z]! & positive) === 0) block[z] += block[z]! >= 0 ? positive : negative;
          } else {
            if (zeros === 0) break;
            zeros--;
          }
          k++;
        }
        if (s !== 0) {
          if (k > end) throw corrupt('a refinement coefficient falls outside its band');
          block[offset + ZIGZAG[k]!] = s;
        }
      }
    }
    if (eobRun > 0) {
      for (; k <= end; k++) {
        const z = offset + ZIGZAG[k]!;
        if (block[z] !== 0 && r.bit() && (block[z]! & positive) === 0) block[z] += block[z]! >= 0 ? positive : negative;
      }
      eobRun--;
    }
  };

  const single = scan.components.length === 1;
  const first = scan.components[0]!;
  const mcusPerLine = single ? Math.ceil(first.width / 8) : frame.mcusPerLine;
  const mcusPerColumn = single ? Math.ceil(first.height / 8) : frame.mcusPerColumn;
  const total = mcusPerLine * mcusPerColumn;
  let restarts = 0;
  for (let mcu = 0; mcu < total; mcu++) {
    if (restartInterval > 0 && mcu > 0 && mcu % restartInterval === 0) {
      reader.restart(restarts++ % 8);
      eobRun = 0;
      for (const c of scan.components) c.prediction = 0;
    }
    const row = Math.floor(mcu / mcusPerLine);
    const col = mcu % mcusPerLine;
    if (single) {
      decodeBlock(first, (row * first.blocksPerLine + col) * 64);
      continue;
    }
    for (const c of scan.components) {
      for (let y = 0; y < c.v; y++) {
        for (let x = 0; x < c.h; x++) decodeBlock(c, ((row * c.v + y) * c.blocksPerLine + col * c.h + x) * 64);
      }
    }
  }
}

// jidctint.c's constants: FIX(x) at CONST_BITS = 13.
const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** DESCALE: round by adding half, then an arithmetic right shift (in doubles: the sums exceed 32 bits). */
function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/** IDCT_range_limit with RANGE_MASK: the value wraps modulo 1024 around -512..511, then clamps. */
function rangeLimit(x: number): number {
  const wrapped = (((x & 1023) + 512) & 1023) - 512 + 128;
  return wrapped < 0 ? 0 : wrapped > 255 ? 255 : wrapped;
}

/** One 1-D IDCT of 8 values in `io` at `at` with `stride`, giving the even/odd outputs jidctint.c computes. */
function idct1d(v0: number, v1: number, v2: number, v3: number, v4: number, v5: number, v6: number, v7: number, out: Float64Array): void {
  let z1 = (v2 + v6) * FIX_0_541196100;
  const t2 = z1 + v6 * -FIX_1_847759065;
  const t3 = z1 + v2 * FIX_0_765366865;
  const t0 = (v0 + v4) * 2 ** CONST_BITS;
  const t1 = (v0 - v4) * 2 ** CONST_BITS;
  const t10 = t0 + t3;
  const t13 = t0 - t3;
  const t11 = t1 + t2;
  const t12 = t1 - t2;
  z1 = v7 + v1;
  let z2 = v5 + v3;
  let z3 = v7 + v3;
  let z4 = v5 + v1;
  const z5 = (z3 + z4) * FIX_1_175875602;
  let o0 = v7 * FIX_0_298631336;
  let o1 = v5 * FIX_2_053119869;
  let o2 = v3 * FIX_3_072711026;
  let o3 = v1 * FIX_1_501321110;
  z1 *= -FIX_0_899976223;
  z2 *= -FIX_2_562915447;
  z3 = z3 * -FIX_1_961570560 + z5;
  z4 = z4 * -FIX_0_390180644 + z5;
  o0 += z1 + z3;
  o1 += z2 + z4;
  o2 += z2 + z3;
  o3 += z1 + z4;
  out[0] = t10 + o3;
  out[7] = t10 - o3;
  out[1] = t11 + o2;
  out[6] = t11 - o2;
  out[2] = t12 + o1;
  out[5] = t12 - o1;
  out[3] = t13 + o0;
  out[4] = t13 - o0;
}

/** Scratch space for idctBlock: the pass-1 results (C's int workspace) and one 1-D output. */
const IDCT_WORKSPACE = new Int32Array(64);
const IDCT_OUT = new Float64Array(8);

/** jpeg_idct_islow: dequantize, columns (kept at PASS1_BITS extra precision, as C's int), then rows. */
function idctBlock(block: Int16Array, offset: number, quant: Int32Array, plane: Uint8Array, planeWidth: number, x0: number, y0: number): void {
  const ws = IDCT_WORKSPACE;
  const out = IDCT_OUT;
  for (let col = 0; col < 8; col++) {
    const b = offset + col;
    idct1d(
      block[b]! * quant[col]!, block[b + 8]! * quant[col + 8]!, block[b + 16]! * quant[col + 16]!, block[b + 24]! * quant[col + 24]!,
      block[b + 32]! * quant[col + 32]!, block[b + 40]! * quant[col + 40]!, block[b + 48]! * quant[col + 48]!, block[b + 56]! * quant[col + 56]!,
      out,
    );
    for (let row = 0; row < 8; row++) ws[row * 8 + col] = descale(out[row]!, CONST_BITS - PASS1_BITS);
  }
  for (let row = 0; row < 8; row++) {
    const w = row * 8;
    idct1d(ws[w]!, ws[w + 1]!, ws[w + 2]!, ws[w + 3]!, ws[w + 4]!, ws[w + 5]!, ws[w + 6]!, ws[w + 7]!, out);
    const at = (y0 + row) * planeWidth + x0;
    for (let col = 0; col < 8; col++) plane[at + col] = rangeLimit(descale(out[col]!, CONST_BITS + PASS1_BITS + 3));
  }
}

/**
 * Component samples (downsampled size) → full image size, with jdsample.c's method for the factors:
 * copy, fancy h2v1 / h1v2 / h2v2 (¾ nearest + ¼ next nearest, with its rounding biases, edges copied
 * or replicated), or box replication (int_upsample, and h2v1/h2v2 when the component is ≤ 2 wide).
 */
function upsample(c: Component, plane: Uint8Array, planeWidth: number, frame: Frame): Uint8Array {
  const { width, height, maxH, maxV } = frame;
  const out = new Uint8Array(width * height);
  const hx = maxH / c.h;
  const vx = maxV / c.v;
  if (!Number.isInteger(hx) || !Number.isInteger(vx)) {
    throw new ImageDecodeError(`CMYK JPEG uses sampling factors libjpeg cannot upsample (${c.h}×${c.v} of ${maxH}×${maxV})`);
  }
  const fancyH = hx === 2 && c.width > 2;
  const fancyV = vx === 2 && (hx === 1 || fancyH);
  const last = c.width - 1;
  for (let y = 0; y < height; y++) {
    const sy = Math.floor(y / vx);
    const row = sy * planeWidth;
    // The nearer neighbouring row: above for even output rows, below for odd; replicated at the edges.
    const otherY = y % 2 === 0 ? Math.max(sy - 1, 0) : Math.min(sy + 1, c.height - 1);
    const other = otherY * planeWidth;
    const outRow = y * width;
    if (fancyV && hx === 1) {
      const bias = y % 2 === 0 ? 1 : 2;
      for (let x = 0; x < width; x++) out[outRow + x] = (plane[row + x]! * 3 + plane[other + x]! + bias) >> 2;
    } else if (fancyV) {
      for (let x = 0; x < width; x++) {
        const sx = x >> 1;
        const here = plane[row + sx]! * 3 + plane[other + sx]!;
        if (x % 2 === 0) out[outRow + x] = sx === 0 ? (here * 4 + 8) >> 4 : (here * 3 + plane[row + sx - 1]! * 3 + plane[other + sx - 1]! + 8) >> 4;
        else out[outRow + x] = sx === last ? (here * 4 + 7) >> 4 : (here * 3 + plane[row + sx + 1]! * 3 + plane[other + sx + 1]! + 7) >> 4;
      }
    } else if (fancyH) {
      for (let x = 0; x < width; x++) {
        const sx = x >> 1;
        const here = plane[row + sx]!;
        if (x % 2 === 0) out[outRow + x] = sx === 0 ? here : (here * 3 + plane[row + sx - 1]! + 1) >> 2;
        else out[outRow + x] = sx === last ? here : (here * 3 + plane[row + sx + 1]! + 2) >> 2;
      }
    } else if (hx === 1) out.set(plane.subarray(row, row + width), outRow);
    else for (let x = 0; x < width; x++) out[outRow + x] = plane[row + Math.floor(x / hx)]!;
  }
  return out;
}

interface Frame {
  width: number;
  height: number;
  progressive: boolean;
  components: Component[];
  maxH: number;
  maxV: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

function parseFrame(data: Uint8Array, progressive: boolean): Frame {
  if (data[0] !== 8) throw new ImageDecodeError(`JPEG has ${data[0]}-bit samples; Pillow reads only 8-bit JPEGs`);
  const height = (data[1]! << 8) | data[2]!;
  const width = (data[3]! << 8) | data[4]!;
  const count = data[5]!;
  if (count !== 4) throw new ImageDecodeError(`JPEG has ${count} colour components where 4 (CMYK) were expected`);
  assertDecodableSize(width, height, 'JPEG');
  const raw = Array.from({ length: count }, (_, i) => ({ id: data[6 + i * 3]!, h: data[7 + i * 3]! >> 4, v: data[7 + i * 3]! & 15, quantTable: data[8 + i * 3]! }));
  if (raw.some((c) => c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.quantTable > 3)) throw corrupt('a component has invalid sampling factors or table');
  const maxH = Math.max(...raw.map((c) => c.h));
  const maxV = Math.max(...raw.map((c) => c.v));
  const mcusPerLine = Math.ceil(width / (8 * maxH));
  const mcusPerColumn = Math.ceil(height / (8 * maxV));
  const components = raw.map((c): Component => {
    const blocksPerLine = mcusPerLine * c.h;
    const blocksPerColumn = mcusPerColumn * c.v;
    return {
      ...c,
      blocksPerLine,
      blocksPerColumn,
      width: Math.ceil((width * c.h) / maxH),
      height: Math.ceil((height * c.v) / maxV),
      coefficients: new Int16Array(blocksPerLine * blocksPerColumn * 64),
      prediction: 0,
    };
  });
  return { width, height, progressive, components, maxH, maxV, mcusPerLine, mcusPerColumn };
}

/** The Adobe APP14 transform flag (0 CMYK, else YCCK), or undefined without the marker. */
function adobeTransform(data: Uint8Array): number | undefined {
  if (data.length >= 12 && String.fromCharCode(...data.subarray(0, 5)) === 'Adobe') return data[11];
  return undefined;
}

/** jdcolor.c's ycck_cmyk_convert tables (SCALEBITS 16), for Y, Cb, Cr → C, M, Y. */
function ycckToCmyk(y: number, cb: number, cr: number, out: Uint8Array, at: number): void {
  const fix = (v: number): number => Math.floor(v * 65536 + 0.5);
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);
  const crX = cr - 128;
  const cbX = cb - 128;
  const crR = Math.floor((fix(1.402) * crX + 32768) / 65536);
  const cbB = Math.floor((fix(1.772) * cbX + 32768) / 65536);
  const g = Math.floor((-fix(0.34414) * cbX + 32768 + -fix(0.71414) * crX) / 65536);
  out[at] = clamp(255 - (y + crR));
  out[at + 1] = clamp(255 - (y + g));
  out[at + 2] = clamp(255 - (y + cbB));
}

/** A 4-component JPEG → mode "CMYK" with Pillow's values (libjpeg's JCS_CMYK output, inverted). */
export function decodeCmykJpeg(bytes: Uint8Array, orientation: ExifOrientation): DecodedImage {
  const quantTables: Int32Array[] = [];
  const dcTables: HuffmanTable[] = [];
  const acTables: HuffmanTable[] = [];
  let frame: Frame | undefined;
  let restartInterval = 0;
  let transform: number | undefined;
  let at = 2;
  let scans = 0;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw corrupt(`expected a marker at byte ${at}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xd9) break;
    if (marker >= 0xd0 && marker <= 0xd8) {
      at += 2;
      continue;
    }
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const end = at + 2 + length;
    if (length < 2 || end > bytes.length) throw new ImageDecodeError('CMYK JPEG file is truncated: a marker segment ends past the end of the file');
    const data = bytes.subarray(at + 4, end);
    if (marker === 0xdb) {
      for (let p = 0; p < data.length; ) {
        const wide = data[p]! >> 4;
        const table = new Int32Array(64);
        for (let k = 0; k < 64; k++) table[ZIGZAG[k]!] = wide ? (data[p + 1 + 2 * k]! << 8) | data[p + 2 + 2 * k]! : data[p + 1 + k]!;
        quantTables[data[p]! & 15] = table;
        p += 1 + 64 * (wide ? 2 : 1);
      }
    } else if (marker === 0xc4) {
      for (let p = 0; p + 17 <= data.length; ) {
        const counts = data.subarray(p + 1, p + 17);
        const total = counts.reduce((n, c) => n + c, 0);
        const table = buildHuffman(counts, data.subarray(p + 17, p + 17 + total));
        (data[p]! >> 4 ? acTables : dcTables)[data[p]! & 15] = table;
        p += 17 + total;
      }
    } else if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      frame = parseFrame(data, marker === 0xc2);
    } else if (marker >= 0xc3 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      throw new ImageDecodeError(`CMYK JPEG uses a coding process we do not decode (SOF${marker - 0xc0}: lossless, hierarchical or arithmetic)`);
    } else if (marker === 0xdd) {
      restartInterval = (data[0]! << 8) | data[1]!;
    } else if (marker === 0xee) {
      transform = adobeTransform(data) ?? transform;
    } else if (marker === 0xda) {
      if (frame === undefined) throw corrupt('image data starts before the frame header (SOF)');
      const count = data[0]!;
      const components = Array.from({ length: count }, (_, i) => {
        const component = frame!.components.find((c) => c.id === data[1 + i * 2]);
        if (component === undefined) throw corrupt('a scan names a component the frame does not have');
        component.dcTable = dcTables[data[2 + i * 2]! >> 4];
        component.acTable = acTables[data[2 + i * 2]! & 15];
        component.prediction = 0;
        return component;
      });
      const params = data.subarray(1 + count * 2);
      const scan = { components, spectralStart: params[0]!, spectralEnd: params[1]!, approxHigh: params[2]! >> 4, approxLow: params[2]! & 15 };
      if (scan.spectralEnd > 63 || scan.spectralStart > scan.spectralEnd) throw corrupt('a scan has an invalid spectral band');
      const reader = new BitReader(bytes, end);
      decodeScan(reader, frame, scan, restartInterval);
      scans++;
      at = reader.at;
      while (at < bytes.length && !(bytes[at] === 0xff && bytes[at + 1] !== 0 && !(bytes[at + 1]! >= 0xd0 && bytes[at + 1]! <= 0xd7))) at++;
      continue;
    }
    at = end;
  }
  if (frame === undefined || scans === 0) throw new ImageDecodeError('CMYK JPEG file is truncated: it has no image data');
  const { width, height } = frame;
  const planes = frame.components.map((c) => {
    const quant = quantTables[c.quantTable];
    if (quant === undefined) throw corrupt('a component uses a quantization table that was never defined');
    const planeWidth = c.blocksPerLine * 8;
    const plane = new Uint8Array(planeWidth * c.blocksPerColumn * 8);
    for (let by = 0; by < c.blocksPerColumn; by++) {
      for (let bx = 0; bx < c.blocksPerLine; bx++) idctBlock(c.coefficients, (by * c.blocksPerLine + bx) * 64, quant, plane, planeWidth, bx * 8, by * 8);
    }
    return upsample(c, plane, planeWidth, frame!);
  });
  // jdapimin.c: an Adobe marker with transform 0 means CMYK; any other transform means YCCK; none means CMYK.
  const ycck = transform !== undefined && transform !== 0;
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    if (ycck) ycckToCmyk(planes[0]![p]!, planes[1]![p]!, planes[2]![p]!, data, p * 4);
    else for (let c = 0; c < 3; c++) data[p * 4 + c] = planes[c]![p]!;
    data[p * 4 + 3] = planes[3]![p]!;
    for (let c = 0; c < 4; c++) data[p * 4 + c] = 255 - data[p * 4 + c]!; // Pillow's "CMYK;I"
  }
  return { width, height, mode: 'CMYK', data, orientation };
}
