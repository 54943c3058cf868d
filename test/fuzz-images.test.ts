// Seeded fuzzing of the image decoders and preprocessing: mutated PNG, GIF, JPEG, BMP and WebP
// headers and bodies, huge declared sizes, truncations. Every input must either decode to a
// consistent image (for PNG: the pixels an independent decoder, pngjs, gives whenever it also
// accepts the file) and preprocess, or fail with ImageDecodeError / ImageTooLargeError; each in
// bounded time, with bounded memory growth.

import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError, ImageTooLargeError } from '../src/errors';
import { decodeImageBytes } from '../src/image/decode-node';
import { MAX_IMAGE_PIXELS, preprocess, type DecodedImage } from '../src/image';
import { convertToRgb, bandCount } from '../src/image/modes';
import { sharedBytes } from './helpers/golden-images';
import { gifFile, pngFile } from './helpers/image-files';
import { mulberry32 } from './reference/random';

/** Mutants per seed file and kind of mutation; the whole suite stays well under 30 s on 2 busy cores. */
const MUTANTS_PER_SEED = 120;
/** One decode + preprocess of a file under 10 KB (or the 90 KB JPEG) takes milliseconds; 3 s flags a hang. */
const MAX_MS_PER_INPUT = 3000;
/** Nothing may allocate near a decoded bomb: 89 M pixels would be ≥ 89 MB; allow GC noise below that. */
const MAX_RSS_GROWTH = 256 * 2 ** 20;

type Mutation = (bytes: Uint8Array, random: () => number) => Uint8Array;

const int = (random: () => number, n: number): number => Math.floor(random() * n);

const MUTATIONS: Record<string, Mutation> = {
  'flip bytes': (bytes, random) => {
    const out = Uint8Array.from(bytes);
    for (let i = 1 + int(random, 8); i > 0; i--) out[int(random, out.length)] = int(random, 256);
    return out;
  },
  'flip header bytes': (bytes, random) => {
    const out = Uint8Array.from(bytes);
    out[int(random, Math.min(64, out.length))] = int(random, 256);
    return out;
  },
  truncate: (bytes, random) => bytes.slice(0, int(random, bytes.length)),
  'insert bytes': (bytes, random) => {
    const at = int(random, bytes.length);
    const junk = Uint8Array.from({ length: 1 + int(random, 16) }, () => int(random, 256));
    return Uint8Array.from([...bytes.subarray(0, at), ...junk, ...bytes.subarray(at)]);
  },
  'repeat a slice': (bytes, random) => {
    const from = int(random, bytes.length);
    const slice = bytes.subarray(from, from + int(random, 64));
    const at = int(random, bytes.length);
    return Uint8Array.from([...bytes.subarray(0, at), ...slice, ...bytes.subarray(at)]);
  },
};

/** A PNG with a new IHDR size and a valid CRC, so the size check is what decides. */
function pngWithSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(png);
  const view = new DataView(out.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(out.subarray(12, 29)));
  return out;
}

