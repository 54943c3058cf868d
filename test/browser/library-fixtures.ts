// What the library tests (and bench) work on: a folder of photos made from ../shared/images (each sample
// photo flipped, cropped, shifted, rotated and recoloured, written as PNG or JPEG, every file distinct
// bytes), and the golden tiny model's files as the local hub serves them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import encodeJpeg, { init as initJpegEncoder } from '@jsquash/jpeg/encode.js';
import { decodeImageFile } from '../../src/image/decode-node';
import type { RgbaImage } from '../../src/image/types';
import { convertToRgb } from '../../src/image/modes';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const SHARED_IMAGES = path.join(SHARED, 'images');
export const SAMPLE_PHOTOS = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'] as const;
const JPEG_QUALITY = 90;

export interface GeneratedPhoto {
  /** Relative path inside the folder: `<sample>/<transform>.<png|jpg>`. */
  path: string;
  bytes: Uint8Array;
  type: 'image/png' | 'image/jpeg';
}

type Transform = (image: RgbaImage) => RgbaImage;

function blank(width: number, height: number): RgbaImage {
  return { width, height, data: new Uint8Array(width * height * 4), channels: 4 };
}

/** out(x, y) = in(map(x, y)), for the geometric transforms. */
function remap(image: RgbaImage, width: number, height: number, map: (x: number, y: number) => [number, number]): RgbaImage {
  const out = blank(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = map(x, y);
      const from = (sy * image.width + sx) * 4;
      out.data.set(image.data.subarray(from, from + 4), (y * width + x) * 4);
    }
  }
  return out;
}

function recolor(image: RgbaImage, pixel: (r: number, g: number, b: number) => [number, number, number]): RgbaImage {
  const out = blank(image.width, image.height);
  for (let i = 0; i < image.width * image.height; i++) {
    const [r, g, b] = pixel(image.data[i * 4]!, image.data[i * 4 + 1]!, image.data[i * 4 + 2]!);
    out.data[i * 4] = r;
    out.data[i * 4 + 1] = g;
    out.data[i * 4 + 2] = b;
    out.data[i * 4 + 3] = 255;
  }
  return out;
}

const TRANSFORMS: Record<string, Transform> = {
  original: (im) => im,
  'flip-h': (im) => remap(im, im.width, im.height, (x, y) => [im.width - 1 - x, y]),
  'flip-v': (im) => remap(im, im.width, im.height, (x, y) => [x, im.height - 1 - y]),
  'crop-center': (im) => {
    const w = Math.round(im.width * 0.7);
    const h = Math.round(im.height * 0.7);
    return remap(im, w, h, (x, y) => [x + ((im.width - w) >> 1), y + ((im.height - h) >> 1)]);
  },
  'crop-corner': (im) => remap(im, Math.round(im.width * 0.6), Math.round(im.height * 0.6), (x, y) => [x, y]),
  shift: (im) => remap(im, im.width, im.height, (x, y) => [(x + (im.width >> 2)) % im.width, y]),
  'rotate-90': (im) => remap(im, im.height, im.width, (x, y) => [y, im.height - 1 - x]),
  'swap-rb': (im) => recolor(im, (r, g, b) => [b, g, r]),
  darker: (im) => recolor(im, (r, g, b) => [r * 0.6, g * 0.6, b * 0.6]),
  gray: (im) => recolor(im, (r, g, b) => {
    const v = 0.299 * r + 0.587 * g + 0.114 * b;
    return [v, v, v];
  }),
  invert: (im) => recolor(im, (r, g, b) => [255 - r, 255 - g, 255 - b]),
};
export const TRANSFORM_NAMES = Object.keys(TRANSFORMS);

let jpegReady: Promise<void> | null = null;

async function toJpeg(image: RgbaImage): Promise<Uint8Array> {
  jpegReady ??= (async () => {
    const wasm = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm');
    await initJpegEncoder(await WebAssembly.compile(await readFile(wasm)));
  })();
  await jpegReady;
  const data = new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return new Uint8Array(await encodeJpeg({ data, width: image.width, height: image.height, colorSpace: 'srgb' } as ImageData, { quality: JPEG_QUALITY }));
}

function toPng(image: RgbaImage): Uint8Array {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return new Uint8Array(PNG.sync.write(png));
}

/** RGB pixels as opaque RGBA, the layout the transforms and the PNG writer take. */
function opaqueRgba(width: number, height: number, rgb: Uint8Array): RgbaImage {
  const data = new Uint8Array(width * height * 4).fill(255);
  for (let i = 0; i < width * height; i++) data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
  return { width, height, data, channels: 4 };
}

/** 44 photos: 11 transforms of each of the 4 samples, alternately PNG and JPEG, in a stable order. */
export async function generatePhotos(): Promise<GeneratedPhoto[]> {
  const out: GeneratedPhoto[] = [];
  for (const sample of SAMPLE_PHOTOS) {
    const decoded = await decodeImageFile(path.join(SHARED_IMAGES, sample));
    const image = opaqueRgba(decoded.width, decoded.height, convertToRgb(decoded.mode, decoded.data, decoded.width * decoded.height, decoded.palette));
    const stem = sample.replace(/\.\w+$/, '');
    for (const [name, transform] of Object.entries(TRANSFORMS)) {
      const result = transform(image);
      const jpeg = out.length % 2 === 1;
      out.push({ path: `${stem}/${name}.${jpeg ? 'jpg' : 'png'}`, bytes: jpeg ? await toJpeg(result) : toPng(result), type: jpeg ? 'image/jpeg' : 'image/png' });
    }
  }
  return out;
}

/** Writes the photos under `dir`, keeping their sub-folders. */
export function writePhotos(dir: string, photos: readonly GeneratedPhoto[]): void {
  for (const photo of photos) {
    const file = path.join(dir, photo.path);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, photo.bytes);
  }
}

/** The golden tiny CoCa in the hub's layout (config, weights, vocabulary), for startHubServer. */
export function tinyHubRepo(): Record<string, Uint8Array> {
  const file = (p: string): Uint8Array => new Uint8Array(readFileSync(path.join(SHARED, p)));
  return {
    'open_clip_config.json': file('golden/coca-tiny/open_clip_config.json'),
    'open_clip_model.safetensors': file('golden/coca-tiny/open_clip_model.safetensors'),
    'bpe_simple_vocab_16e6.txt.gz': file('vocab/bpe_simple_vocab_16e6.txt.gz'),
  };
}
