// JPEG decoding as Pillow 9.4 reads files, in Node and browsers alike: libjpeg-turbo's algorithms
// (mozjpeg compiled to WASM by @jsquash/jpeg) with PIL's defaults, ISLOW integer IDCT and fancy
// upsampling, so the pixels are PIL's (on shared/images/rocket.jpg the preprocessed output matches
// OpenCLIP's exactly, where jpeg-js is off by up to 3 levels). 1-component files are mode "L", 3 are
// "RGB"; 4-component (CMYK/YCCK) files are decoded by cmyk-jpeg.ts. The EXIF orientation is recorded,
// never applied. The platform supplies the compiled WASM (decode-node.ts, decode.browser.ts).

import mozjpegModuleFactory from '@jsquash/jpeg/codec/dec/mozjpeg_dec.js';
import { ImageDecodeError } from '../errors';
import { readExifOrientation } from './exif';
import { isStartOfFrame, walkJpegSegments } from './header';
import { decodeCmykJpeg } from './jpeg-cmyk';
import type { DecodedImage, ExifOrientation } from './types';

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

function loadJpegModule(compileWasm: () => Promise<WebAssembly.Module>): Promise<MozJpegModule> {
  jpegModule ??= (async () => {
    const wasm = await compileWasm();
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

/** What the marker segments before the first scan say: component count, 8×8 block count, EXIF orientation. */
export interface JpegInfo {
  components: number;
  /** Blocks over all components: every one costs at least one bit of entropy-coded data. */
  blocks: number;
  orientation: ExifOrientation;
}

const EXIF_PREFIX = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

export function readJpegInfo(bytes: Uint8Array): JpegInfo {
  let components = 0;
  let blocks = 0;
  let orientation: ExifOrientation = 1;
  walkJpegSegments(bytes, (marker, start, end) => {
    if (marker === 0xe1 && orientation === 1 && EXIF_PREFIX.every((b, i) => bytes[start + i] === b)) {
      orientation = readExifOrientation(bytes.subarray(start + 6, end));
    }
    if (!isStartOfFrame(marker)) return false;
    const height = (bytes[start + 1]! << 8) | bytes[start + 2]!;
    const width = (bytes[start + 3]! << 8) | bytes[start + 4]!;
    components = bytes[start + 5] ?? 0;
    const sampling = Array.from({ length: components }, (_, i) => bytes[start + 7 + i * 3] ?? 0x11);
    const maxH = Math.max(1, ...sampling.map((s) => s >> 4));
    const maxV = Math.max(1, ...sampling.map((s) => s & 15));
    for (const s of sampling) blocks += Math.ceil(Math.ceil((width * (s >> 4)) / maxH) / 8) * Math.ceil(Math.ceil((height * (s & 15)) / maxV) / 8);
    return true;
  });
  return { components, blocks, orientation };
}

/** mozjpeg's RGBA output → Pillow's "L" or "RGB" bytes. */
function dropChannels(rgba: Uint8ClampedArray, keep: 1 | 3): Uint8Array {
  const pixels = rgba.length / 4;
  const out = new Uint8Array(pixels * keep);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < keep; c++) out[p * keep + c] = rgba[p * 4 + c]!;
  return out;
}

/** A JPEG → mode "L", "RGB" or "CMYK", as Pillow opens it. The header's size has already been checked. */
export async function decodeJpeg(bytes: Uint8Array, info: JpegInfo, compileWasm: () => Promise<WebAssembly.Module>): Promise<DecodedImage> {
  // Checked before any decoder allocates its (whole-image, for progressive files) coefficient buffers.
  if (bytes.length * 8 < info.blocks) {
    throw new ImageDecodeError(`JPEG file is truncated: its ${info.blocks} blocks need at least ${Math.ceil(info.blocks / 8)} bytes of image data, the file has ${bytes.length}`);
  }
  if (info.components === 4) return decodeCmykJpeg(bytes, info.orientation);
  if (info.components !== 1 && info.components !== 3) {
    throw new ImageDecodeError(`JPEG has ${info.components} colour components; Pillow reads 1 (gray), 3 (colour) or 4 (CMYK)`);
  }
  const module = await loadJpegModule(compileWasm);
  jpegMessages = [];
  let decoded: ReturnType<MozJpegModule['decode']>;
  try {
    decoded = module.decode(bytes, false);
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
  const { width, height, data } = decoded;
  const gray = info.components === 1;
  return { width, height, mode: gray ? 'L' : 'RGB', data: dropChannels(data, gray ? 1 : 3), orientation: info.orientation };
}
