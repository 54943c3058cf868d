// OpenCLIP's eval transform for CoCa, matched to the bit: torchvision Resize(S) on a PIL image
// (shorter side to S with PIL bicubic), CenterCrop(S), ToTensor, Normalize(mean, std).
// See shared/docs/COCA.md "Image preprocessing".

import { ShapeError } from '../errors';
import { resampleBicubic } from './resample';
import type { PreprocessOptions, RgbaImage } from './types';

/** OpenAI CLIP's per-channel statistics, used by the CoCa checkpoints' preprocess config. */
export const OPENAI_MEAN: readonly number[] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_STD: readonly number[] = [0.26862954, 0.26130258, 0.27577711];

function assertValidImage(pixels: RgbaImage): void {
  const { width, height, channels, data } = pixels;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ShapeError(`image must have positive integer width and height, got ${width}×${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new ShapeError(`image must have 3 or 4 channels, got ${channels}`);
  if (data.length !== width * height * channels) {
    throw new ShapeError(
      `image data holds ${data.length} values, expected width·height·channels = ${width}·${height}·${channels}`,
    );
  }
}

function assertValidSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0) throw new ShapeError(`preprocess size must be a positive integer, got ${size}`);
}

/** torchvision's Resize(int): shorter side becomes `size`, longer side int(size · long / short). */
export function resizedDimensions(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfToEven(x: number): number {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The colour channels alone, as PIL's convert('RGB') leaves them (alpha dropped, values kept). */
function toRgb(pixels: RgbaImage): RgbaImage {
  if (pixels.channels === 3) return pixels;
  const count = pixels.width * pixels.height;
  const rgb = new Uint8Array(count * 3);
  const src = pixels.data;
  for (let i = 0, j = 0; i < count; i++, j += 4) {
    rgb[i * 3] = src[j]!;
    rgb[i * 3 + 1] = src[j + 1]!;
    rgb[i * 3 + 2] = src[j + 2]!;
  }
  return { width: pixels.width, height: pixels.height, data: rgb, channels: 3 };
}

/**
 * Resize so the shorter side equals `size` with PIL's antialiased bicubic filter. Alpha is dropped
 * first, so the result is always RGB (channels 3).
 */
export function resizeShorterSide(pixels: RgbaImage, size: number): RgbaImage {
  assertValidImage(pixels);
  assertValidSize(size);
  const rgb = toRgb(pixels);
  const target = resizedDimensions(rgb.width, rgb.height, size);
  const data = resampleBicubic(rgb.data, rgb.width, rgb.height, 3, target.width, target.height);
  return { width: target.width, height: target.height, data, channels: 3 };
}

/** torchvision's center_crop: top = round((H − size) / 2), left likewise, Python rounding. */
export function centerCrop(pixels: RgbaImage, size: number): RgbaImage {
  assertValidImage(pixels);
  assertValidSize(size);
  const { width, height, channels, data } = pixels;
  if (size > width || size > height) {
    throw new ShapeError(`cannot center-crop ${size}×${size} from a ${width}×${height} image; resize it first`);
  }
  const top = roundHalfToEven((height - size) / 2);
  const left = roundHalfToEven((width - size) / 2);
  const out = new Uint8Array(size * size * channels);
  const rowLength = size * channels;
  for (let y = 0; y < size; y++) {
    const start = ((top + y) * width + left) * channels;
    out.set(data.subarray(start, start + rowLength), y * rowLength);
  }
  return { width: size, height: size, data: out, channels };
}

/** The S×S RGBA picture the model sees (before normalization), e.g. for a thumbnail in the demo. */
export function preprocessToRgba(pixels: RgbaImage, size: number): RgbaImage {
  const crop = centerCrop(resizeShorterSide(pixels, size), size);
  const count = size * size;
  const rgba = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) {
    rgba[i * 4] = crop.data[i * 3]!;
    rgba[i * 4 + 1] = crop.data[i * 3 + 1]!;
    rgba[i * 4 + 2] = crop.data[i * 3 + 2]!;
    rgba[i * 4 + 3] = 255;
  }
  return { width: size, height: size, data: rgba, channels: 4 };
}

/**
 * Per channel, the 256 possible normalized values, computed in float32 step by step as
 * ToTensor (x / 255) and Normalize ((x − mean) / std) do in PyTorch.
 */
function normalizationTable(mean: number, std: number): Float32Array {
  const mean32 = Math.fround(mean);
  const std32 = Math.fround(std);
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(v / 255) - mean32) / std32;
  return table;
}

/** Decoded pixels → model input: Float32Array laid out [3, size, size]. */
export function preprocess(pixels: RgbaImage, opts: PreprocessOptions): Float32Array {
  const { size } = opts;
  const mean = opts.mean ?? OPENAI_MEAN;
  const std = opts.std ?? OPENAI_STD;
  if (mean.length !== 3 || std.length !== 3) {
    throw new ShapeError(`mean and std need 3 values (R, G, B), got ${mean.length} and ${std.length}`);
  }
  if (std.some((s) => !(s > 0))) throw new ShapeError(`std values must be positive, got [${std.join(', ')}]`);
  const crop = centerCrop(resizeShorterSide(pixels, size), size);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const table = normalizationTable(mean[c]!, std[c]!);
    const offset = c * plane;
    for (let i = 0; i < plane; i++) out[offset + i] = table[crop.data[i * 3 + c]!]!;
  }
  return out;
}
