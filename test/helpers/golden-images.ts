// The preprocessing goldens in ../shared/golden (read in place, never copied): OpenCLIP's
// pixel_values for the sample photos and for the L/P/RGBA mode files.
import { readFileSync } from 'node:fs';

const SHARED = new URL('../../../shared/', import.meta.url);

export function sharedBytes(relativePath: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(relativePath, SHARED)));
}

/** A float32 tensor from a safetensors file: u64 LE header length, JSON header, raw little-endian data. */
function readSafetensorsF32(relativePath: string, name: string): { shape: number[]; data: Float32Array } {
  const bytes = sharedBytes(relativePath);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entry = header[name];
  if (entry === undefined || entry.dtype !== 'F32') throw new Error(`${relativePath} has no F32 tensor ${name}`);
  const [begin, end] = entry.data_offsets;
  const raw = bytes.slice(8 + headerLength + begin, 8 + headerLength + end);
  return { shape: entry.shape, data: new Float32Array(raw.buffer) };
}

/** Per image, the rows of a [N, 3, S, S] golden pixel_values tensor. */
export function goldenPixelRows(relativePath: string, count: number, size: number): Float32Array[] {
  const { shape, data } = readSafetensorsF32(relativePath, 'pixel_values');
  if (shape.join() !== [count, 3, size, size].join()) throw new Error(`${relativePath}: pixel_values is [${shape}], expected [${count},3,${size},${size}]`);
  const per = 3 * size * size;
  return Array.from({ length: count }, (_, i) => data.subarray(i * per, (i + 1) * per));
}

/** golden/preprocess/modes-224: the files under images/modes/, their Pillow modes and OpenCLIP's outputs. */
export function goldenModes(): { names: string[]; modes: string[]; rows: Float32Array[] } {
  const meta = JSON.parse(new TextDecoder().decode(sharedBytes('golden/preprocess/modes-224.json'))) as { images: string[]; modes: string[]; image_size: number };
  return { names: meta.images, modes: meta.modes, rows: goldenPixelRows('golden/preprocess/modes-224.safetensors', meta.images.length, meta.image_size) };
}
