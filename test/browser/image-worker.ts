// Runs inside a module Web Worker in Chromium: decodes image files with decodeImageSource (what the
// model worker calls) and preprocesses them, so the Node side can compare with OpenCLIP's goldens.
import { decodeImageSource } from '../../src/image/decode.browser';
import { preprocess } from '../../src/image/index';
import type { PreprocessOptions } from '../../src/image/types';

export interface ImageJob {
  /** A URL to fetch, or the file's bytes. */
  url?: string;
  bytes?: number[];
  type?: string;
  options: PreprocessOptions;
}

export interface ImageResult {
  /** The decoded Pillow mode ('raw' for pixels without one), size and orientation tag. */
  mode: string;
  width: number;
  height: number;
  orientation: number;
  /** The preprocessed Float32Array's bytes, base64 (compact across postMessage and page.evaluate). */
  pixels?: string;
  /** The error's class name and message when decoding or preprocessing failed. */
  error?: string;
}

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let at = 0; at < bytes.length; at += 0x8000) text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  return btoa(text);
}

async function run(job: ImageJob): Promise<ImageResult> {
  const blob = job.url !== undefined ? await (await fetch(job.url)).blob() : new Blob([Uint8Array.from(job.bytes ?? [])], { type: job.type ?? '' });
  try {
    const decoded = await decodeImageSource(blob);
    const described = 'mode' in decoded ? { mode: decoded.mode, orientation: decoded.orientation } : { mode: 'raw', orientation: 1 };
    return { ...described, width: decoded.width, height: decoded.height, pixels: toBase64(new Uint8Array(preprocess(decoded, job.options).buffer)) };
  } catch (error) {
    return { mode: '', width: 0, height: 0, orientation: 0, error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

self.onmessage = async (event: MessageEvent<ImageJob[]>) => {
  try {
    const results: ImageResult[] = [];
    for (const job of event.data) results.push(await run(job));
    self.postMessage({ ok: true, results });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) });
  }
};
