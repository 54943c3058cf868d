// Image decoding and preprocessing in Chromium, in a module worker, with the code the model worker
// runs (decodeImageSource + preprocess): OpenCLIP's goldens for the L/P/RGBA files and the RGB
// photos, the EXIF rule, GIF, and named errors; and the same numbers as in Node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { decodeImageBytes } from '../src/image/decode-node';
import { OPENAI_STD, preprocess, type PreprocessOptions } from '../src/image';
import type { ImageJob, ImageResult } from './browser/image-worker';
import { launchChromium, startViteServer } from './helpers/browser';
import { goldenModes, goldenPixelRows, sharedBytes } from './helpers/golden-images';
import { gifFile, pngHeader, PNG_SIGNATURE, concat } from './helpers/image-files';
import { withExifOrientation } from './helpers/exif-jpeg';

/** One 8-bit step after normalization: the golden README's bound for any decoder. */
const ONE_LEVEL = 1 / 255 / Math.min(...OPENAI_STD);
/** "Exact" in the golden README: the same fp32 steps, so only the last printed digit may differ. */
const EXACT = 1e-5;

const SHARED = fileURLToPath(new URL('../../shared/', import.meta.url));

let browser: Browser;
let server: ViteDevServer;
let url: string;

beforeAll(async () => {
  ({ server, url } = await startViteServer());
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function inWorker(jobs: ImageJob[]): Promise<ImageResult[]> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${url}/test/browser/images.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const results = await page.evaluate((j) => (window as unknown as { preprocessImages: (jobs: unknown) => Promise<ImageResult[]> }).preprocessImages(j), jobs);
    expect(errors).toEqual([]);
    return results;
  } finally {
    await page.close();
  }
}

