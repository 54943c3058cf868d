// Node decoders for PNG and JPEG that give the same pixels as PIL (Pillow 9.4) does:
// - PNG with pngjs: palette, grayscale and low bit depths expand as PIL's convert('RGB') would;
//   16-bit samples keep their high byte, as PIL's RGB;16B unpacker does.
// - JPEG with libjpeg-turbo's algorithms (mozjpeg, compiled to WASM by @jsquash/jpeg): ISLOW integer
//   IDCT and fancy upsampling, PIL's defaults. On shared/images/rocket.jpg its preprocessed output
//   matches OpenCLIP's exactly, where jpeg-js is off by up to 3 levels per pixel.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PNG } from 'pngjs';
import mozjpegModuleFactory from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { ImageDecodeError } from '../errors';
import { readImageHeader } from './header';
import type { RgbaImage } from './types';

export interface NodeDecodeOptions {
  /**
   * Rotate/flip JPEGs by their EXIF orientation, as browsers do with imageOrientation 'from-image'
   * (so the CLI and the demo see the same picture). PIL, and thus OpenCLIP, ignores the tag; pass
   * false to reproduce that. Default true.
   */
  applyExifOrientation?: boolean;
}

/** The slice of the Emscripten module that @jsquash/jpeg's decoder exposes. */
interface MozJpegModule {
  decode(data: Uint8Array, applyOrientation: boolean): { width: number; height: number; data: Uint8ClampedArray } | null;
}
type MozJpegModuleFactory = (options: {
  noInitialRun: boolean;
  instantiateWasm: (imports: WebAssembly.Imports, done: (instance: WebAssembly.Instance) => void) => WebAssembly.Exports;
  print: (message: string) => void;
  printErr: (message: string) => void;
}) => Promise<MozJpegModule>;

/** libjpeg's warnings and errors for the decode in progress (decoding is synchronous, so one at a time). */
let jpegMessages: string[] = [];
let jpegModule: Promise<MozJpegModule> | undefined;

function loadJpegModule(): Promise<MozJpegModule> {
  jpegModule ??= (async () => {
    // Read the WASM ourselves: the Emscripten glue would otherwise fetch() it by URL.
    const wasmPath = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
    const wasm = await WebAssembly.compile(await readFile(wasmPath));
    const factory = mozjpegModuleFactory as unknown as MozJpegModuleFactory;
    return factory({
      noInitialRun: true,
      instantiateWasm: (imports, done) => {
        const instance = new WebAssembly.Instance(wasm, imports);
        done(instance);
        return instance.exports;
      },
      print: (message) => jpegMessages.push(message),
      printErr: (message) => jpegMessages.push(message),
    });
  })().catch((error: unknown) => {
    jpegModule = undefined; // let a later call retry
    throw error;
  });
  return jpegModule;
}

async function decodeJpeg(bytes: Uint8Array, applyExifOrientation: boolean): Promise<RgbaImage> {
  const module = await loadJpegModule();
  jpegMessages = [];
  let decoded: ReturnType<MozJpegModule['decode']>;
  try {
    decoded = module.decode(bytes, applyExifOrientation);
  } catch (error) {
    // libjpeg's error_exit prints its message, then exits the WASM call with a non-Error value.
    const reason = jpegMessages.join('; ') || (error instanceof Error ? error.message : String(error));
    throw new ImageDecodeError(`JPEG could not be decoded: ${reason}`);
  }
  const messages = jpegMessages;
  jpegMessages = [];
  if (decoded === null) throw new ImageDecodeError(`JPEG could not be decoded: ${messages.join('; ') || 'no reason given'}`);
  // libjpeg only warns and fills the rest with grey; PIL refuses such files ("image file is truncated").
  if (messages.some((m) => m.includes('Premature end'))) {
    throw new ImageDecodeError('JPEG file is truncated: the image data ends before the last row');
  }
  return { width: decoded.width, height: decoded.height, data: decoded.data, channels: 4 };
}

function decodePng(bytes: Uint8Array): RgbaImage {
  const bitDepth = bytes[24];
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    // 16-bit samples come back unscaled so we can keep the high byte (pngjs would round instead).
    png = PNG.sync.read(buffer, { skipRescale: bitDepth === 16 });
  } catch (error) {
    throw new ImageDecodeError(`PNG could not be decoded: ${error instanceof Error ? error.message : String(error)}`);
  }
  const samples = png.data as Uint8Array | Uint16Array;
  const data = samples instanceof Uint16Array ? Uint8Array.from(samples, (v) => v >> 8) : samples;
  return { width: png.width, height: png.height, data, channels: 4 };
}

/**
 * PNG or JPEG bytes → 8-bit RGBA. The header's size is checked first: ImageTooLargeError above
 * MAX_IMAGE_PIXELS, ImageDecodeError for non-images, empty, truncated or corrupt files.
 */
export async function decodeImageBytes(bytes: Uint8Array, options: NodeDecodeOptions = {}): Promise<RgbaImage> {
  const header = readImageHeader(bytes);
  if (header.format === 'png') return decodePng(bytes);
  if (header.format === 'jpeg') return decodeJpeg(bytes, options.applyExifOrientation ?? true);
  throw new ImageDecodeError(`${header.format.toUpperCase()} images are not supported in Node; convert to PNG or JPEG`);
}

/** Reads and decodes an image file (PNG or JPEG). */
export async function decodeImageFile(path: string, options: NodeDecodeOptions = {}): Promise<RgbaImage> {
  const bytes = await readFile(path);
  try {
    return await decodeImageBytes(bytes, options);
  } catch (error) {
    if (error instanceof Error) error.message = `${path}: ${error.message}`;
    throw error;
  }
}
