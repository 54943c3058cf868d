// OpenCLIP v2.24's eval transform (`image_transform(S, is_train=False)`), matched to the bit, on an
// image in its own Pillow mode (see shared/docs/COCA.md "Image preprocessing"):
//   'shortest': torchvision Resize(S) (shorter side to S) + CenterCrop(S)
//   'longest':  ResizeKeepRatio(S, longest=1) + CenterCropOrPad(S, fill=fill_color)
//   'squash':   Resize((S, S))
// each resizing with Pillow's Image.resize (palette and bilevel images always nearest, RGBA/LA
// premultiplied), then convert('RGB'), ToTensor, Normalize(mean, std). The resize computes only the
// pixels the crop keeps, so a 20000×1 file costs S×S, not the 4.48 M×224 image Pillow would build.

import { ImageTooLargeError, ShapeError } from '../errors';
import { orientUpright } from './exif';
import { bandCount, convertToRgb, premultiplyAlpha, unpremultiplyAlpha } from './modes';
import { resampleNearestWindow, resampleWindow, type OutputWindow, type Samples } from './resample';
import type { DecodedImage, ImageInput, PreprocessOptions, RgbaImage } from './types';

/** OpenAI CLIP's per-channel statistics, used by the CoCa checkpoints' preprocess config. */
export const OPENAI_MEAN: readonly number[] = [0.48145466, 0.4578275, 0.40821073];
export const OPENAI_STD: readonly number[] = [0.26862954, 0.26130258, 0.27577711];

/** Largest model input side: 3·4096² float32 values are 200 MB, past any CLIP-family model (224–896). */
export const MAX_PREPROCESS_SIZE = 4096;

/**
 * Largest side of the (virtual) resized image. Pillow itself refuses resizes past ~53 M pixels per
 * side (its coefficient table overflows); this bound keeps our per-axis tables and the nearest
 * filter's position walk (one addition per pixel, from pixel 0) to a few tens of milliseconds.
 */
export const MAX_RESIZED_SIDE = 1 << 24;

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

function isDecoded(input: ImageInput): input is DecodedImage {
  return 'mode' in input;
}

/** Raw RGB(A) pixels as the Pillow "RGB" image they stand for (alpha dropped, values kept). */
function asDecoded(input: ImageInput): DecodedImage {
  if (isDecoded(input)) return input;
  const { width, height, data, channels } = input;
  if (channels === 3) return { width, height, mode: 'RGB', data, orientation: 1 };
  const count = width * height;
  const rgb = new Uint8Array(count * 3);
  for (let i = 0, j = 0; i < count; i++, j += 4) {
    rgb[i * 3] = data[j]!;
    rgb[i * 3 + 1] = data[j + 1]!;
    rgb[i * 3 + 2] = data[j + 2]!;
  }
  return { width, height, mode: 'RGB', data: rgb, orientation: 1 };
}

function assertValidImage(input: ImageInput): void {
  const { width, height, data } = input;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ShapeError(`image must have positive integer width and height, got ${width}×${height}`);
  }
  const bands = isDecoded(input) ? bandCount(input.mode) : input.channels;
  if (!isDecoded(input) && bands !== 3 && bands !== 4) throw new ShapeError(`image must have 3 or 4 channels, got ${bands}`);
  if (data.length !== width * height * bands) {
    throw new ShapeError(`image data holds ${data.length} values, expected width·height·channels = ${width}·${height}·${bands}`);
  }
  if (isDecoded(input) && input.mode === 'P' && (input.palette === undefined || input.palette.length !== 256 * 3)) {
    throw new ShapeError('a palette ("P") image needs its 256-entry RGB palette');
  }
}

export function assertValidSize(size: number): void {
  if (!Number.isInteger(size) || size <= 0) throw new ShapeError(`preprocess size must be a positive integer, got ${size}`);
  if (size > MAX_PREPROCESS_SIZE) {
    throw new ImageTooLargeError(`preprocess size ${size} is above the ${MAX_PREPROCESS_SIZE} limit; models take 224–896`);
  }
}

/** What to compute: the resized size, the window of it that survives the crop, and padding around it. */
export interface ResizePlan {
  resizedWidth: number;
  resizedHeight: number;
  window: OutputWindow;
  /** Left and top padding of the window inside the S×S output ('longest' only; 0 otherwise). */
  padLeft: number;
  padTop: number;
}

/** torchvision's crop offset: round((resized − S) / 2) with Python rounding; negative = padding. */
function planAxis(resized: number, size: number): { offset: number; pad: number; length: number } {
  // center_crop_or_pad: pad (S − n) // 2 before when the image is smaller, else crop at round((n − S) / 2).
  if (resized < size) return { offset: 0, pad: Math.floor((size - resized) / 2), length: resized };
  return { offset: roundHalfToEven((resized - size) / 2), pad: 0, length: size };
}

export function planResize(width: number, height: number, opts: PreprocessOptions): ResizePlan {
  const { size } = opts;
  const mode = opts.resizeMode ?? 'shortest';
  let target: { width: number; height: number };
  if (mode === 'squash') target = { width: size, height: size };
  else if (mode === 'shortest') target = resizedDimensions(width, height, size);
  else {
    // ResizeKeepRatio(longest=1): ratio = max(h/S, w/S) (·1 + min·0, which adds exactly 0), sides round(x / ratio).
    const ratio = Math.max(height / size, width / size);
    target = { width: roundHalfToEven(width / ratio), height: roundHalfToEven(height / ratio) };
  }
  if (target.width === 0 || target.height === 0 || Math.max(target.width, target.height) > MAX_RESIZED_SIDE) {
    throw new ImageTooLargeError(
      `a ${width}×${height} image is too elongated: resizing it (${mode}) to ${size} gives ${target.width}×${target.height} pixels; ` +
        'crop it closer to square first',
    );
  }
  const x = planAxis(target.width, size);
  const y = planAxis(target.height, size);
  return {
    resizedWidth: target.width,
    resizedHeight: target.height,
    window: { x: x.offset, y: y.offset, width: x.length, height: y.length },
    padLeft: x.pad,
    padTop: y.pad,
  };
}

