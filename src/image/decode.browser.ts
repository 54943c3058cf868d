// Browser decoding (main thread and workers). Files (Blobs) in PNG, GIF and JPEG go through the same
// decoders as Node (decode.ts), so they keep their Pillow mode and their stored pixels: createImageBitmap
// would convert to RGBA, apply the EXIF orientation and, for palette/alpha files, lose what OpenCLIP
// resizes on (and Chromium rotates JPEGs by their EXIF orientation even for imageOrientation 'none').
// Other formats (WebP, BMP, AVIF, …) are left to the browser's decoder, with stored colour values;
// Chromium leaves WebP pixels as stored (its EXIF orientation is recorded for preprocess's 'exif'
// option; a browser that rotates WebPs itself would give them upright). Bitmaps, ImageData and <img>
// elements carry no file mode: they are taken as RGB pixels, as the page shows them.

import jpegWasmUrl from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm?url';
import { ImageDecodeError } from '../errors';
import { decodeSharedFormat } from './decode';
import { assertDecodableSize, assertFileSize, describeLeadingBytes, peekImageHeader, sniffImageFormat } from './header';
import { readWebpExifOrientation } from './exif';
import type { DecodedImage, ExifOrientation, RgbaImage } from './types';

export type BrowserImageSource = Blob | ImageBitmap | ImageData | HTMLImageElement;

/** Enough of a file to reach the size in any PNG/GIF/WebP/BMP and in JPEGs with large EXIF/ICC blocks. */
const HEADER_PREFIX_BYTES = 1 << 20;

const BITMAP_OPTIONS: ImageBitmapOptions = {
  imageOrientation: 'from-image',
  colorSpaceConversion: 'none',
  premultiplyAlpha: 'none',
};

async function compileJpegWasm(): Promise<WebAssembly.Module> {
  let response: Response;
  try {
    response = await fetch(jpegWasmUrl);
  } catch (error) {
    throw jpegDecoderBlocked(error);
  }
  if (!response.ok) throw new ImageDecodeError(`the JPEG decoder could not be loaded (${jpegWasmUrl.slice(0, 64)}: HTTP ${response.status})`);
  try {
    return await WebAssembly.compile(await response.arrayBuffer());
  } catch (error) {
    throw jpegDecoderBlocked(error);
  }
}

/** The WebAssembly JPEG decoder refused (in a bundle it is a data: URL; a Content-Security-Policy may block both steps). */
function jpegDecoderBlocked(error: unknown): ImageDecodeError {
  return new ImageDecodeError(
    `the JPEG decoder (WebAssembly) could not be loaded: ${error instanceof Error ? error.message : String(error)}. ` +
      "A page with a Content-Security-Policy must allow script-src 'wasm-unsafe-eval' and connect-src data:.",
  );
}

/** Refuses non-images and oversized images from their first bytes, before anything decodes them. */
async function checkBlobHeader(blob: Blob): Promise<void> {
  assertFileSize(blob.size);
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

/** A file the browser decoded: "RGBA" (as Pillow opens WebP with alpha) when any pixel is not opaque, else "RGB". */
function asDecodedFile(rgba: RgbaImage, orientation: ExifOrientation): DecodedImage {
  const { width, height, data } = rgba;
  let opaque = true;
  for (let i = 3; i < data.length && opaque; i += 4) opaque = data[i] === 255;
  if (!opaque) return { width, height, mode: 'RGBA', data, orientation };
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set(data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width, height, mode: 'RGB', data: rgb, orientation };
}

async function decodeBlob(blob: Blob): Promise<DecodedImage> {
  await checkBlobHeader(blob);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (sniffImageFormat(bytes) !== null) {
    const decoded = await decodeSharedFormat(bytes, compileJpegWasm);
    if (typeof decoded !== 'string') return decoded;
  }
  const orientation = sniffImageFormat(bytes) === 'webp' ? readWebpExifOrientation(bytes) : 1;
  const bitmap = await decodeToBitmap(blob);
  try {
    return asDecodedFile(bitmapToRgba(bitmap), orientation);
  } finally {
    bitmap.close();
  }
}

/**
 * A file, bitmap, ImageData or <img> → pixels for preprocess. Files keep their Pillow mode (see
 * above). Throws ImageDecodeError for non-images and undecodable files, ImageTooLargeError above
 * MAX_IMAGE_PIXELS (checked from the header when the source is a Blob, before decoding).
 */
export async function decodeImageSource(source: BrowserImageSource): Promise<DecodedImage | RgbaImage> {
  if (isImageData(source)) {
    assertDecodableSize(source.width, source.height, 'ImageData');
    return { width: source.width, height: source.height, data: source.data, channels: 4 };
  }
  if (isImageBitmap(source)) return bitmapToRgba(source);
  if (source instanceof Blob) return decodeBlob(source);
  if (!source.complete) await source.decode();
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