/** Recomputes every whole chunk's CRC, so corruption inside chunks reaches the decoders (and pngjs accepts it). */
function withValidCrcs(png: Uint8Array): Uint8Array {
  const out = Uint8Array.from(png);
  const view = new DataView(out.buffer);
  for (let at = 8; at + 12 <= out.length; ) {
    const length = view.getUint32(at);
    if (at + 12 + length > out.length) break;
    view.setUint32(at + 8 + length, crc32(out.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  }
  return out;
}

interface Outcome {
  decoded?: DecodedImage;
  error?: unknown;
  ms: number;
}

async function attempt(bytes: Uint8Array): Promise<Outcome> {
  const start = performance.now();
  try {
    const decoded = await decodeImageBytes(bytes);
    preprocess(decoded, { size: 16 });
    return { decoded, ms: performance.now() - start };
  } catch (error) {
    return { error, ms: performance.now() - start };
  }
}

/** The decoded image is self-consistent: its size within the cap and its data the right length. */
function expectConsistent(decoded: DecodedImage): void {
  expect(decoded.width * decoded.height).toBeLessThanOrEqual(MAX_IMAGE_PIXELS);
  expect(decoded.data.length).toBe(decoded.width * decoded.height * bandCount(decoded.mode));
}

/**
 * For 8-bit PNGs: when pngjs also decodes the file, it must give the same RGB (and alpha for RGBA/LA).
 * Returns whether pngjs accepted the file (it is stricter: it checks every chunk's CRC).
 */
function pngjsAgrees(bytes: Uint8Array, decoded: DecodedImage): boolean {
  let reference: { width: number; height: number; data: Uint8Array };
  try {
    reference = PNG.sync.read(Buffer.from(bytes));
  } catch {
    return false;
  }
  expect([reference.width, reference.height]).toEqual([decoded.width, decoded.height]);
  const rgb = convertToRgb(decoded.mode, decoded.data, decoded.width * decoded.height, decoded.palette);
  const hasAlpha = decoded.mode === 'RGBA' || decoded.mode === 'LA';
  const bands = bandCount(decoded.mode);
  for (let p = 0; p < decoded.width * decoded.height; p++) {
    for (let c = 0; c < 3; c++) if (rgb[p * 3 + c] !== reference.data[p * 4 + c]) throw new Error(`pixel ${p} channel ${c}: ours ${rgb[p * 3 + c]}, pngjs ${reference.data[p * 4 + c]}`);
    if (hasAlpha && decoded.data[p * bands + bands - 1] !== reference.data[p * 4 + 3]) throw new Error(`pixel ${p} alpha differs from pngjs`);
  }
  return true;
}

const cmykFixtures = (JSON.parse(readFileSync(new URL('./fixtures/preprocess-pillow.json', import.meta.url), 'utf8')) as {
  cmyk: Record<string, { jpeg: string }>;
}).cmyk;

const pattern = (x: number, y: number, k: number): number => (x * 37 + y * 91 + k * 53 + ((x * y) % 7) * 11) % 256;
const palette = Uint8Array.from({ length: 16 * 3 }, (_, i) => (i * 53 + 7) % 256);

const SEEDS: Record<string, Uint8Array> = {
  'PNG RGB': pngFile({ width: 23, height: 17, bitDepth: 8, colorType: 2, samples: (x, y) => [0, 1, 2].map((k) => pattern(x, y, k)) }),
  'PNG RGBA interlaced': pngFile({ width: 19, height: 13, bitDepth: 8, colorType: 6, interlaced: true, samples: (x, y) => [0, 1, 2, 3].map((k) => pattern(x, y, k)) }),
  'PNG P 4-bit interlaced': pngFile({ width: 21, height: 11, bitDepth: 4, colorType: 3, interlaced: true, palette, samples: (x, y) => [(x + 3 * y) % 16] }),
  'PNG LA': pngFile({ width: 17, height: 9, bitDepth: 8, colorType: 4, samples: (x, y) => [pattern(x, y, 0), pattern(x, y, 3)] }),
  GIF: gifFile({ width: 31, height: 17, indices: Uint8Array.from({ length: 31 * 17 }, (_, i) => (i * 7) % 13), globalPalette: palette }),
  'GIF interlaced': gifFile({ width: 13, height: 11, indices: Uint8Array.from({ length: 13 * 11 }, (_, i) => i % 16), globalPalette: palette, interlaced: true }),
  JPEG: sharedBytes('images/rocket.jpg'),
  ...Object.fromEntries(
    ['baseline 4:2:2', 'progressive 4:2:0 YCCK'].map((name) => [`CMYK JPEG ${name}`, new Uint8Array(Buffer.from(cmykFixtures[name]!.jpeg, 'base64'))]),
  ),
  BMP: Uint8Array.from([0x42, 0x4d, 70, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 24, 0, ...new Array<number>(40).fill(0)]),
  WebP: new TextEncoder().encode('RIFF\x1e\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\x01\0\0\x01\0\0'),
};

describe('image fuzzing: decodes consistently or fails with a named error, in bounded time and memory', () => {
  it.each(Object.keys(SEEDS))('%s mutants', async (seedName) => {
    const seed = SEEDS[seedName]!;
    const random = mulberry32(crc32(new TextEncoder().encode(seedName)));
    const rssBefore = process.memoryUsage().rss;
    const counts = { decoded: 0, failed: 0, checkedByPngjs: 0 };
    const isPng = seedName.startsWith('PNG');
    const mutantsPerKind = seedName === 'JPEG' ? MUTANTS_PER_SEED / 6 : MUTANTS_PER_SEED; // 640×427: slower to decode
    for (const [kind, mutate] of Object.entries(MUTATIONS)) {
      for (let i = 0; i < mutantsPerKind; i++) {
        const mutant = mutate(seed, random);
        const bytes = isPng && i % 2 === 1 ? withValidCrcs(mutant) : mutant;
        const outcome = await attempt(bytes);
        expect(outcome.ms, `${kind} #${i}`).toBeLessThan(MAX_MS_PER_INPUT);
        if (outcome.error !== undefined) {
          counts.failed++;
          const named = outcome.error instanceof ImageDecodeError || outcome.error instanceof ImageTooLargeError;
          if (!named) throw new Error(`${seedName} ${kind} #${i}: unnamed error ${String(outcome.error)}`);
          continue;
        }
        counts.decoded++;
        expectConsistent(outcome.decoded!);
        if (isPng && pngjsAgrees(bytes, outcome.decoded!)) counts.checkedByPngjs++;
      }
    }
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
    // Both outcomes occur: the mutations reach the decoders, not only the format check.
    if (!['BMP', 'WebP'].includes(seedName)) expect(counts.decoded * counts.failed).toBeGreaterThan(0);
    if (isPng) expect(counts.checkedByPngjs).toBeGreaterThan(0);
  });

  it('refuses huge declared sizes from the header, before allocating', async () => {
    const png = SEEDS['PNG RGB']!;
    const rssBefore = process.memoryUsage().rss;
    for (const [width, height] of [[10000, 10000], [2 ** 31 - 1, 2 ** 31 - 1], [2 ** 32 - 1, 1], [89_478_486, 1]]) {
      await expect(decodeImageBytes(pngWithSize(png, width!, height!))).rejects.toThrow(ImageTooLargeError);
    }
    // Within the pixel cap but with too little data behind it: truncated, not a RangeError.
    for (const [width, height] of [[100000, 1], [1, 100000], [9000, 9000]]) {
      await expect(decodeImageBytes(pngWithSize(png, width!, height!))).rejects.toThrow(/PNG image data is (truncated|corrupt)/);
    }
    const gif = Uint8Array.from(SEEDS.GIF!);
    new DataView(gif.buffer).setUint16(6, 65535, true);
    new DataView(gif.buffer).setUint16(8, 65535, true);
    await expect(decodeImageBytes(gif)).rejects.toThrow(ImageTooLargeError);
    const jpeg = Uint8Array.from(SEEDS.JPEG!);
    for (let i = 2; i + 9 < jpeg.length; i++) {
      if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
        new DataView(jpeg.buffer).setUint16(i + 5, 65535);
        new DataView(jpeg.buffer).setUint16(i + 7, 65535);
        break;
      }
    }
    await expect(decodeImageBytes(jpeg)).rejects.toThrow(ImageTooLargeError);
    // 9000×9000 is within the pixel cap, but a 90 KB file cannot hold its 1.9 M blocks: refused before decoding.
    for (const seed of [SEEDS.JPEG!, SEEDS['CMYK JPEG progressive 4:2:0 YCCK']!]) {
      const large = Uint8Array.from(seed);
      const sof = large.findIndex((b, i) => b === 0xff && (large[i + 1] === 0xc0 || large[i + 1] === 0xc2));
      new DataView(large.buffer).setUint16(sof + 5, 9000);
      new DataView(large.buffer).setUint16(sof + 7, 9000);
      await expect(decodeImageBytes(large)).rejects.toThrow(/JPEG file is truncated: its \d+ blocks need at least/);
    }
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('a 100-megapixel PNG (a decompression bomb\'s header) fails from its header, before any inflating', async () => {
    const bomb = pngWithSize(SEEDS['PNG RGB']!, 10000, 10000);
    const start = performance.now();
    await expect(decodeImageBytes(bomb)).rejects.toThrow(/10000×10000 pixels \(100 MP\), above the 89,478,485-pixel limit/);
    expect(performance.now() - start).toBeLessThan(MAX_MS_PER_INPUT);
  });
});