/** Image.resize in the image's mode, restricted to the window (see resample.ts). */
function resizeWindow(image: DecodedImage, plan: ResizePlan, opts: PreprocessOptions): Samples {
  const { width, height, mode, data } = image;
  const { resizedWidth: outWidth, resizedHeight: outHeight, window } = plan;
  const bands = bandCount(mode);
  // Pillow's resize returns a copy when the size does not change: no filter, no premultiply round trip.
  const unchanged = outWidth === width && outHeight === height;
  const interpolation = mode === 'P' || mode === '1' ? 'nearest' : (opts.interpolation ?? 'bicubic');
  if (unchanged || interpolation === 'nearest') {
    return resampleNearestWindow(data, width, height, bands, outWidth, outHeight, window);
  }
  if (mode === 'RGBA' || mode === 'LA') {
    const premultiplied = premultiplyAlpha(data as Uint8Array, bands);
    const resized = resampleWindow(premultiplied, width, height, bands, outWidth, outHeight, interpolation, window);
    return unpremultiplyAlpha(resized as Uint8Array, bands);
  }
  return resampleWindow(data, width, height, bands, outWidth, outHeight, interpolation, window);
}

/** The window placed at its padding offset in an S×S image filled with `fill` (ImageOps.expand). */
function padTo(window: Samples, plan: ResizePlan, size: number, bands: number, fill: number): Samples {
  if (plan.window.width === size && plan.window.height === size) return window;
  const out = window instanceof Int32Array ? new Int32Array(size * size * bands) : new Uint8Array(size * size * bands);
  out.fill(window instanceof Int32Array ? fill : Math.min(Math.max(fill, 0), 255));
  const rowLength = plan.window.width * bands;
  for (let y = 0; y < plan.window.height; y++) {
    out.set(window.subarray(y * rowLength, (y + 1) * rowLength), ((plan.padTop + y) * size + plan.padLeft) * bands);
  }
  return out;
}

/** OpenCLIP's fill_color for 'longest' padding, in the image's own mode (checked to be an integer). */
export function fillColor(opts: PreprocessOptions): number {
  const fill = opts.fillColor ?? 0;
  if (!Number.isInteger(fill)) throw new ShapeError(`fillColor must be an integer, got ${fill}`);
  return fill;
}

/** The S×S RGB pixels the model sees (before normalization), row-major, 3 bytes per pixel. */
function transformToRgb(input: ImageInput, opts: PreprocessOptions): Uint8Array {
  assertValidImage(input);
  assertValidSize(opts.size);
  const fill = fillColor(opts);
  let image = asDecoded(input);
  if (opts.orientation === 'exif') image = orientUpright(image);
  const plan = planResize(image.width, image.height, opts);
  const bands = bandCount(image.mode);
  const window = resizeWindow(image, plan, opts);
  const square = padTo(window, plan, opts.size, bands, fill);
  return convertToRgb(image.mode, square, opts.size * opts.size, image.palette);
}

/** The S×S RGBA picture the model sees (before normalization), e.g. for a thumbnail in the demo. */
export function preprocessToRgba(pixels: ImageInput, sizeOrOptions: number | PreprocessOptions): RgbaImage {
  const opts = typeof sizeOrOptions === 'number' ? { size: sizeOrOptions } : sizeOrOptions;
  const rgb = transformToRgb(pixels, opts);
  const count = opts.size * opts.size;
  const rgba = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) {
    rgba[i * 4] = rgb[i * 3]!;
    rgba[i * 4 + 1] = rgb[i * 3 + 1]!;
    rgba[i * 4 + 2] = rgb[i * 3 + 2]!;
    rgba[i * 4 + 3] = 255;
  }
  return { width: opts.size, height: opts.size, data: rgba, channels: 4 };
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

/** The R, G and B normalization tables of the options (OpenAI's mean and std unless given). */
export function normalizationTables(opts: Pick<PreprocessOptions, 'mean' | 'std'>): [Float32Array, Float32Array, Float32Array] {
  const mean = opts.mean ?? OPENAI_MEAN;
  const std = opts.std ?? OPENAI_STD;
  if (mean.length !== 3 || std.length !== 3) {
    throw new ShapeError(`mean and std need 3 values (R, G, B), got ${mean.length} and ${std.length}`);
  }
  if (std.some((s) => !(s > 0))) throw new ShapeError(`std values must be positive, got [${std.join(', ')}]`);
  return [normalizationTable(mean[0]!, std[0]!), normalizationTable(mean[1]!, std[1]!), normalizationTable(mean[2]!, std[2]!)];
}

/** Decoded pixels → model input: Float32Array laid out [3, size, size]. */
export function preprocess(pixels: ImageInput, opts: PreprocessOptions): Float32Array {
  const tables = normalizationTables(opts);
  const rgb = transformToRgb(pixels, opts);
  const plane = opts.size * opts.size;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const table = tables[c]!;
    const offset = c * plane;
    for (let i = 0; i < plane; i++) out[offset + i] = table[rgb[i * 3 + c]!]!;
  }
  return out;
}
