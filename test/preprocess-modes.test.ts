// Preprocessing in the file's own Pillow mode, against OpenCLIP's outputs for L, P and RGBA files
// (shared/golden/preprocess/modes-224.*) and against Pillow 9.4's known answers
// (test/fixtures/preprocess-pillow.json, written by preprocess-pillow.py beside it) for every mode,
// resize mode and interpolation; and the PNG and GIF decoders against Pillow's unpacking rules.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError, ImageTooLargeError } from '../src/errors';
import { decodeImageBytes } from '../src/image/decode-node';
import { orientUpright } from '../src/image/exif';
import { fullPalette } from '../src/image/modes';
import {
  MAX_RESIZED_SIDE,
  OPENAI_STD,
  preprocess,
  preprocessToRgba,
  type DecodedImage,
  type ExifOrientation,
  type ImageMode,
  type Interpolation,
  type ResizeMode,
} from '../src/image';
import { concat, gifFile, pngChunk, pngFile } from './helpers/image-files';
import { goldenModes } from './helpers/golden-images';

/** "Exact" in the golden README: the same fp32 steps, so only the last printed digit may differ. */
const EXACT = 1e-5;
/** One 8-bit step after normalization: the golden README's bound for any decoder. */
const ONE_LEVEL = 1 / 255 / Math.min(...OPENAI_STD);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('L, P and RGBA files match OpenCLIP (golden modes-224, resized in their own mode)', () => {
  const { names, modes, rows } = goldenModes();

  it.each(names.map((name, i) => [name, i] as const))('%s', async (name, index) => {
    const decoded = await decodeImageBytes(new Uint8Array(readFileSync(new URL(`../../shared/images/modes/${name}`, import.meta.url))));
    expect(decoded.mode).toBe(modes[index]);
    const diff = maxAbsDiff(preprocess(decoded, { size: 224 }), rows[index]!);
    expect(diff).toBeLessThanOrEqual(ONE_LEVEL);
    // Our PNG decoder and resampler are Pillow's to the bit: the tolerance is not needed.
    expect(diff).toBeLessThanOrEqual(EXACT);
  });

  it('differs from converting to RGB first (what we used to do) by many levels on P and RGBA', async () => {
    for (const index of [1, 2]) {
      const decoded = await decodeImageBytes(new Uint8Array(readFileSync(new URL(`../../shared/images/modes/${names[index]}`, import.meta.url))));
      const rgb = preprocessToRgba(decoded, { size: decoded.width, resizeMode: 'squash' });
      const convertedFirst = preprocess({ width: rgb.width, height: rgb.height, data: rgb.data, channels: 4 }, { size: 224 });
      expect(maxAbsDiff(convertedFirst, rows[index]!)).toBeGreaterThan(20 * ONE_LEVEL);
    }
  });
});

interface PillowCase {
  mode: ImageMode;
  width: number;
  height: number;
  size: number;
  resizeMode: ResizeMode;
  interpolation: Interpolation;
  fillColor: number;
  /** Pillow's RGB bytes, hex. */
  rgb: string;
}

const pillow = JSON.parse(readFileSync(new URL('./fixtures/preprocess-pillow.json', import.meta.url), 'utf8')) as {
  cases: PillowCase[];
  orientation: Record<string, { width: number; rgb: string }>;
};

const ALPHAS = [0, 255, 128, 37, 200];
const PALETTE = Uint8Array.from({ length: 16 * 3 }, (_, i) => (i * 53 + 7) % 256);