function pixels(result: ImageResult): Float32Array {
  if (result.pixels === undefined) throw new Error(`no pixels: ${result.error}`);
  const bytes = Buffer.from(result.pixels, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const fileUrl = (relative: string): string => `${url}/@fs${SHARED}${relative}`;

/** A WebP with an EXIF chunk holding `orientation` added (VP8X layout, as Chromium's encoder writes it). */
function webpWithExif(webp: Uint8Array, orientation: number): Uint8Array {
  const le32 = (v: number): number[] => [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24];
  const text = (s: string): number[] => Array.from(new TextEncoder().encode(s));
  if (new TextDecoder().decode(webp.subarray(12, 16)) !== 'VP8X') throw new Error('expected an extended (VP8X) WebP');
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
  const chunks = Array.from(webp.subarray(12));
  chunks[8] = chunks[8]! | 0x08; // VP8X flags: EXIF present
  const body = [...text('WEBP'), ...chunks, ...text('EXIF'), ...le32(tiff.length), ...tiff];
  return Uint8Array.from([...text('RIFF'), ...le32(body.length), ...body]);
}

describe('images in Chromium (module worker): decoded in their own mode, preprocessed as OpenCLIP does', () => {
  it('L, P and RGBA files match golden modes-224, and the RGB photos preprocess-224', async () => {
    const modes = goldenModes();
    const photos = JSON.parse(new TextDecoder().decode(sharedBytes('golden/preprocess/preprocess-224.json'))) as { images: string[] };
    const photoRows = goldenPixelRows('golden/preprocess/preprocess-224.safetensors', photos.images.length, 224);
    const options: PreprocessOptions = { size: 224 };
    const results = await inWorker([
      ...modes.names.map((name) => ({ url: fileUrl(`images/modes/${name}`), options })),
      ...photos.images.map((name) => ({ url: fileUrl(`images/${name}`), options })),
    ]);
    modes.names.forEach((name, i) => {
      expect([name, results[i]!.mode]).toEqual([name, modes.modes[i]]);
      const diff = maxAbsDiff(pixels(results[i]!), modes.rows[i]!);
      expect(diff).toBeLessThanOrEqual(ONE_LEVEL);
      expect(diff).toBeLessThanOrEqual(EXACT); // the same decoders as Node: Pillow's values exactly
    });
    photos.images.forEach((name, i) => {
      const result = results[modes.names.length + i]!;
      expect([name, result.mode]).toEqual([name, 'RGB']);
      expect(maxAbsDiff(pixels(result), photoRows[i]!)).toBeLessThanOrEqual(ONE_LEVEL);
    });
  });

  it('ignores EXIF orientation by default and applies it with orientation "exif", as Node does', async () => {
    const tagged = withExifOrientation(sharedBytes('images/rocket.jpg'), 6);
    const job = (options: PreprocessOptions): ImageJob => ({ bytes: Array.from(tagged), type: 'image/jpeg', options });
    const [asStored, upright] = await inWorker([job({ size: 64 }), job({ size: 64, orientation: 'exif' })]);
    expect([asStored!.width, asStored!.height, asStored!.orientation]).toEqual([640, 427, 6]);
    const node = await decodeImageBytes(tagged);
    expect(maxAbsDiff(pixels(asStored!), preprocess(node, { size: 64 }))).toBe(0);
    expect(maxAbsDiff(pixels(upright!), preprocess(node, { size: 64, orientation: 'exif' }))).toBe(0);
    expect(maxAbsDiff(pixels(upright!), pixels(asStored!))).toBeGreaterThan(0.5);
  });

  it('formats left to the browser (WebP) follow the same rule: stored by default, upright on request', async () => {
    const page = await browser.newPage();
    const webp = await page.evaluate(async () => {
      const canvas = new OffscreenCanvas(32, 32);
      const context = canvas.getContext('2d')!;
      const pattern = context.createImageData(32, 32);
      for (let p = 0; p < 32 * 32; p++) pattern.data.set([(p % 32) * 8, Math.floor(p / 32) * 8, 128, 255], p * 4);
      context.putImageData(pattern, 0, 0);
      const blob = await canvas.convertToBlob({ type: 'image/webp', quality: 1 });
      return Array.from(new Uint8Array(await blob.arrayBuffer()));
    });
    await page.close();
    const plain = Uint8Array.from(webp);
    expect(new TextDecoder().decode(plain.subarray(8, 12))).toBe('WEBP');
    const tagged = webpWithExif(plain, 6);
    // 32×32 squashed to 32: no resize, so the values are the decoded pixels themselves.
    const job = (bytes: Uint8Array, options: PreprocessOptions): ImageJob => ({ bytes: Array.from(bytes), type: 'image/webp', options });
    const [stored, asStored, upright] = await inWorker([
      job(plain, { size: 32, resizeMode: 'squash' }),
      job(tagged, { size: 32, resizeMode: 'squash' }),
      job(tagged, { size: 32, resizeMode: 'squash', orientation: 'exif' }),
    ]);
    expect([stored!.mode, asStored!.error ?? asStored!.mode, asStored!.orientation]).toEqual(['RGB', 'RGB', 6]);
    expect(maxAbsDiff(pixels(asStored!), pixels(stored!))).toBe(0);
    // Orientation 6 shows the stored image turned 90° clockwise: upright (x, y) = stored (y, 31 − x).
    const want = new Float32Array(3 * 32 * 32);
    const base = pixels(stored!);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) want[c * 1024 + y * 32 + x] = base[c * 1024 + (31 - x) * 32 + y]!;
    expect(maxAbsDiff(pixels(upright!), want)).toBe(0);
  });

  it('decodes GIF (mode P) and CMYK JPEG as Pillow does, and names bad files', async () => {
    const indices = Uint8Array.from({ length: 40 * 30 }, (_, i) => ((i % 40) * 3 + Math.floor(i / 40)) % 16);
    const palette = Uint8Array.from({ length: 16 * 3 }, (_, i) => (i * 31 + 5) % 256);
    const gif = gifFile({ width: 40, height: 30, indices, globalPalette: palette });
    const bomb = concat([PNG_SIGNATURE, pngHeader(20000, 20000, 8, 2)]);
    const cmykFixtures = (JSON.parse(readFileSync(new URL('./fixtures/preprocess-pillow.json', import.meta.url), 'utf8')) as { cmyk: Record<string, { jpeg: string }> }).cmyk;
    const cmyk = new Uint8Array(Buffer.from(cmykFixtures['progressive 4:2:0 YCCK']!.jpeg, 'base64'));
    const [decodedGif, decodedCmyk, notImage, tooLarge] = await inWorker([
      { bytes: Array.from(gif), type: 'image/gif', options: { size: 16 } },
      { bytes: Array.from(cmyk), type: 'image/jpeg', options: { size: 16 } },
      { bytes: Array.from(new TextEncoder().encode('hello, not an image')), type: 'text/plain', options: { size: 16 } },
      { bytes: Array.from(bomb), type: 'image/png', options: { size: 16 } },
    ]);
    expect(decodedGif!.mode).toBe('P');
    expect(maxAbsDiff(pixels(decodedGif!), preprocess(await decodeImageBytes(gif), { size: 16 }))).toBe(0);
    expect(decodedCmyk!.mode).toBe('CMYK');
    expect(maxAbsDiff(pixels(decodedCmyk!), preprocess(await decodeImageBytes(cmyk), { size: 16 }))).toBe(0);
    expect(notImage!.error).toMatch(/^ImageDecodeError: not an image: expected PNG, JPEG, GIF, WebP or BMP/);
    expect(tooLarge!.error).toMatch(/^ImageTooLargeError: PNG image declares 20000×20000 pixels/);
  });
});
