// CMYK JPEGs read as Pillow 9.4 reads them: libjpeg's CMYK output inverted ("CMYK;I"), converted to
// RGB by Pillow's cmyk2rgb after the resize. Checked on a JPEG written byte by byte here (flat
// blocks, so the decoded values follow from the DC coefficients by hand) and on Pillow-written files
// (test/fixtures/preprocess-pillow.json: SHA-256 of what Pillow decodes).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../src/errors';
import { decodeImageBytes } from '../src/image/decode-node';
import { preprocessToRgba } from '../src/image';
import { convertToRgb } from '../src/image/modes';
import { concat } from './helpers/image-files';

/** MSB-first bits with JPEG's 0xFF00 byte stuffing; `align` pads with 1s to a byte boundary. */
class BitWriter {
  private bytes: number[] = [];
  private value = 0;
  private count = 0;

  write(bits: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) {
      this.value = (this.value << 1) | ((bits >> i) & 1);
      if (++this.count === 8) this.flushByte();
    }
  }

  align(): void {
    while (this.count !== 0) this.write(1, 1);
  }

  raw(...bytes: number[]): void {
    this.bytes.push(...bytes);
  }

  result(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }

  private flushByte(): void {
    this.bytes.push(this.value);
    if (this.value === 0xff) this.bytes.push(0);
    this.value = 0;
    this.count = 0;
  }
}

function segment(marker: number, data: number[]): Uint8Array {
  return Uint8Array.from([0xff, marker, (data.length + 2) >> 8, (data.length + 2) & 0xff, ...data]);
}

/**
 * A baseline 4-component JPEG of `blocks` 8×8 MCUs in a row, every block flat: component c of MCU m
 * has DC coefficient dc[m][c] (quantizer 8) and no AC terms. Adobe transform 0 (CMYK), a restart
 * marker after every MCU. DC categories are 4-bit codes (symbol = code), EOB is the 1-bit code 0.
 */
function flatCmykJpeg(dc: number[][], adobeTransform = 0): Uint8Array {
  const blocks = dc.length;
  const dqt = [0, ...new Array<number>(64).fill(8)];
  const sof = [8, 0, 8, 0, 8 * blocks, 4, ...[1, 2, 3, 4].flatMap((id) => [id, 0x11, 0])];
  const dcTable = [0x00, 0, 0, 0, 12, ...new Array<number>(12).fill(0), ...Array.from({ length: 12 }, (_, i) => i)];
  const acTable = [0x10, 1, ...new Array<number>(15).fill(0), 0x00];
  const adobe = [0x41, 0x64, 0x6f, 0x62, 0x65, 0, 100, 0, 0, 0, 0, adobeTransform];
  const sos = [4, ...[1, 2, 3, 4].flatMap((id) => [id, 0x00]), 0, 63, 0];
  const bits = new BitWriter();
  const previous = [0, 0, 0, 0];
  dc.forEach((mcu, m) => {
    if (m > 0) {
      bits.align();
      bits.raw(0xff, 0xd0 + ((m - 1) % 8));
      previous.fill(0); // a restart resets the DC predictions
    }
    mcu.forEach((value, c) => {
      const diff = value - previous[c]!;
      previous[c] = value;
      const category = diff === 0 ? 0 : Math.floor(Math.log2(Math.abs(diff))) + 1;
      bits.write(category, 4);
      if (category > 0) bits.write(diff > 0 ? diff : diff + (1 << category) - 1, category);
      bits.write(0, 1); // EOB
    });
  });
  bits.align();
  return concat([
    Uint8Array.of(0xff, 0xd8),
    segment(0xee, adobe),
    segment(0xdb, dqt),
    segment(0xc0, sof),
    segment(0xc4, dcTable),
    segment(0xc4, acTable),
    segment(0xdd, [0, 1]),
    segment(0xda, sos),
    bits.result(),
    Uint8Array.of(0xff, 0xd9),
  ]);
}

/** Pillow's cmyk2rgb: MULDIV255 and CLIP8 as in Convert.c. */
function pillowCmykToRgb(c: number, m: number, y: number, k: number): number[] {
  const notBlack = 255 - k;
  const mulDiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  return [c, m, y].map((v) => Math.max(0, Math.min(255, notBlack - mulDiv255(v, notBlack))));
}

