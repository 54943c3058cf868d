// Image preprocessing against OpenCLIP's own output (shared/golden), PIL 9.4 known answers, and
// crafted bad files. The reference images and goldens are read from ../shared, never copied.

import { describe, expect, it } from 'vitest';
import { ImageDecodeError, ImageTooLargeError, ShapeError } from '../src/errors';
import { decodeImageBytes } from '../src/image/decode-node';
import {
  MAX_IMAGE_PIXELS,
  MAX_PREPROCESS_SIZE,
  OPENAI_MEAN,
  OPENAI_STD,
  preprocess,
  preprocessToRgba,
  readImageHeader,
  resampleBicubic,
  resizedDimensions,
  type DecodedImage,
  type RgbaImage,
} from '../src/image';
import { goldenPixelRows, sharedBytes } from './helpers/golden-images';
import { PNG_SIGNATURE, concat, pngChunk, pngHeader } from './helpers/image-files';
import { withExifOrientation } from './helpers/exif-jpeg';

/** One 8-bit step after normalization: the golden README's bound for any decoder. */
const ONE_LEVEL = 1 / 255 / Math.min(...OPENAI_STD);
/** "Exact" in the golden README: the same fp32 steps, so only the last printed digit may differ. */
const EXACT = 1e-5;
/** Share of values that must be exact when the decoder matches PIL's (golden README). */
const MIN_EXACT_FRACTION = 0.99;
/** A 12-megapixel photo must preprocess well under a second; 2 s leaves room for a loaded 2-core CI. */
const LARGE_PHOTO_MS = 2000;

interface Agreement {
  maxAbs: number;
  exactFraction: number;
}

function compare(ours: Float32Array, reference: Float32Array): Agreement {
  expect(ours.length).toBe(reference.length);
  let maxAbs = 0;
  let exact = 0;
  for (let i = 0; i < reference.length; i++) {
    const diff = Math.abs(ours[i]! - reference[i]!);
    maxAbs = Math.max(maxAbs, diff);
    if (diff <= EXACT) exact++;
  }
  return { maxAbs, exactFraction: exact / reference.length };
}

async function decodeShared(name: string): Promise<DecodedImage> {
  return decodeImageBytes(sharedBytes(`images/${name}`));
}

/** A decoded RGB file as raw RGBA pixels (what a canvas gives), with the given alpha per pixel. */
function asRgba(rgb: DecodedImage, alpha: (pixel: number) => number): RgbaImage {
  const count = rgb.width * rgb.height;
  const data = new Uint8Array(count * 4);
  for (let p = 0; p < count; p++) {
    data.set(rgb.data.subarray(p * 3, p * 3 + 3), p * 4);
    data[p * 4 + 3] = alpha(p);
  }
  return { width: rgb.width, height: rgb.height, data, channels: 4 };
}

const goldenRows = goldenPixelRows;

const preprocess224 = JSON.parse(
  new TextDecoder().decode(sharedBytes('golden/preprocess/preprocess-224.json')),
) as { images: string[]; image_size: number; mean: number[]; std: number[] };
const cocaTiny = JSON.parse(new TextDecoder().decode(sharedBytes('golden/coca-tiny/golden.json'))) as {
  images: string[];
  preprocess: { image_size: number; mean: number[]; std: number[] };
};

