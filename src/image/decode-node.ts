// Node decoding: PNG, GIF and JPEG with the shared decoders (decode.ts), each file in the Pillow
// mode Pillow 9.4 opens it in. EXIF orientation is recorded, never applied (PreprocessOptions.orientation).

import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { CocaError, ImageDecodeError } from '../errors';
import { decodeSharedFormat } from './decode';
import { orientUpright } from './exif';
import { assertFileSize } from './header';
import type { DecodedImage } from './types';

export interface NodeDecodeOptions {
  /**
   * Turn the image upright by its EXIF orientation while decoding (default false: pixels as stored,
   * as PIL and OpenCLIP read them). The same as preprocess's `orientation: 'exif'`, for callers that
   * want the upright pixels themselves.
   */
  applyExifOrientation?: boolean;
}

async function compileJpegWasm(): Promise<WebAssembly.Module> {
  // Read the WASM ourselves: the Emscripten glue would otherwise fetch() it by URL.
  const wasmPath = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
  return WebAssembly.compile(await readFile(wasmPath));
}

/**
 * PNG, GIF or JPEG bytes → the image in its Pillow mode. The header's size is checked first:
 * ImageTooLargeError above MAX_IMAGE_PIXELS, ImageDecodeError for other formats and for empty,
 * truncated or corrupt files.
 */
export async function decodeImageBytes(bytes: Uint8Array, options: NodeDecodeOptions = {}): Promise<DecodedImage> {
  const decoded = await decodeSharedFormat(bytes, compileJpegWasm);
  if (typeof decoded !== 'string') return options.applyExifOrientation ? orientUpright(decoded) : decoded;
  throw new ImageDecodeError(`${decoded.toUpperCase()} images are not supported in Node; convert to PNG, JPEG or GIF`);
}

/** Reads and decodes an image file (PNG, GIF or JPEG). */
export async function decodeImageFile(path: string, options: NodeDecodeOptions = {}): Promise<DecodedImage> {
  let bytes: Uint8Array;
  try {
    assertFileSize((await stat(path)).size);
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof CocaError) {
      error.message = `${path}: ${error.message}`;
      throw error;
    }
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not an image file' : (error as Error).message;
    throw new ImageDecodeError(`${path}: ${reason}`);
  }
  try {
    return await decodeImageBytes(bytes, options);
  } catch (error) {
    if (error instanceof Error) error.message = `${path}: ${error.message}`;
    throw error;
  }
}