describe('CMYK JPEGs are read as Pillow reads them', () => {
  // DC coefficient d at quantizer 8 gives the flat sample 128 + d (ISLOW IDCT: (8d·4 + 16) >> 5 = d);
  // libjpeg returns it as stored and Pillow inverts it: 255 − (128 + d) = 127 − d.
  const dc = [
    [-100, -20, 40, 127],
    [0, 100, -128, 10],
    [60, 60, -60, -127],
  ];

  it('decodes a hand-written baseline file (restart markers, Adobe transform 0) to 127 − DC per component', async () => {
    const decoded = await decodeImageBytes(flatCmykJpeg(dc));
    expect([decoded.mode, decoded.width, decoded.height]).toEqual(['CMYK', 24, 8]);
    for (let x = 0; x < 24; x++) {
      for (const y of [0, 7]) {
        const at = (y * 24 + x) * 4;
        expect(Array.from(decoded.data.subarray(at, at + 4))).toEqual(dc[Math.floor(x / 8)]!.map((d) => 127 - d));
      }
    }
  });

  it("converts to RGB last with Pillow's formula, after a resize in CMYK", async () => {
    const decoded = await decodeImageBytes(flatCmykJpeg(dc));
    // 24×8 → shortest side 8 is already S: a center crop of 8×8 from x = 8, the flat second block.
    const out = preprocessToRgba(decoded, 8);
    const [c, m, y, k] = dc[1]!.map((d) => 127 - d);
    const expected = pillowCmykToRgb(c!, m!, y!, k!);
    for (let p = 0; p < 64; p++) expect(Array.from(out.data.subarray(p * 4, p * 4 + 3))).toEqual(expected);
    expect(Array.from(convertToRgb('CMYK', Uint8Array.of(0, 0, 0, 0, 255, 255, 255, 255, 10, 200, 30, 40), 3))).toEqual([
      255, 255, 255, 0, 0, 0, ...pillowCmykToRgb(10, 200, 30, 40),
    ]);
    expect(pillowCmykToRgb(10, 200, 30, 40)).toEqual([207, 46, 190]); // Pillow 9.4: Image.new('CMYK', …, (10, 200, 30, 40)).convert('RGB')
  });

  it('treats an Adobe transform other than 0 as YCCK (jdcolor.c ycck_cmyk_convert)', async () => {
    // Flat Y = 128 + 20, Cb = Cr = 128 (no chroma): C = M = Y = 255 − 148 = 107 from libjpeg, 148 after Pillow's inversion; K stays.
    const decoded = await decodeImageBytes(flatCmykJpeg([[20, 0, 0, 50]], 2));
    expect(Array.from(decoded.data.subarray(0, 4))).toEqual([148, 148, 148, 127 - 50]);
  });

  it('refuses corrupt and truncated entropy data by name', async () => {
    const file = flatCmykJpeg(dc);
    await expect(decodeImageBytes(file.subarray(0, file.length - 6))).rejects.toThrow(ImageDecodeError);
    const noRestart = Uint8Array.from(file);
    const rst0 = noRestart.findIndex((b, i) => b === 0xff && noRestart[i + 1] === 0xd0);
    expect(rst0).toBeGreaterThan(0);
    noRestart[rst0 + 1] = 0xd3; // RST0 → RST3
    await expect(decodeImageBytes(noRestart)).rejects.toThrow(/restart marker RST0 is missing/);
  });

  const fixtures = (JSON.parse(readFileSync(new URL('./fixtures/preprocess-pillow.json', import.meta.url), 'utf8')) as {
    cmyk: Record<string, { jpeg: string; mode: string; sha256: string; rgbSha256: string }>;
  }).cmyk;

  it.each(Object.entries(fixtures))('%s, written by Pillow: decoded bit-exactly as Pillow decodes it', async (_, fixture) => {
    const decoded = await decodeImageBytes(new Uint8Array(Buffer.from(fixture.jpeg, 'base64')));
    expect(decoded.mode).toBe(fixture.mode);
    const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
    expect(sha256(decoded.data as Uint8Array)).toBe(fixture.sha256);
    expect(sha256(convertToRgb('CMYK', decoded.data, decoded.width * decoded.height))).toBe(fixture.rgbSha256);
  });
});
