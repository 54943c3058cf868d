// Pillow's ImagingResample for 8-bit images with the BICUBIC filter, reproduced bit for bit:
// separable Keys cubic (a = -0.5) whose support widens with the downscale factor (antialiasing),
// per-output-pixel coefficients normalized to sum 1, then converted to 22-bit fixed point; two
// passes (horizontal, then vertical), each rounded and clipped to 8 bits.
// Reference: Pillow src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner).

/** Two bits of headroom for negative lobes / overshoot, eight for the result (Pillow's constant). */
const PRECISION_BITS = 32 - 8 - 2;
const ROUNDING_HALF = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT = 2;

function bicubicKernel(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Filter taps for one axis: output i reads `count[i]` inputs from `first[i]` with `weights[i*taps ..]`. */
interface AxisCoefficients {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  /** Fixed-point weights (scaled by 2^PRECISION_BITS), `taps` per output sample. */
  weights: Int32Array;
}

function precomputeCoefficients(inSize: number, outSize: number): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const real = new Float64Array(taps);
  const invFilterScale = 1 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    // C's (int) cast truncates toward zero; Math.trunc keeps that for slightly negative values.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicKernel((x + xmin - center + 0.5) * invFilterScale);
      real[x] = w;
      sum += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? real[x]! / sum : real[x]!;
      // Round half away from zero, then truncate, as normalize_coeffs_8bpc does.
      weights[out * taps + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    first[out] = xmin;
    count[out] = xmax;
  }
  return { taps, first, count, weights };
}

/** Pillow's clip8: drop the fraction (arithmetic shift = floor), clamp to 0..255. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over rows [rowStart, rowStart + rows) of `src` (width `srcWidth`, `channels` per pixel). */
function resampleRows(
  src: Uint8Array | Uint8ClampedArray,
  srcWidth: number,
  channels: number,
  rowStart: number,
  rows: number,
  coeffs: AxisCoefficients,
  outWidth: number,
): Uint8Array {
  const out = new Uint8Array(outWidth * rows * channels);
  const { taps, first, count, weights } = coeffs;
  for (let y = 0; y < rows; y++) {
    const srcRow = (y + rowStart) * srcWidth * channels;
    const outRow = y * outWidth * channels;
    for (let ox = 0; ox < outWidth; ox++) {
      const k0 = ox * taps;
      const n = count[ox]!;
      const base = srcRow + first[ox]! * channels;
      for (let c = 0; c < channels; c++) {
        let acc = ROUNDING_HALF;
        for (let i = 0, p = base + c; i < n; i++, p += channels) acc += src[p]! * weights[k0 + i]!;
        out[outRow + ox * channels + c] = clip8(acc);
      }
    }
  }
  return out;
}

/** Vertical pass: each output row mixes whole input rows, so walk rows outermost for cache locality. */
function resampleColumns(
  src: Uint8Array | Uint8ClampedArray,
  width: number,
  channels: number,
  rowOffset: number,
  coeffs: AxisCoefficients,
  outHeight: number,
): Uint8Array {
  const rowLength = width * channels;
  const out = new Uint8Array(rowLength * outHeight);
  const acc = new Int32Array(rowLength);
  const { taps, first, count, weights } = coeffs;
  for (let oy = 0; oy < outHeight; oy++) {
    acc.fill(ROUNDING_HALF);
    const k0 = oy * taps;
    const n = count[oy]!;
    const y0 = first[oy]! - rowOffset;
    for (let i = 0; i < n; i++) {
      const w = weights[k0 + i]!;
      const row = (y0 + i) * rowLength;
      for (let j = 0; j < rowLength; j++) acc[j]! += src[row + j]! * w;
    }
    const outRow = oy * rowLength;
    for (let j = 0; j < rowLength; j++) out[outRow + j] = clip8(acc[j]!);
  }
  return out;
}

/**
 * Resize interleaved 8-bit pixels to outWidth×outHeight exactly as PIL's
 * `Image.resize((outWidth, outHeight), Image.BICUBIC)` does. An axis whose size does not change
 * is not filtered (Pillow skips that pass).
 */
export function resampleBicubic(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  if (!needHorizontal && !needVertical) return Uint8Array.from(data);
  if (!needVertical) {
    return resampleRows(data, width, channels, 0, height, precomputeCoefficients(width, outWidth), outWidth);
  }
  const vertical = precomputeCoefficients(height, outHeight);
  if (!needHorizontal) return resampleColumns(data, width, channels, 0, vertical, outHeight);
  // Only the input rows the vertical filter reads need the horizontal pass.
  const rowOffset = vertical.first[0]!;
  const rows = vertical.first[outHeight - 1]! + vertical.count[outHeight - 1]! - rowOffset;
  const horizontal = precomputeCoefficients(width, outWidth);
  const narrowed = resampleRows(data, width, channels, rowOffset, rows, horizontal, outWidth);
  return resampleColumns(narrowed, outWidth, channels, rowOffset, vertical, outHeight);
}
