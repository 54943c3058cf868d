// The embeddings index `coca embed --out FILE.safetensors` writes and `coca search --index` reads: one F32
// tensor `embeddings` [N, E] (the model's normalized image embeddings, one row per image) and, in the
// safetensors `__metadata__`, the N paths (a JSON array, row order), the model id, its revision and weight
// dtype. Written whole to a temporary file beside the target and renamed over it, so a reader (or a crash)
// only ever sees the old file or the new one.
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LibraryError } from '../errors';
import { readSafetensorsIndex } from '../io/safetensors';
import { encodeSafetensors } from '../io/safetensors-write';
import { FileSource } from '../io/source-node';

/** `__metadata__.format` of an index: tells it apart from every other safetensors file. */
export const INDEX_FORMAT = 'coca-webgpu/embeddings-v1';
const TENSOR = 'embeddings';

export interface IndexFile {
  /** The model that made the embeddings (ModelInfo.id: a hub repo id, a base URL, or file:<weights path>). */
  model: string;
  revision: string;
  dtype: string;
  /** Width E of each embedding. */
  dim: number;
  paths: string[];
  /** [paths.length, dim], row-major. */
  embeddings: Float32Array;
}

/** The index at `path`, or LibraryError when there is none or it is not one (a damaged file: the reader's own errors). */
export async function readIndexFile(path: string): Promise<IndexFile> {
  const source = await FileSource.open(path).catch((error: NodeJS.ErrnoException) => {
    throw new LibraryError(`index ${path} cannot be read (${error.code === 'ENOENT' ? 'no such file' : (error.code ?? error.message)}); make one with coca embed --out ${path} PATH...`);
  });
  try {
    const { tensors, metadata } = await readSafetensorsIndex(source);
    const notIndex = (what: string): LibraryError => new LibraryError(`${path} is not an index made by coca embed --out (${what})`);
    if (metadata.format !== INDEX_FORMAT) throw notIndex(`its metadata has no format "${INDEX_FORMAT}"`);
    const info = tensors.get(TENSOR);
    if (!info || info.dtype !== 'F32' || info.shape.length !== 2) throw notIndex(`it has no F32 [N, E] tensor "${TENSOR}"`);
    const [rows, dim] = info.shape as [number, number];
    const paths = parsePaths(metadata.paths);
    if (!paths || paths.length !== rows) throw notIndex(`its metadata lists ${paths ? paths.length : 'no'} paths for ${rows} embeddings`);
    const { model, revision, dtype } = metadata;
    if (!model || revision === undefined || !dtype) throw notIndex('its metadata does not name the model, revision and dtype');
    const bytes = await source.read(info.byteOffset, info.byteLength);
    return { model, revision, dtype, dim, paths, embeddings: new Float32Array(bytes.buffer, bytes.byteOffset, rows * dim) };
  } finally {
    await source.close();
  }
}

/** Writes the index atomically: a temporary file in the same folder, flushed, then renamed over `path`. */
export async function writeIndexFile(path: string, index: IndexFile): Promise<void> {
  const chunks = encodeSafetensors([{ name: TENSOR, shape: [index.paths.length, index.dim], data: index.embeddings }], {
    format: INDEX_FORMAT,
    model: index.model,
    revision: index.revision,
    dtype: index.dtype,
    paths: JSON.stringify(index.paths),
  });
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const handle = await open(temporary, 'w');
    try {
      for (const chunk of chunks) await handle.write(chunk);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new LibraryError(`index ${path} could not be written (${code ?? String(error)}); the previous file, if any, is unchanged`);
  }
}

/**
 * Refuses to rank one model's rows with another model's query (`id`), and to mix rows of other weights in
 * one index (`revision` and `dtype`, when given: extending an index).
 */
export function checkSameModel(index: IndexFile, file: string, model: { id: string; revision?: string; dtype?: string }): void {
  if (index.model !== model.id) {
    throw new LibraryError(`${file} holds embeddings of model ${index.model}, not of ${model.id}: use --model ${index.model}, or another index file`);
  }
  if (model.revision !== undefined && index.revision !== model.revision) {
    throw new LibraryError(`${file} holds embeddings of revision ${index.revision} of ${index.model}, not of ${model.revision}: use that revision, or another index file`);
  }
  if (model.dtype !== undefined && index.dtype !== model.dtype) {
    throw new LibraryError(`${file} holds embeddings made with --dtype ${index.dtype}: add to it with --dtype ${index.dtype}, or use another index file`);
  }
}

function parsePaths(value: string | undefined): string[] | null {
  if (value === undefined) return null;
  try {
    const paths: unknown = JSON.parse(value);
    return Array.isArray(paths) && paths.every((p) => typeof p === 'string') ? paths : null;
  } catch {
    return null;
  }
}