describe('preprocess matches OpenCLIP (golden pixel_values)', () => {
  const rows224 = goldenRows('golden/preprocess/preprocess-224.safetensors', preprocess224.images.length, 224);

  it.each(preprocess224.images.map((name, i) => [name, i] as const))('%s at 224', async (name, index) => {
    const { image_size: size, mean, std } = preprocess224;
    const agreement = compare(preprocess(await decodeShared(name), { size, mean, std }), rows224[index]!);
    if (name.endsWith('.png')) {
      // Lossless decode plus a bit-exact resample: every value is PIL's.
      expect(agreement.maxAbs).toBeLessThanOrEqual(EXACT);
    } else {
      expect(agreement.maxAbs).toBeLessThanOrEqual(ONE_LEVEL);
      expect(agreement.exactFraction).toBeGreaterThanOrEqual(MIN_EXACT_FRACTION);
    }
  });

  it.each(cocaTiny.images.map((name, i) => [name, i] as const))('%s at 64 (coca-tiny)', async (name, index) => {
    const { image_size: size, mean, std } = cocaTiny.preprocess;
    const rows = goldenRows('golden/coca-tiny/golden.safetensors', cocaTiny.images.length, size);
    const agreement = compare(preprocess(await decodeShared(name), { size, mean, std }), rows[index]!);
    expect(agreement.maxAbs).toBeLessThanOrEqual(EXACT);
  });

  it('defaults to the OpenAI mean and std', async () => {
    const agreement = compare(preprocess(await decodeShared('chelsea.png'), { size: 224 }), rows224[0]!);
    expect(agreement.maxAbs).toBeLessThanOrEqual(EXACT);
  });

  it('applies a given mean and std: mean 0, std 1 recovers golden · std + mean', async () => {
    const ours = preprocess(await decodeShared('coffee.png'), { size: 224, mean: [0, 0, 0], std: [1, 1, 1] });
    const golden = rows224[1]!;
    const plane = 224 * 224;
    const unnormalized = golden.map((v, i) => v * OPENAI_STD[Math.floor(i / plane)]! + OPENAI_MEAN[Math.floor(i / plane)]!);
    expect(compare(ours, unnormalized).maxAbs).toBeLessThanOrEqual(EXACT);
  });

  it('ignores the alpha of raw RGBA pixels (ImageData, canvas): random alpha values leave the output unchanged', async () => {
    const rgba = asRgba(await decodeShared('astronaut.png'), (p) => (p * 7919) % 256);
    const agreement = compare(preprocess(rgba, { size: 224 }), rows224[2]!);
    expect(agreement.maxAbs).toBeLessThanOrEqual(EXACT);
  });

  it('preprocessToRgba gives the 8-bit crop behind the golden values', async () => {
    const crop = preprocessToRgba(await decodeShared('chelsea.png'), 224);
    expect([crop.width, crop.height, crop.channels]).toEqual([224, 224, 4]);
    const plane = 224 * 224;
    const normalized = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < plane; i++) {
        normalized[c * plane + i] = (crop.data[i * 4 + c]! / 255 - OPENAI_MEAN[c]!) / OPENAI_STD[c]!;
      }
    }
    expect(compare(normalized, rows224[0]!).maxAbs).toBeLessThanOrEqual(EXACT);
    for (let i = 3; i < crop.data.length; i += 4) expect(crop.data[i]).toBe(255);
  });

  it('takes raw RGB (3-channel) pixels as well as decoded files', async () => {
    const decoded = await decodeShared('coffee.png');
    expect(decoded.mode).toBe('RGB');
    const ours = preprocess({ width: decoded.width, height: decoded.height, data: decoded.data as Uint8Array, channels: 3 }, { size: 224 });
    expect(compare(ours, rows224[1]!).maxAbs).toBeLessThanOrEqual(EXACT);
  });
});

/** Deterministic test pattern: a 0/255 checkerboard (to drive the filter into clipping) and two ramps. */
function testPattern(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = (x + y) % 2 ? 255 : 0;
      data[p + 1] = (x * 97 + y * 57) % 256;
      data[p + 2] = (x * 13 + y * 101 + 40) % 256;
    }
  }
  return data;
}

