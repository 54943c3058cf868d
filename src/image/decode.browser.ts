// Browser decoding to 8-bit RGBA with the stored colour values: no EXIF-ignoring, no colour
// management, no premultiplication, so the pixels are what PIL reads from the same file
// (up to the browser's JPEG decoder). Runs on the main thread and in workers.

import { ImageDecodeError } from '../errors';
import { assertDecodableSize, describeLeadingBytes, peekImageHeader } from './header';
import type { RgbaImage } from './types';

export type BrowserImageSource = Blob | ImageBitmap | ImageData | HTMLImageElement;

/** Enough of a file to reach the size in any PNG/GIF/WebP/BMP and in JPEGs with large EXIF/ICC blocks. */
const HEADER_PREFIX_BYTES = 1 << 20;

const BITMAP_OPTIONS: ImageBitmapOptions = {
  imageOrientation: 'from-image',
  colorSpaceConversion: 'none',
  premultiplyAlpha: 'none',
};

/** Refuses non-images and oversized images from their first bytes, before the browser decodes them. */
async function checkBlobHeader(blob: Blob): Promise<void> {
  const prefix = new Uint8Array(await blob.slice(0, HEADER_PREFIX_BYTES).arrayBuffer());
  try {
    const header = peekImageHeader(prefix);
    if (header === undefined && blob.size <= HEADER_PREFIX_BYTES) {
      throw new ImageDecodeError(`image file is truncated: it ends (${blob.size} bytes) before its header does`);
    }
  } catch (error) {
    // Formats we do not parse (AVIF, …) are left to the browser when the blob says it is an image.
    const unknownFormat = error instanceof ImageDecodeError && error.message.startsWith('not an image');
    if (!(unknownFormat && blob.type.startsWith('image/'))) throw error;
  }
}

function bitmapToRgba(bitmap: ImageBitmap): RgbaImage {
  const { width, height } = bitmap;
  assertDecodableSize(width, height, 'decoded');
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { colorSpace: 'srgb', willReadFrequently: true });
  if (context === null) throw new ImageDecodeError('could not create a 2D canvas to read the image pixels');
  context.drawImage(bitmap, 0, 0);
  const imageData = context.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
  return { width, height, data: imageData.data, channels: 4 };
}

async function decodeToBitmap(source: Blob | HTMLImageElement): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(source, BITMAP_OPTIONS);
  } catch (error) {
    const what =
      source instanceof Blob
        ? `${source.type || 'file'} starting with ${describeLeadingBytes(new Uint8Array(await source.slice(0, 8).arrayBuffer()))}`
        : 'image element';
    throw new ImageDecodeError(`the browser could not decode this ${what}: ${(error as Error).message}`);
  }
}

/**
 * A file, bitmap, ImageData or <img> → 8-bit RGBA. Throws ImageDecodeError for non-images and
 * undecodable files, ImageTooLargeError above MAX_IMAGE_PIXELS (checked from the header when
 * the source is a Blob, before decoding).
 */
export async function decodeImageSource(source: BrowserImageSource): Promise<RgbaImage> {
  if (isImageData(source)) {
    assertDecodableSize(source.width, source.height, 'ImageData');
    return { width: source.width, height: source.height, data: source.data, channels: 4 };
  }
  if (isImageBitmap(source)) return bitmapToRgba(source);
  if (source instanceof Blob) await checkBlobHeader(source);
  else if (!source.complete) await source.decode();
  const bitmap = await decodeToBitmap(source);
  try {
    return bitmapToRgba(bitmap);
  } finally {
    bitmap.close();
  }
}

// ImageData and ImageBitmap are missing in some contexts (ImageBitmap in old workers, both in Node).
function isImageData(source: BrowserImageSource): source is ImageData {
  return typeof ImageData !== 'undefined' && source instanceof ImageData;
}

function isImageBitmap(source: BrowserImageSource): source is ImageBitmap {
  return typeof ImageBitmap !== 'undefined' && source instanceof ImageBitmap;
}
