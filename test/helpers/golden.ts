// Access to ../shared/golden (read in place, never copied): the tiny CoCa, its reference tensors,
// and a loaded model on the test GPU.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openCheckpoint, type Checkpoint, type IndexOptions } from '../../src/io/checkpoint';
import { openFileSource } from '../../src/io/source-node';
import { parseOpenClipConfig, type CocaConfig } from '../../src/model/config';
import { CocaModel } from '../../src/model/coca';
import type { MathPrecision, WeightDtype } from '../../src/options';
import { loadTokenizerFromBytes, type ClipTokenizer } from '../../src/text/index';
import { testGpu } from './gpu';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const TINY = `${SHARED}golden/coca-tiny/`;
export const WEIGHT_FILES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin'] as const;

export interface GoldenCaption {
  image: string;
  tokens: number[];
  text: string;
  top2_margins: number[];
}

export interface GoldenJson {
  images: string[];
  texts: string[];
  greedy: { seq_len: number; min_seq_len: number; captions: GoldenCaption[] };
}

export async function goldenJson(): Promise<GoldenJson> {
  return JSON.parse(await readFile(`${TINY}golden.json`, 'utf8')) as GoldenJson;
}

export async function tinyConfig(): Promise<CocaConfig> {
  return parseOpenClipConfig(JSON.parse(await readFile(`${TINY}open_clip_config.json`, 'utf8')));
}

/** A reference tensor from golden.safetensors as f32. The file is closed again: a handle left to the garbage collector makes Node warn. */
export async function golden(name: string): Promise<Float32Array> {
  return withCheckpoint(`${TINY}golden.safetensors`, (checkpoint) => checkpoint.readF32(name), { skipDtypes: ['I64'] });
}

/** Opens a checkpoint file, runs `use` on it, and closes the file whatever happens. */
async function withCheckpoint<T>(path: string, use: (checkpoint: Checkpoint) => Promise<T>, options?: IndexOptions): Promise<T> {
  const source = await openFileSource(path);
  try {
    return await use(await openCheckpoint(source, undefined, options));
  } finally {
    await source.close();
  }
}

export async function tokenizer(): Promise<ClipTokenizer> {
  return loadTokenizerFromBytes(new Uint8Array(await readFile(`${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`)));
}

export async function loadTiny(file: (typeof WEIGHT_FILES)[number], dtype: WeightDtype, math: MathPrecision = 'f32'): Promise<CocaModel> {
  const gpu = await testGpu();
  const config = await tinyConfig();
  return withCheckpoint(`${TINY}${file}`, (checkpoint) => CocaModel.load(gpu, checkpoint, config, { dtype, math }));
}

/** Rows [from, to) of a [N, width] array. */
export function rows(data: Float32Array, width: number, from: number, to: number): Float32Array {
  return data.subarray(from * width, to * width);
}