describe('PIL bicubic resample (known answers from Pillow 9.4 Image.resize(..., BICUBIC))', () => {
  it('upscales 2×3 to 5×7, clipping the overshoot', () => {
    const pil = [0, 0, 29, 0, 1, 31, 128, 44, 37, 255, 86, 42, 255, 102, 44, 26, 4, 48, 40, 11, 50, 128, 54, 56, 215,
      96, 61, 229, 112, 63, 160, 23, 89, 155, 34, 91, 128, 77, 97, 100, 119, 102, 95, 135, 104, 255, 47, 140, 238, 63,
      142, 128, 106, 148, 17, 148, 153, 0, 164, 155, 160, 75, 191, 155, 92, 193, 128, 135, 199, 100, 177, 204, 95, 193,
      206, 26, 99, 232, 40, 115, 234, 128, 158, 240, 215, 200, 245, 229, 216, 246, 0, 109, 251, 0, 125, 253, 128, 168,
      255, 255, 210, 255, 255, 226, 255];
    expect(resizedDimensions(2, 3, 5)).toEqual({ width: 5, height: 7 });
    expect(Array.from(resampleBicubic(testPattern(2, 3), 2, 3, 3, 5, 7))).toEqual(pil);
  });

  it('downscales 9×7 to 3×3 with the widened (antialiasing) support', () => {
    const pil = [126, 123, 117, 128, 141, 120, 126, 115, 166, 128, 122, 147, 127, 129, 131, 128, 137, 112, 126, 118, 115,
      128, 111, 153, 126, 137, 146];
    expect(Array.from(resampleBicubic(testPattern(9, 7), 9, 7, 3, 3, 3))).toEqual(pil);
  });

  it('leaves an image whose shorter side is already S unfiltered: the output is its center crop', () => {
    const data = testPattern(9, 7);
    const crop = preprocessToRgba({ width: 9, height: 7, data, channels: 3 }, 7).data;
    for (let y = 0; y < 7; y++) {
      for (let x = 0; x < 7; x++) {
        // round((9 − 7) / 2) = 1 column off on the left.
        expect(Array.from(crop.subarray((y * 7 + x) * 4, (y * 7 + x) * 4 + 3))).toEqual(Array.from(data.subarray((y * 9 + x + 1) * 3, (y * 9 + x + 2) * 3)));
      }
    }
  });

  it('keeps a flat colour flat on a 4000×3000 photo, fast', () => {
    const width = 4000;
    const height = 3000;
    const data = new Uint8Array(width * height * 4);
    for (let p = 0; p < data.length; p += 4) data.set([200, 100, 50, 255], p);
    const start = performance.now();
    const out = preprocess({ width, height, data, channels: 4 }, { size: 224 });
    const elapsed = performance.now() - start;
    const plane = 224 * 224;
    [200, 100, 50].forEach((value, c) => {
      const expected = Math.fround((Math.fround(value / 255) - Math.fround(OPENAI_MEAN[c]!)) / Math.fround(OPENAI_STD[c]!));
      expect(out[c * plane]).toBe(expected);
      expect(out[c * plane + plane - 1]).toBe(expected);
      expect(out.subarray(c * plane, (c + 1) * plane).every((v) => v === expected)).toBe(true);
    });
    expect(elapsed).toBeLessThan(LARGE_PHOTO_MS);
  });
});

