// Node: images and vocabulary files by path, with file-system failures as named errors (ImageDecodeError,
// VocabularyError), never a bare ENOENT or EISDIR. Free of Dawn, so the CLI's tokenize and preprocess
// commands work without the `webgpu` package.
import { openAsBlob, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ImageDecodeError, VocabularyError } from '../errors';
import { decodeImageBytes, decodeImageFile, type NodeDecodeOptions } from '../image/decode-node';
import type { ImageInput } from '../image/index';
import type { EngineImage } from './host';

/** Node's images in their own mode: a path, image bytes or a Blob; or RGB(A) pixels as given. */
export async function decodeImage(image: EngineImage, options: NodeDecodeOptions = {}): Promise<ImageInput> {
  if (typeof image === 'string') {
    const info = await statOrNull(image);
    if (!info) throw new ImageDecodeError(`${image}: no such file`);
    if (!info.isFile()) throw new ImageDecodeError(`${image} is ${kindOf(info)}, not an image file`);
    return decodeImageFile(image, options);
  }
  if (image instanceof Uint8Array) return decodeImageBytes(image, options);
  if (image instanceof Blob) return decodeImageBytes(new Uint8Array(await image.arrayBuffer()), options);
  if ('channels' in image) return image;
  throw new ImageDecodeError('in Node an image is a file path, PNG/JPEG bytes, a Blob or decoded RGBA pixels');
}

/** A vocabulary file by path, read lazily (its size is checked before it is read); VocabularyError when there is none. */
export async function vocabularyFile(path: string): Promise<Blob> {
  const info = await statOrNull(path);
  if (!info) throw new VocabularyError(`vocabulary file ${path} does not exist`);
  if (!info.isFile()) throw new VocabularyError(`vocabulary ${path} is ${kindOf(info)}, not a file`);
  return openAsBlob(path);
}

/** What a path that is not a regular file is, for messages. */
function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a pipe';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** The path's stats, or null when nothing is there. */
export async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}
