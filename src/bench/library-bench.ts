// The photo library's benchmark (Node, Dawn): indexing speed through the library's own pipeline (hash,
// queue, batches of 8 through decode → preprocess → image encoder, store) and search time over 10,000
// stored embeddings. Run by `npm run bench` for coca_ViT-B-32, or alone: `npx tsx src/bench/library-bench.ts [--json]`.
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Gpu } from '../gpu/gpu';
import { createLibrary } from '../library/library';
import { NodeLibraryModel } from '../library/model-node';
import { MemoryLibraryStore } from '../library/store';
import type { LibraryEntry } from '../library/types';
import { CocaModel } from '../model/coca';
import { presetConfig, type PresetName } from '../model/config';
import type { WeightDtype } from '../options';
import { loadTokenizerFromBytes } from '../text/index';
import { summarize, type Timing } from './harness';
import type { BenchRecord } from './model-bench';
import { randomCheckpoint } from './random-checkpoint';

/** The config the library metrics are specified for. */
export const LIBRARY_BENCH_CONFIG: PresetName = 'coca_ViT-B-32';
const BATCH = 8;
const SEARCH_ENTRIES = 10_000;
const SEARCH_K = 20;
const VOCAB = fileURLToPath(new URL('../../../shared/vocab/bpe_simple_vocab_16e6.txt.gz', import.meta.url));

export interface LibraryBenchOptions {
  gpu: Gpu;
  config: PresetName;
  dtype: WeightDtype;
  quick: boolean;
  emit: (record: BenchRecord) => void;
}

/** Unit vectors from a cheap deterministic pattern (directions spread over the sphere, no two equal). */
function syntheticEmbedding(dim: number, seed: number): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453 % 1);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

async function timed(runs: number, body: (run: number) => Promise<unknown>): Promise<Timing> {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const start = performance.now();
    await body(run);
    times.push(performance.now() - start);
  }
  return summarize(times);
}