/** The patterned image preprocess-pillow.py builds (`make`), in the same mode. */
function patterned(mode: ImageMode, width: number, height: number): DecodedImage {
  const bands = { RGB: 3, RGBA: 4, L: 1, LA: 2, CMYK: 4, P: 1, '1': 1, I: 1 }[mode];
  const data = mode === 'I' ? new Int32Array(width * height) : new Uint8Array(width * height * bands);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * bands;
      if (mode === 'P') data[p] = (x * 7 + y * 3) % 20; // indices 16–19 fall back to Pillow's gray ramp
      else if (mode === '1') data[p] = (x * 3 + y * 5) % 7 < 3 ? 255 : 0;
      else if (mode === 'I') data[p] = (x * x * 13 + y * 29) % 400; // above 255: convert('RGB') clips
      else {
        const colours = mode === 'RGBA' || mode === 'LA' ? bands - 1 : bands;
        for (let k = 0; k < colours; k++) data[p + k] = (x * 37 + y * 91 + k * 53 + ((x * y) % 7) * 11) % 256;
        if (colours < bands) data[p + bands - 1] = ALPHAS[(x + 2 * y) % 5]!;
      }
    }
  }
  return { width, height, mode, data, orientation: 1, palette: mode === 'P' ? fullPalette(PALETTE) : undefined };
}

function rgbOf(rgba: Uint8Array | Uint8ClampedArray): string {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let p = 0; p < rgba.length / 4; p++) rgb.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
  return Buffer.from(rgb).toString('hex');
}

describe("Pillow 9.4's known answers: every mode × resize mode × interpolation, bit-exact", () => {
  it.each(pillow.cases.map((c) => [`${c.mode} ${c.width}×${c.height} ${c.resizeMode} ${c.interpolation} fill ${c.fillColor}`, c] as const))(
    '%s',
    (_, c) => {
      const { size, resizeMode, interpolation, fillColor } = c;
      const out = preprocessToRgba(patterned(c.mode, c.width, c.height), { size, resizeMode, interpolation, fillColor });
      expect(rgbOf(out.data)).toBe(c.rgb);
    },
  );

  it.each(Object.entries(pillow.orientation))('EXIF orientation %s turns the image as exif_transpose does', (orientation, want) => {
    const upright = orientUpright({ ...patterned('RGB', 5, 3), orientation: Number(orientation) as ExifOrientation });
    expect([upright.width, upright.orientation]).toEqual([want.width, 1]);
    expect(Buffer.from(upright.data as Uint8Array).toString('hex')).toBe(want.rgb);
  });

  it('computes a 20000×1 image (Pillow: a 4.48 M×224 intermediate) from its crop alone, as the crop of the full resize', () => {
    const image = patterned('RGB', 20000, 1);
    const before = process.memoryUsage().rss;
    const out = preprocessToRgba(image, 224);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 2 ** 20);
    // One source row: every output row is that row resampled (the vertical weights are a single 1).
    const firstRow = rgbOf(out.data.subarray(0, 224 * 4));
    for (let y = 1; y < 224; y++) expect(rgbOf(out.data.subarray(y * 224 * 4, (y + 1) * 224 * 4))).toBe(firstRow);
  });

  it('refuses resizes past MAX_RESIZED_SIDE, and 0-pixel sides, with ImageTooLargeError', () => {
    const long = patterned('L', 100000, 1);
    expect(224 * 100000).toBeGreaterThan(MAX_RESIZED_SIDE);
    expect(() => preprocess(long, { size: 224 })).toThrow(ImageTooLargeError);
    expect(() => preprocess(long, { size: 224 })).toThrow(/100000×1 image is too elongated: .* gives 22400000×224 pixels; crop it/);
    expect(() => preprocess(long, { size: 224, resizeMode: 'longest' })).toThrow(/gives 224×0 pixels/);
  });
});

/** A sample value in 0..max spread over the image (the same for every decoder check). */
function sampleValue(x: number, y: number, k: number, max: number): number {
  return ((x * 2654435761 + y * 40503 + k * 977) >>> 3) % (max + 1);
}

