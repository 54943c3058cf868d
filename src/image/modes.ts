// Pillow 9.4's per-mode pixel rules (src/libImaging/Convert.c), for the steps OpenCLIP's transform
// takes in the file's own mode: RGBA/LA are premultiplied around a resize (Image.resize converts to
// RGBa/La and back), and everything becomes RGB last (convert('RGB') after the crop).

import type { ImageMode } from './types';

const BANDS: Record<ImageMode, number> = { '1': 1, L: 1, P: 1, I: 1, LA: 2, RGB: 3, RGBA: 4, CMYK: 4 };

/** Values stored per pixel for a mode (LA keeps two: gray and alpha). */
export function bandCount(mode: ImageMode): number {
  return BANDS[mode];
}

/** Pillow's MULDIV255: a·b/255 rounded, with shifts instead of a division. */
function mulDiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

function clip8(v: number): number {
  return v <= 0 ? 0 : v < 256 ? v : 255;
}

/** RGBA → RGBa / LA → La (rgbA2rgba, lA2la): each colour times alpha/255, in place on a copy. */
export function premultiplyAlpha(data: Uint8Array | Uint8ClampedArray, bands: number): Uint8Array {
  const out = Uint8Array.from(data);
  for (let p = 0; p < out.length; p += bands) {
    const alpha = out[p + bands - 1]!;
    for (let c = 0; c < bands - 1; c++) out[p + c] = mulDiv255(out[p + c]!, alpha);
  }
  return out;
}

/** RGBa → RGBA / La → LA (rgba2rgbA, la2lA): divide back by alpha, except at alpha 0 and 255. */
export function unpremultiplyAlpha(data: Uint8Array, bands: number): Uint8Array {
  for (let p = 0; p < data.length; p += bands) {
    const alpha = data[p + bands - 1]!;
    if (alpha === 0 || alpha === 255) continue;
    for (let c = 0; c < bands - 1; c++) data[p + c] = clip8(Math.trunc((255 * data[p + c]!) / alpha));
  }
  return data;
}

/**
 * The 256-entry RGB palette Pillow uses for a file's palette of any length: the file's entries,
 * then its initial gray ramp (ImagingPaletteNew) for indices the file does not define.
 */
export function fullPalette(filePalette: Uint8Array): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) palette.fill(i, i * 3, i * 3 + 3);
  palette.set(filePalette.subarray(0, palette.length));
  return palette;
}

/**
 * convert('RGB') of pixels in `mode`: 1 → 0/255, L/LA → gray (alpha dropped), P → palette,
 * RGBA → colour kept as is (no compositing), CMYK → Pillow's cmyk2rgb, I → clipped to 0..255.
 */
export function convertToRgb(mode: ImageMode, data: Uint8Array | Uint8ClampedArray | Int32Array, pixels: number, palette?: Uint8Array): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  const bands = bandCount(mode);
  for (let p = 0; p < pixels; p++) {
    const at = p * bands;
    const to = p * 3;
    switch (mode) {
      case 'RGB':
      case 'RGBA':
        rgb[to] = data[at]!;
        rgb[to + 1] = data[at + 1]!;
        rgb[to + 2] = data[at + 2]!;
        break;
      case 'P': {
        const entry = data[at]! * 3;
        rgb[to] = palette![entry]!;
        rgb[to + 1] = palette![entry + 1]!;
        rgb[to + 2] = palette![entry + 2]!;
        break;
      }
      case 'CMYK': {
        const notBlack = 255 - data[at + 3]!;
        for (let c = 0; c < 3; c++) rgb[to + c] = clip8(notBlack - mulDiv255(data[at + c]!, notBlack));
        break;
      }
      case '1':
        rgb.fill(data[at] !== 0 ? 255 : 0, to, to + 3);
        break;
      default: // L, LA, I
        rgb.fill(clip8(data[at]!), to, to + 3);
    }
  }
  return rgb;
}