export async function runLibraryBench(o: LibraryBenchOptions): Promise<void> {
  const config = presetConfig(o.config);
  const base = { config: o.config, runtime: 'node' as const, adapter: o.gpu.adapterName, dtype: o.dtype };
  const emit = (r: Omit<BenchRecord, keyof typeof base>): void => o.emit({ ...base, ...r } as BenchRecord);
  const model = await CocaModel.load(o.gpu, randomCheckpoint(config), config, { dtype: o.dtype });
  try {
    const tokenizer = await loadTokenizerFromBytes(new Uint8Array(readFileSync(VOCAB)));
    const coca = new NodeLibraryModel(model, tokenizer, { id: `bench/${o.config}`, revision: 'main', dtype: o.dtype });
    // The test fixtures' photos: 300–640 px PNGs and JPEGs, as a folder pick would give them.
    const { generatePhotos } = await import('../../test/browser/library-fixtures');
    const photos: { file: Blob; path: string }[] = (await generatePhotos()).map((p) => ({ file: new Blob([p.bytes as Uint8Array<ArrayBuffer>], { type: p.type }), path: p.path }));
    const count = o.quick ? 2 * BATCH : 5 * BATCH;
    // Warm-up: one batch through a throwaway library (first-use allocations).
    await (await createLibrary(coca, { store: new MemoryLibraryStore(), thumbnail: false, batchSize: BATCH })).add(photos.slice(0, BATCH));
    // Each run indexes the photos into a new library, then encodes the same photos in the same batches with no
    // library around them: interleaved, so both see the same load on a shared machine.
    const indexTimes: number[] = [];
    const encodeTimes: number[] = [];
    for (let run = 0; run < (o.quick ? 1 : 2); run++) {
      const library = await createLibrary(coca, { store: new MemoryLibraryStore(), thumbnail: false, batchSize: BATCH });
      let start = performance.now();
      const result = await library.add(photos.slice(0, count));
      indexTimes.push(performance.now() - start);
      if (result.added !== count) throw new Error(`indexed ${result.added} of ${count} photos`);
      start = performance.now();
      for (let i = 0; i < count; i += BATCH) await coca.encodeImage(photos.slice(i, i + BATCH).map((p) => p.file));
      encodeTimes.push(performance.now() - start);
    }
    const index = summarize(indexTimes);
    const perSecond = (ms: number): number => count / (ms / 1000);
    emit({
      metric: 'library_index_images_per_s',
      batch: BATCH,
      median: perSecond(index.median),
      min: perSecond(index.max),
      max: perSecond(index.min),
      runs: index.runs,
      photos: count,
      encode_only_images_per_s: perSecond(summarize(encodeTimes).median),
      note: 'library.add(): SHA-256, queue, decode + preprocess + image encode per batch, store (memory); no thumbnails (no canvas in Node), no captions. encode_only: the same batches through encodeImage alone',
    });

    // Search: 10,000 entries in the store, loaded into one Float32Array by createLibrary.
    const store = new MemoryLibraryStore();
    const scope = { library: 'bench', model: `bench/${o.config}@main/${o.dtype}` };
    const entries: LibraryEntry[] = Array.from({ length: SEARCH_ENTRIES }, (_, i) => ({
      id: i.toString(16).padStart(64, '0'),
      path: `photos/${i}.jpg`,
      name: `${i}.jpg`,
      size: 0,
      type: 'image/jpeg',
      lastModified: 0,
      addedAt: i,
      embedding: syntheticEmbedding(config.embedDim, i),
    }));
    await store.commit(scope, entries, []);
    const loadStart = performance.now();
    const library = await createLibrary(coca, { name: 'bench', store, thumbnail: false });
    const loadMs = performance.now() - loadStart;
    const queries = Array.from({ length: 20 }, (_, i) => syntheticEmbedding(config.embedDim, SEARCH_ENTRIES + i));
    await library.search(queries[0]!, { k: SEARCH_K });
    const search = await timed(o.quick ? 10 : 50, (run) => library.search(queries[run % queries.length]!, { k: SEARCH_K }));
    emit({ metric: 'library_search_ms', ...search, entries: SEARCH_ENTRIES, k: SEARCH_K, target_ms: 50, load_ms: loadMs, note: 'rank a query embedding against the stored embeddings (cosine, top-k heap)' });
    const withText = await timed(o.quick ? 2 : 5, (run) => library.search(`a photo of a dog on the beach, number ${run}`, { k: SEARCH_K }));
    emit({ metric: 'library_search_text_ms', ...withText, entries: SEARCH_ENTRIES, k: SEARCH_K, note: 'the same with the query text encoded first (a new text each time)' });
  } finally {
    model.dispose();
  }
}

async function main(): Promise<void> {
  const { acquireDevice } = await import('../gpu/device');
  const { nodeGpu } = await import('../gpu/dawn-node');
  const { Gpu: GpuClass } = await import('../gpu/gpu');
  const { nodeShaders } = await import('../gpu/shaders-node');
  const { formatTable } = await import('./harness');
  const json = process.argv.includes('--json');
  const gpu = new GpuClass(await acquireDevice({ gpu: nodeGpu() }), nodeShaders());
  const records: BenchRecord[] = [];
  try {
    await runLibraryBench({ gpu, config: LIBRARY_BENCH_CONFIG, dtype: 'fp16', quick: process.argv.includes('--quick'), emit: (r) => (json ? console.log(JSON.stringify(r)) : records.push(r)) });
  } finally {
    gpu.destroy();
  }
  if (!json) {
    console.log(`Adapter: ${records[0]?.adapter ?? ''}. Weights: fp16.\n`);
    const fmt = (v: unknown): string => (typeof v === 'number' ? v.toFixed(2) : '');
    const extra = (r: BenchRecord): string => (typeof r.encode_only_images_per_s === 'number' ? `encodeImage alone: ${fmt(r.encode_only_images_per_s)}/s` : '');
    console.log(formatTable(['config', 'metric', 'median', 'min–max', 'runs', ''], records.map((r) => [r.config, r.metric, fmt(r.median), `${fmt(r.min)}–${fmt(r.max)}`, String(r.runs ?? ''), extra(r)])));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`library bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