describe("PNG decoding gives Pillow 9.4's mode and values (PngImagePlugin _MODES and its unpackers)", () => {
  const combos: [bitDepth: number, colorType: number, mode: ImageMode][] = [
    [1, 0, '1'], [2, 0, 'L'], [4, 0, 'L'], [8, 0, 'L'], [16, 0, 'I'],
    [8, 2, 'RGB'], [16, 2, 'RGB'],
    [1, 3, 'P'], [2, 3, 'P'], [4, 3, 'P'], [8, 3, 'P'],
    [8, 4, 'LA'], [16, 4, 'RGBA'],
    [8, 6, 'RGBA'], [16, 6, 'RGBA'],
  ];
  /** What Pillow's unpacker stores for one file sample: 1 → 0/255, L;2 ×85, L;4 ×17, 16-bit → high byte (I keeps all). */
  function unpacked(raw: number, bitDepth: number, colorType: number, mode: ImageMode): number {
    if (colorType === 3 || mode === 'I') return raw;
    if (bitDepth === 16) return raw >> 8;
    return bitDepth === 1 ? raw * 255 : bitDepth === 2 ? raw * 0x55 : bitDepth === 4 ? raw * 0x11 : raw;
  }
  const [width, height] = [11, 7];

  it.each(combos.flatMap(([bitDepth, colorType, mode]) => [false, true].map((interlaced) => [bitDepth, colorType, mode, interlaced] as const)))(
    'bit depth %i, colour type %i → mode %s (interlaced: %s)',
    async (bitDepth, colorType, mode, interlaced) => {
      const samples = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType]!;
      const max = colorType === 3 ? Math.min((1 << bitDepth) - 1, 19) : (1 << bitDepth) - 1;
      const value = (x: number, y: number, k: number): number => sampleValue(x, y, k, max);
      const palette = Uint8Array.from({ length: 16 * 3 }, (_, i) => (i * 53 + 7) % 256);
      const file = pngFile({ width, height, bitDepth, colorType, interlaced, palette: colorType === 3 ? palette : undefined,
        samples: (x, y) => Array.from({ length: samples }, (_, k) => value(x, y, k)) });
      const decoded = await decodeImageBytes(file);
      expect([decoded.mode, decoded.width, decoded.height]).toEqual([mode, width, height]);
      const expected: number[] = [];
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const values = Array.from({ length: samples }, (_, k) => unpacked(value(x, y, k), bitDepth, colorType, mode));
          // 16-bit gray+alpha opens as RGBA: gray into R, G and B ("LA;16B").
          expected.push(...(colorType === 4 && bitDepth === 16 ? [values[0]!, values[0]!, values[0]!, values[1]!] : values));
        }
      }
      expect(Array.from(decoded.data)).toEqual(expected);
      if (mode === 'P') expect(Array.from(decoded.palette!)).toEqual(Array.from(fullPalette(palette)));
    },
  );

  it('16-bit gray is clipped to 0..255 by convert("RGB") after an integer resize (mode "I")', async () => {
    const file = pngFile({ width: 2, height: 1, bitDepth: 16, colorType: 0, samples: (x) => [x === 0 ? 200 : 40000] });
    const out = preprocessToRgba(await decodeImageBytes(file), { size: 1, resizeMode: 'squash', interpolation: 'nearest' });
    // Nearest from 2 columns to 1 takes column (int)(2 · 0.5) = 1: 40000, clipped to 255.
    expect(Array.from(out.data)).toEqual([255, 255, 255, 255]);
  });

  it('reads the EXIF orientation of an eXIf chunk, and refuses corrupt chunks and data by name', async () => {
    const exif = Uint8Array.of(0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0);
    const spec = { width: 3, height: 2, bitDepth: 8, colorType: 0, samples: (x: number, y: number) => [x + 10 * y] };
    expect((await decodeImageBytes(pngFile({ ...spec, extra: [pngChunk('eXIf', exif)] }))).orientation).toBe(8);
    const file = pngFile(spec);
    const badCrc = Uint8Array.from(file);
    badCrc[8 + 8 + 13 + 3] ^= 1; // IHDR's CRC
    await expect(decodeImageBytes(badCrc)).rejects.toThrow(/IHDR.*fails its CRC check/);
    const noData = concat([file.subarray(0, 8 + 25), pngChunk('IEND', new Uint8Array(0))]);
    await expect(decodeImageBytes(noData)).rejects.toThrow(/no image data/);
    const idat = file.indexOf(0x49, 33); // the "I" of IDAT
    const shortData = concat([file.subarray(0, idat - 4), pngChunk('IDAT', Uint8Array.of(0x78, 0x9c, 0x63, 0, 0)), pngChunk('IEND', new Uint8Array(0))]);
    await expect(decodeImageBytes(shortData)).rejects.toThrow(ImageDecodeError);
    await expect(decodeImageBytes(shortData)).rejects.toThrow(/truncated|corrupt/);
  });
});

