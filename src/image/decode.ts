// The decoders both platforms share: PNG, GIF and JPEG bytes → the image in its Pillow mode. Which
// formats are left to the platform (WebP, BMP) is the caller's business: Node refuses them by name,
// browsers hand them to createImageBitmap.

import { decodeGif } from './gif';
import { readImageHeader } from './header';
import { decodeJpeg, readJpegInfo } from './jpeg';
import { decodePng } from './png';
import type { DecodedImage } from './types';
import type { ImageFormat } from './header';

/** Formats decoded by our own code, identically in Node and browsers. */
export const SHARED_FORMATS: readonly ImageFormat[] = ['png', 'gif', 'jpeg'];

/**
 * Bytes of a PNG, GIF or JPEG → the image in its Pillow mode, or the format's name when it is one
 * we leave to the platform. The header's size is checked first (ImageTooLargeError above
 * MAX_IMAGE_PIXELS); ImageDecodeError for non-images, empty, truncated or corrupt files.
 */
export async function decodeSharedFormat(bytes: Uint8Array, compileJpegWasm: () => Promise<WebAssembly.Module>): Promise<DecodedImage | ImageFormat> {
  const header = readImageHeader(bytes);
  if (header.format === 'png') return decodePng(bytes);
  if (header.format === 'gif') return decodeGif(bytes);
  if (header.format === 'jpeg') return decodeJpeg(bytes, readJpegInfo(bytes), compileJpegWasm);
  return header.format;
}