describe('torchvision Resize(int) and CenterCrop geometry', () => {
  it('sets the longer side to int(S · long / short)', () => {
    expect(resizedDimensions(640, 427, 224)).toEqual({ width: 335, height: 224 }); // 335.737…
    expect(resizedDimensions(451, 300, 64)).toEqual({ width: 96, height: 64 }); // 96.213…
    expect(resizedDimensions(300, 451, 224)).toEqual({ width: 224, height: 336 }); // 336.746…
    expect(resizedDimensions(512, 512, 224)).toEqual({ width: 224, height: 224 });
  });

  /** A one-channel-per-pixel ramp whose red value is the column (or row) index. */
  function indexRamp(width: number, height: number, along: 'x' | 'y'): RgbaImage {
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[(y * width + x) * 3] = along === 'x' ? x : y;
    return { width, height, data, channels: 3 };
  }

  it("rounds the offset half to even like Python's round()", () => {
    // (237 − 180) / 2 = 28.5 → 28; (239 − 180) / 2 = 29.5 → 30; (238 − 180) / 2 = 29.
    // The shorter side is already 180, so nothing is resampled and the first red value is the offset.
    expect(preprocessToRgba(indexRamp(237, 180, 'x'), 180).data[0]).toBe(28);
    expect(preprocessToRgba(indexRamp(239, 180, 'x'), 180).data[0]).toBe(30);
    expect(preprocessToRgba(indexRamp(238, 180, 'x'), 180).data[0]).toBe(29);
    expect(preprocessToRgba(indexRamp(180, 237, 'y'), 180).data[0]).toBe(28);
    expect(preprocessToRgba(indexRamp(180, 239, 'y'), 180).data[0]).toBe(30);
  });

  it('refuses malformed pixel buffers and sizes', () => {
    const empty: RgbaImage = { width: 0, height: 0, data: new Uint8Array(0), channels: 4 };
    expect(() => preprocess(empty, { size: 224 })).toThrow(ShapeError);
    const short: RgbaImage = { width: 4, height: 4, data: new Uint8Array(10), channels: 4 };
    expect(() => preprocess(short, { size: 224 })).toThrow(/expected width·height·channels/);
    const ok: RgbaImage = { width: 4, height: 4, data: new Uint8Array(64), channels: 4 };
    expect(() => preprocess(ok, { size: 0 })).toThrow(ShapeError);
    expect(() => preprocess(ok, { size: 4, std: [1, 0, 1] })).toThrow(/std values must be positive/);
    expect(() => preprocess(ok, { size: MAX_PREPROCESS_SIZE + 1 })).toThrow(ImageTooLargeError);
    const palette: DecodedImage = { width: 1, height: 1, mode: 'P', data: new Uint8Array(1), orientation: 1 };
    expect(() => preprocess(palette, { size: 4 })).toThrow(/needs its 256-entry RGB palette/);
  });
});

/** Signature + IHDR (8-bit RGB) + IEND: a header that declares any size with no pixel data behind it. */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  return concat([PNG_SIGNATURE, pngHeader(width, height, 8, 2), pngChunk('IEND', new Uint8Array(0))]);
}

/** Byte offset of the first SOF0/SOF2 marker in a JPEG. */
function startOfFrame(jpeg: Uint8Array): number {
  for (let i = 2; i + 1 < jpeg.length; i++) if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) return i;
  throw new Error('no SOF marker');
}

