// Pillow 9.4's Image.resize, reproduced bit for bit, for any window of the output (so a resize
// followed by a crop computes only the pixels the crop keeps, with the values the full resize gives):
// - ImagingResample (src/libImaging/Resample.c) for BICUBIC and BILINEAR: separable filters whose
//   support widens with the downscale factor (antialiasing), per-output-pixel coefficients normalized
//   to sum 1; 8-bit images convert them to 22-bit fixed point and round/clip each pass to 8 bits,
//   32-bit integer images ('I') keep doubles and round half away from zero (ROUND_UP).
// - NEAREST (ImagingScaleAffine in Geometry.c): source x = (int)(a/2 + x·a) with the position
//   accumulated by repeated addition, as the C loop does, so it must be walked from pixel 0.

/** Two bits of headroom for negative lobes / overshoot, eight for the result (Pillow's constant). */
const PRECISION_BITS = 32 - 8 - 2;
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);

export type ResampleFilter = 'bicubic' | 'bilinear';

interface FilterKernel {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<ResampleFilter, FilterKernel> = {
  bicubic: {
    support: 2,
    weight(x) {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: {
    support: 1,
    weight(x) {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
};

/** The part of an output image to compute: columns [x, x + width), rows [y, y + height). */
export interface OutputWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixel data with `channels` interleaved values per pixel; Int32Array only for Pillow's 'I' mode. */
export type Samples = Uint8Array | Uint8ClampedArray | Int32Array;

/** Filter taps for the window's outputs along one axis: output i reads `count[i]` inputs from `first[i]`. */
interface AxisCoefficients {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  /** Normalized weights, `taps` per output sample. */
  weights: Float64Array;
}

function precomputeCoefficients(inSize: number, outSize: number, from: number, length: number, filter: FilterKernel): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(length);
  const count = new Int32Array(length);
  const weights = new Float64Array(length * taps);
  const invFilterScale = 1 / filterScale;
  for (let i = 0; i < length; i++) {
    const center = (from + i + 0.5) * scale;
    // C's (int) cast truncates toward zero; Math.trunc keeps that for slightly negative values.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * invFilterScale);
      weights[i * taps + x] = w;
      sum += w;
    }
    if (sum !== 0) for (let x = 0; x < xmax; x++) weights[i * taps + x]! /= sum;
    first[i] = xmin;
    count[i] = xmax;
  }
  return { taps, first, count, weights };
}

/** normalize_coeffs_8bpc: round half away from zero, then truncate, at 22 fractional bits. */
function toFixedPoint(coeffs: AxisCoefficients): Int32Array {
  const fixed = new Int32Array(coeffs.weights.length);
  const one = 1 << PRECISION_BITS;
  coeffs.weights.forEach((w, i) => (fixed[i] = Math.trunc(w < 0 ? -0.5 + w * one : 0.5 + w * one)));
  return fixed;
}

/** Pillow's clip8: drop the fraction (arithmetic shift = floor), clamp to 0..255. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** ROUND_UP of Resample.c: (int)(f ± 0.5), i.e. half away from zero. */
function roundUp(f: number): number {
  return Math.trunc(f >= 0 ? f + 0.5 : f - 0.5);
}

/**
 * One pass along x: for rows [rowStart, rowStart + rows) of `src`, the window's columns.
 * 8-bit data gives 8-bit output (fixed point), Int32 data gives Int32 (doubles).
 */
function horizontalPass(src: Samples, srcWidth: number, channels: number, rowStart: number, rows: number, coeffs: AxisCoefficients): Samples {
  const outWidth = coeffs.first.length;
  const { taps, first, count } = coeffs;
  const wide = src instanceof Int32Array;
  const out = wide ? new Int32Array(outWidth * rows * channels) : new Uint8Array(outWidth * rows * channels);
  const weights = wide ? coeffs.weights : toFixedPoint(coeffs);
  for (let y = 0; y < rows; y++) {
    const srcRow = (y + rowStart) * srcWidth * channels;
    const outRow = y * outWidth * channels;
    for (let ox = 0; ox < outWidth; ox++) {
      const k0 = ox * taps;
      const n = count[ox]!;
      const base = srcRow + first[ox]! * channels;
      for (let c = 0; c < channels; c++) {
        let acc = wide ? 0 : ROUNDING_HALF;
        for (let i = 0, p = base + c; i < n; i++, p += channels) acc += src[p]! * weights[k0 + i]!;
        out[outRow + ox * channels + c] = wide ? roundUp(acc) : clip8(acc);
      }
    }
  }
  return out;
}

/** One pass along y over `src` whose first row is input row `rowOffset`: each output row mixes whole rows. */
function verticalPass(src: Samples, width: number, channels: number, rowOffset: number, coeffs: AxisCoefficients): Samples {
  const rowLength = width * channels;
  const outHeight = coeffs.first.length;
  const wide = src instanceof Int32Array;
  const out = wide ? new Int32Array(rowLength * outHeight) : new Uint8Array(rowLength * outHeight);
  const weights = wide ? coeffs.weights : toFixedPoint(coeffs);
  const acc = wide ? new Float64Array(rowLength) : new Int32Array(rowLength);
  const { taps, first, count } = coeffs;
  for (let oy = 0; oy < outHeight; oy++) {
    acc.fill(wide ? 0 : ROUNDING_HALF);
    const k0 = oy * taps;
    const n = count[oy]!;
    const y0 = first[oy]! - rowOffset;
    for (let i = 0; i < n; i++) {
      const w = weights[k0 + i]!;
      const row = (y0 + i) * rowLength;
      for (let j = 0; j < rowLength; j++) acc[j]! += src[row + j]! * w;
    }
    const outRow = oy * rowLength;
    for (let j = 0; j < rowLength; j++) out[outRow + j] = wide ? roundUp(acc[j]!) : clip8(acc[j]!);
  }
  return out;
}

/** The window's columns (or all of `src` when the window is the whole width) without filtering. */
function selectColumns(src: Samples, width: number, rows: number, channels: number, x: number, columns: number): Samples {
  if (x === 0 && columns === width) return src;
  const out = src instanceof Int32Array ? new Int32Array(columns * rows * channels) : new Uint8Array(columns * rows * channels);
  for (let y = 0; y < rows; y++) {
    const start = (y * width + x) * channels;
    out.set(src.subarray(start, start + columns * channels), y * columns * channels);
  }
  return out;
}

/**
 * `Image.resize((outWidth, outHeight), BICUBIC | BILINEAR)` restricted to `window`. An axis whose
 * size does not change is not filtered (Pillow skips that pass); horizontal runs first. The result
 * may share memory with `data` when neither axis changes size.
 */
export function resampleWindow(
  data: Samples,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filterName: ResampleFilter,
  window: OutputWindow,
): Samples {
  const filter = FILTERS[filterName];
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  let rowOffset = window.y;
  let rows = window.height;
  let vertical: AxisCoefficients | undefined;
  if (needVertical) {
    vertical = precomputeCoefficients(height, outHeight, window.y, window.height, filter);
    // Only the input rows the vertical filter reads need the horizontal pass.
    rowOffset = vertical.first[0]!;
    rows = vertical.first[window.height - 1]! + vertical.count[window.height - 1]! - rowOffset;
  }
  const rowsData = selectRows(data, width, channels, rowOffset, rows);
  const narrowed = needHorizontal
    ? horizontalPass(rowsData, width, channels, 0, rows, precomputeCoefficients(width, outWidth, window.x, window.width, filter))
    : selectColumns(rowsData, width, rows, channels, window.x, window.width);
  if (vertical === undefined) return narrowed;
  return verticalPass(narrowed, window.width, channels, rowOffset, vertical);
}

function selectRows(data: Samples, width: number, channels: number, first: number, rows: number): Samples {
  const rowLength = width * channels;
  return data.subarray(first * rowLength, (first + rows) * rowLength);
}

/**
 * Source index of each output position 0..end-1 along one axis for Pillow's NEAREST resize:
 * position starts at scale/2 and grows by `scale` per pixel (accumulated, as in C); -1 = outside
 * the source (Pillow leaves such pixels 0).
 */
function nearestIndices(inSize: number, outSize: number, from: number, length: number): Int32Array {
  const scale = inSize / outSize;
  const indices = new Int32Array(length);
  let position = scale * 0.5;
  for (let i = 0; i < from; i++) position += scale;
  for (let i = 0; i < length; i++, position += scale) {
    const index = position < 0 ? -1 : Math.trunc(position);
    indices[i] = index < inSize ? index : -1;
  }
  return indices;
}

/** `Image.resize((outWidth, outHeight), NEAREST)` restricted to `window` (any mode: values are copied). */
export function resampleNearestWindow(
  data: Samples,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  window: OutputWindow,
): Samples {
  const columns = nearestIndices(width, outWidth, window.x, window.width);
  const rowIndices = nearestIndices(height, outHeight, window.y, window.height);
  const out = data instanceof Int32Array ? new Int32Array(window.width * window.height * channels) : new Uint8Array(window.width * window.height * channels);
  for (let y = 0; y < window.height; y++) {
    const sy = rowIndices[y]!;
    if (sy < 0) continue;
    for (let x = 0; x < window.width; x++) {
      const sx = columns[x]!;
      if (sx < 0) continue;
      const from = (sy * width + sx) * channels;
      const to = (y * window.width + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return out;
}

/** Bits of fraction in the fixed-point taps of AxisTaps (a weight of 1 is 1 << RESAMPLE_PRECISION_BITS). */
export const RESAMPLE_PRECISION_BITS = PRECISION_BITS;

/**
 * One axis of an 8-bit resize as integer taps: output i is clip8((2^(P−1) + Σ_k input[first[i] + k] ·
 * weights[i·taps + k]) >> P) over k < count[i], P = RESAMPLE_PRECISION_BITS. This is exactly the pass
 * resampleWindow runs for bicubic and bilinear, a one-tap copy for an axis whose size does not change (Pillow
 * skips that pass) and for nearest (count 0 where Pillow leaves a pixel 0): what a GPU resampler needs to
 * give Pillow's values.
 */
export interface AxisTaps {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

export function axisTaps(inSize: number, outSize: number, from: number, length: number, filter: ResampleFilter | 'nearest'): AxisTaps {
  if (filter !== 'nearest' && inSize !== outSize) {
    const coeffs = precomputeCoefficients(inSize, outSize, from, length, FILTERS[filter]);
    return { taps: coeffs.taps, first: coeffs.first, count: coeffs.count, weights: toFixedPoint(coeffs) };
  }
  const indices = nearestIndices(inSize, outSize, from, length);
  const first = new Int32Array(length);
  const count = new Int32Array(length);
  indices.forEach((index, i) => {
    first[i] = Math.max(index, 0);
    count[i] = index < 0 ? 0 : 1;
  });
  return { taps: 1, first, count, weights: new Int32Array(length).fill(1 << PRECISION_BITS) };
}

/**
 * Resize interleaved 8-bit pixels to outWidth×outHeight exactly as PIL's
 * `Image.resize((outWidth, outHeight), Image.BICUBIC)` does.
 */
export function resampleBicubic(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const window = { x: 0, y: 0, width: outWidth, height: outHeight };
  return Uint8Array.from(resampleWindow(data, width, height, channels, outWidth, outHeight, 'bicubic', window));
}
