// Access to ../shared/golden (read in place, never copied): the tiny CoCa, its reference tensors,
// and a loaded model on the test GPU.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { openCheckpoint, type Checkpoint } from '../../src/io/checkpoint';
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

let goldenTensors: Promise<Checkpoint> | null = null;

/** A reference tensor from golden.safetensors as f32. */
export async function golden(name: string): Promise<Float32Array> {
  goldenTensors ??= openFileSource(`${TINY}golden.safetensors`).then((s) => openCheckpoint(s, 'safetensors', { skipDtypes: ['I64'] }));
  return (await goldenTensors).readF32(name);
}

export async function tokenizer(): Promise<ClipTokenizer> {
  return loadTokenizerFromBytes(new Uint8Array(await readFile(`${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`)));
}

export async function loadTiny(file: (typeof WEIGHT_FILES)[number], dtype: WeightDtype, math: MathPrecision = 'f32'): Promise<CocaModel> {
  const gpu = await testGpu();
  const source = await openFileSource(`${TINY}${file}`);
  try {
    return await CocaModel.load(gpu, await openCheckpoint(source), await tinyConfig(), { dtype, math });
  } finally {
    await source.close();
  }
}

/** Rows [from, to) of a [N, width] array. */
export function rows(data: Float32Array, width: number, from: number, to: number): Float32Array {
  return data.subarray(from * width, to * width);
}
