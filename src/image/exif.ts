// EXIF orientation: read from a file's EXIF block (a TIFF structure) and, only when asked, applied
// the way Pillow's ImageOps.exif_transpose does. PIL's Image.open, and so OpenCLIP, never applies it;
// browsers do by default. The decoders record the tag and never rotate; preprocess applies it for
// `orientation: 'exif'`.

import { bandCount } from './modes';
import type { DecodedImage, ExifOrientation } from './types';

const ORIENTATION_TAG = 0x0112;
const TYPE_SHORT = 3;

/**
 * The Orientation tag of IFD0 in an EXIF block starting at its TIFF header ("II*\0" or "MM\0*"), or
 * 1 when the block is malformed, has no such tag or an out-of-range value (as browsers treat it).
 */
export function readExifOrientation(tiff: Uint8Array): ExifOrientation {
  if (tiff.length < 8) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const order = String.fromCharCode(tiff[0]!, tiff[1]!);
  if (order !== 'II' && order !== 'MM') return 1;
  const little = order === 'II';
  if (view.getUint16(2, little) !== 42) return 1;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const entries = view.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return 1;
    if (view.getUint16(entry, little) !== ORIENTATION_TAG) continue;
    if (view.getUint16(entry + 2, little) !== TYPE_SHORT) return 1;
    const value = view.getUint16(entry + 8, little);
    return value >= 1 && value <= 8 ? (value as ExifOrientation) : 1;
  }
  return 1;
}

/**
 * The Orientation of a WebP file's EXIF chunk (RIFF container, VP8X layout), or 1 without one.
 */
export function readWebpExifOrientation(bytes: Uint8Array): ExifOrientation {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 12; at + 8 <= bytes.length; ) {
    const fourcc = String.fromCharCode(...bytes.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    const data = bytes.subarray(at + 8, Math.min(at + 8 + size, bytes.length));
    if (fourcc === 'EXIF') {
      const exifHeader = String.fromCharCode(...data.subarray(0, 6)) === 'Exif\0\0';
      return readExifOrientation(exifHeader ? data.subarray(6) : data);
    }
    at += 8 + size + (size & 1);
  }
  return 1;
}

/**
 * The image turned upright: for orientation o, the transposition exif_transpose applies
 * (2 mirror, 3 rotate 180°, 4 flip, 5 transpose, 6 rotate 90° clockwise, 7 transverse,
 * 8 rotate 90° counter-clockwise). Pixels move whole; the mode and palette are kept.
 */
export function orientUpright(image: DecodedImage): DecodedImage {
  const o = image.orientation;
  if (o === 1) return image;
  const { width, height, data } = image;
  const bands = bandCount(image.mode);
  const swap = o >= 5;
  const outWidth = swap ? height : width;
  const outHeight = swap ? width : height;
  const out = data instanceof Int32Array ? new Int32Array(data.length) : new Uint8Array(data.length);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      // Source pixel (sx, sy) shown at (x, y) once upright.
      let sx: number;
      let sy: number;
      switch (o) {
        case 2: [sx, sy] = [width - 1 - x, y]; break;
        case 3: [sx, sy] = [width - 1 - x, height - 1 - y]; break;
        case 4: [sx, sy] = [x, height - 1 - y]; break;
        case 5: [sx, sy] = [y, x]; break;
        case 6: [sx, sy] = [y, height - 1 - x]; break;
        case 7: [sx, sy] = [width - 1 - y, height - 1 - x]; break;
        default: [sx, sy] = [width - 1 - y, x]; // 8
      }
      const from = (sy * width + sx) * bands;
      const to = (y * outWidth + x) * bands;
      for (let c = 0; c < bands; c++) out[to + c] = data[from + c]!;
    }
  }
  return { ...image, width: outWidth, height: outHeight, data: out, orientation: 1 };
}