describe('decoding bad input fails with a named error before allocating pixels', () => {
  const rocket = sharedBytes('images/rocket.jpg');
  const chelsea = sharedBytes('images/chelsea.png');

  it('names what a non-image starts with', async () => {
    const text = new TextEncoder().encode('hello, this is not an image\n');
    await expect(decodeImageBytes(text)).rejects.toThrow(ImageDecodeError);
    await expect(decodeImageBytes(text)).rejects.toThrow(/not an image: .*68 65 6c 6c 6f 2c 20 74 \("hello, t"\)/);
    await expect(decodeImageBytes(new Uint8Array(0))).rejects.toThrow(/empty file \(0 bytes\)/);
  });

  it('refuses a PNG header claiming 20000×20000 as too large, from the header alone', async () => {
    const huge = pngHeaderOnly(20000, 20000);
    expect(huge.length).toBeLessThan(100);
    expect(20000 * 20000).toBeGreaterThan(MAX_IMAGE_PIXELS);
    await expect(decodeImageBytes(huge)).rejects.toThrow(ImageTooLargeError);
    await expect(decodeImageBytes(huge)).rejects.toThrow(/20000×20000 pixels \(400 MP\), above the 89,478,485-pixel limit/);
  });

  it('refuses a JPEG whose frame header claims 20000×20000', async () => {
    const huge = Uint8Array.from(rocket);
    const sof = startOfFrame(huge);
    new DataView(huge.buffer).setUint16(sof + 5, 20000); // height
    new DataView(huge.buffer).setUint16(sof + 7, 20000); // width
    expect(readImageHeader(Uint8Array.from(rocket))).toEqual({ format: 'jpeg', width: 640, height: 427 });
    await expect(decodeImageBytes(huge)).rejects.toThrow(ImageTooLargeError);
  });

  it('refuses a 0×0 image', async () => {
    await expect(decodeImageBytes(pngHeaderOnly(0, 0))).rejects.toThrow(ImageDecodeError);
    await expect(decodeImageBytes(pngHeaderOnly(0, 0))).rejects.toThrow(/PNG image is empty: it declares 0×0 pixels/);
  });

  it('refuses truncated PNGs', async () => {
    await expect(decodeImageBytes(chelsea.subarray(0, 20))).rejects.toThrow(/PNG file is truncated/);
    await expect(decodeImageBytes(chelsea.subarray(0, chelsea.length >> 1))).rejects.toThrow(ImageDecodeError);
  });

  it('refuses truncated JPEGs (PIL: "image file is truncated")', async () => {
    await expect(decodeImageBytes(rocket.subarray(0, rocket.length >> 1))).rejects.toThrow(/JPEG file is truncated/);
  });

  it("reports libjpeg's reason for a corrupt JPEG and keeps decoding afterwards", async () => {
    const twelveBit = Uint8Array.from(rocket);
    twelveBit[startOfFrame(twelveBit) + 4] = 12; // sample precision
    await expect(decodeImageBytes(twelveBit)).rejects.toThrow(/Unsupported JPEG data precision 12/);
    const rows = goldenRows('golden/preprocess/preprocess-224.safetensors', preprocess224.images.length, 224);
    const agreement = compare(preprocess(await decodeImageBytes(rocket), { size: 224 }), rows[3]!);
    expect(agreement.maxAbs).toBeLessThanOrEqual(ONE_LEVEL);
  });

  it('names formats the Node decoder does not read', async () => {
    const webp = new TextEncoder().encode('RIFF\x1e\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x01\0\0\x01\0\0');
    await expect(decodeImageBytes(webp)).rejects.toThrow(/WEBP images are not supported in Node/);
  });
});

describe('EXIF orientation: ignored by default (as PIL), applied on request', () => {
  const rocket = sharedBytes('images/rocket.jpg');

  it('records the tag without rotating; applyExifOrientation and orientation "exif" turn the image upright', async () => {
    const plain = await decodeImageBytes(rocket);
    const tagged = withExifOrientation(rocket, 6); // stored rotated: display turns it 90° clockwise
    const asStored = await decodeImageBytes(tagged);
    expect(asStored.orientation).toBe(6);
    expect(Buffer.from(asStored.data as Uint8Array).equals(Buffer.from(plain.data as Uint8Array))).toBe(true);
    const rotated = await decodeImageBytes(tagged, { applyExifOrientation: true });
    expect([rotated.width, rotated.height, rotated.orientation]).toEqual([plain.height, plain.width, 1]);
    let mismatches = 0;
    for (let y = 0; y < rotated.height; y++) {
      for (let x = 0; x < rotated.width; x++) {
        const source = ((plain.height - 1 - x) * plain.width + y) * 3;
        const target = (y * rotated.width + x) * 3;
        for (let c = 0; c < 3; c++) if (rotated.data[target + c] !== plain.data[source + c]) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
    const rows = goldenRows('golden/preprocess/preprocess-224.safetensors', preprocess224.images.length, 224);
    expect(compare(preprocess(asStored, { size: 224 }), rows[3]!).maxAbs).toBeLessThanOrEqual(ONE_LEVEL);
    expect(compare(preprocess(asStored, { size: 224, orientation: 'exif' }), preprocess(rotated, { size: 224 })).maxAbs).toBe(0);
  });
});