describe("GIF decoding gives Pillow 9.4's first frame: mode P (or L), canvas and transparency", () => {
  const indices = Uint8Array.from({ length: 9 * 5 }, (_, i) => (i * 7) % 13);
  const palette = Uint8Array.from({ length: 16 * 3 }, (_, i) => (i * 31 + 5) % 256);
  const grayRamp = Uint8Array.from({ length: 16 * 3 }, (_, i) => Math.floor(i / 3));

  it('P with the global palette, or the local one; L when the palette is the identity gray ramp or absent', async () => {
    const global = await decodeImageBytes(gifFile({ width: 9, height: 5, indices, globalPalette: palette }));
    expect([global.mode, Array.from(global.data), Array.from(global.palette!)]).toEqual(['P', Array.from(indices), Array.from(fullPalette(palette))]);
    const local = await decodeImageBytes(gifFile({ width: 9, height: 5, indices, globalPalette: grayRamp, localPalette: palette }));
    expect([local.mode, Array.from(local.palette!)]).toEqual(['P', Array.from(fullPalette(palette))]);
    for (const gray of [gifFile({ width: 9, height: 5, indices, globalPalette: grayRamp }), gifFile({ width: 9, height: 5, indices })]) {
      const decoded = await decodeImageBytes(gray);
      expect([decoded.mode, Array.from(decoded.data)]).toEqual(['L', Array.from(indices)]);
    }
  });

  it('puts interlaced rows back in order', async () => {
    const order = [0, 4, 2, 1, 3]; // rows of a 5-row image in storage order: pass 1 (0), 2 (4), 3 (2), 4 (1, 3)
    const stored = concat(order.map((row) => indices.subarray(row * 9, row * 9 + 9)));
    const decoded = await decodeImageBytes(gifFile({ width: 9, height: 5, indices: stored, globalPalette: palette, interlaced: true }));
    expect(Array.from(decoded.data)).toEqual(Array.from(indices));
  });

  it('grows the canvas to the frame and fills the rest with the transparent index (else 0)', async () => {
    const frame = { left: 2, top: 1, width: 9, height: 5 };
    for (const transparentIndex of [3, undefined]) {
      const decoded = await decodeImageBytes(gifFile({ width: 6, height: 4, indices, globalPalette: palette, frame, transparentIndex }));
      expect([decoded.width, decoded.height]).toEqual([11, 6]);
      const expected = new Array<number>(11 * 6).fill(transparentIndex ?? 0);
      for (let y = 0; y < 5; y++) for (let x = 0; x < 9; x++) expected[(y + 1) * 11 + x + 2] = indices[y * 9 + x]!;
      expect(Array.from(decoded.data)).toEqual(expected);
    }
  });

  it('refuses a stream that ends before the last pixel (Pillow: "image file is truncated")', async () => {
    const file = gifFile({ width: 9, height: 5, indices, globalPalette: palette });
    const cut = file.subarray(0, file.length - 8); // inside the LZW data
    await expect(decodeImageBytes(cut)).rejects.toThrow(/GIF image data (is truncated|ends after)/);
  });
});
