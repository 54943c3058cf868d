// Weights from the cache, the network or local files, chunk by chunk into a sink (the GPU in the engine,
// an array in tests). The converted weight stream is cut into chunks. Planning decides what the stream is
// (config, layout) and where each chunk comes from: the cache's manifest, a partial download, or the
// checkpoint. Filling then reads each chunk from the cache and checks it, or builds it from the checkpoint
// (ranged reads, one tensor converted at a time) and stores it. So the second load reads only the cache; an
// interrupted download resumes at the first chunk not stored; a corrupted chunk is rebuilt from the network
// and never reaches the sink; and host memory holds one chunk and one tensor, never the checkpoint.
import { openCheckpoint, type Checkpoint } from '../io/checkpoint';
import { CACHE_FORMAT_VERSION, DEFAULT_CHUNK_BYTES, isQuotaError, type CacheManifest, type CacheModelKey, type ChunkRecord, type PartialRecord, type WeightCache } from '../io/cache';
import type { FileIdentity, HttpOptions } from '../io/http';
import { fetchVocabulary, locateModel, openModelFiles, type ConfigSource, type LocalFolder, type ModelFiles, type ModelLocation, type VocabularyFiles, type VocabularySource } from '../io/hub';
import { CocaError, ModelChangedError } from '../errors';
import { validateCheckpoint, type CocaConfig } from '../model/config';
import { EntryConverter, WEIGHT_LAYOUT_VERSION, firstEntryAt, sourceRange, weightLayout, type WeightLayout } from '../model/weights';
import type { WeightDtype } from '../options';
import { configFromSource, configSourceOf } from './model-config';
import type { ProgressMeter } from './progress';

export interface WeightSource {
  /** A hub repo id, a base URL, or a local folder. */
  model: string | URL | LocalFolder;
  revision?: string;
  vocab?: VocabularySource;
  dtype: WeightDtype;
  hubUrl?: string;
  /** Cache chunk size (tests use small chunks to exercise resume and repair on a small model). */
  chunkBytes?: number;
}

/** Where the weights go: allocated once the layout is known, then written chunk by chunk. */
export interface WeightSink {
  write(streamOffset: number, bytes: Uint8Array): Promise<void> | void;
  destroy(): void;
}

export interface LoadWeightsOptions<S extends WeightSink = WeightSink> {
  source: WeightSource;
  /** null: no caching at all. */
  cache: WeightCache | null;
  progress: ProgressMeter;
  createSink: (layout: WeightLayout, config: CocaConfig, logitScale: number) => S;
  /** Something went wrong that the load survives (a full disk, a corrupted chunk). */
  warn: (error: Error) => void;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Retry tuning for the HTTP reads (tests shorten the waits). */
  http?: Pick<HttpOptions, 'retries' | 'retryDelayMs'>;
}

export interface LoadedWeights<S extends WeightSink> {
  sink: S;
  location: ModelLocation;
  config: CocaConfig;
  vocabulary: VocabularyFiles;
  logitScale: number;
  /** Every chunk came from the cache (no network). */
  fromCache: boolean;
  /** The model is now complete in the cache. */
  cached: boolean;
}

/** What the stream is and where each of its chunks comes from. */
export interface LoadPlan {
  config: CocaConfig;
  configSource: ConfigSource;
  layout: WeightLayout;
  /** The checkpoint file the chunks are (or were) made from. */
  identity: FileIdentity;
  logitScale: number;
  chunkBytes: number;
  /** Per chunk: its record in the cache, or null when it must be built from the checkpoint. */
  records: (ChunkRecord | null)[];
  vocabulary: VocabularyFiles;
  /** The vocabulary's record when it is in the cache already. */
  vocabRecord: CacheManifest['vocab'] | null;
  /** The cache's manifest, when the model was complete in it. */
  manifest: CacheManifest | null;
}

/** Once the checkpoint is open: the files, their index, and a converter over them. */
interface Remote {
  files: ModelFiles;
  checkpoint: Checkpoint;
  converter: EntryConverter;
  logitScale: number;
}

/**
 * Loads the weights, restarting once from scratch if the checkpoint changed on the server under a
 * cache entry or a download (the old chunks are discarded, never mixed with the new file).
 */
export async function loadWeights<S extends WeightSink>(options: LoadWeightsOptions<S>): Promise<LoadedWeights<S>> {
  const location = await locateModel(options.source.model, { revision: options.source.revision, hubUrl: options.source.hubUrl });
  const attempt = async (): Promise<LoadedWeights<S>> => {
    const loader = new WeightLoader<S>(options, location);
    try {
      const plan = await loader.plan();
      const sink = options.createSink(plan.layout, plan.config, plan.logitScale);
      try {
        return { sink, location, config: plan.config, vocabulary: plan.vocabulary, logitScale: plan.logitScale, ...(await loader.fill(plan, sink)) };
      } catch (error) {
        sink.destroy();
        throw error;
      }
    } finally {
      await loader.close();
    }
  };
  try {
    return await attempt();
  } catch (error) {
    if (!(error instanceof ModelChangedError)) throw error;
    options.warn(error);
    await options.cache?.discard(cacheKey(location, options.source.dtype));
    return attempt();
  }
}

function cacheKey(location: ModelLocation, dtype: WeightDtype): CacheModelKey {
  return { id: location.id, revision: location.revision, dtype };
}

class WeightLoader<S extends WeightSink> {
  private readonly key: CacheModelKey;
  private cache: WeightCache | null;
  private remote: Promise<Remote> | null = null;
  private readonly http: HttpOptions;
  private readonly quiet: HttpOptions;
  /** Download progress counts tensor reads only (not the checkpoint's header), so it ends at its total. */
  private countDownload = false;
  /** Checkpoint tensors already counted in the download total. */
  private readonly expectedSources = new Set<string>();
  /** A transposed tensor converted whole for one chunk, kept for the next chunk it runs into. */
  private carry: { index: number; bytes: Uint8Array } | null = null;

  constructor(
    private readonly o: LoadWeightsOptions<S>,
    private readonly location: ModelLocation,
  ) {
    this.key = cacheKey(location, o.source.dtype);
    this.cache = o.cache;
    this.quiet = { fetch: o.fetch, signal: o.signal, ...o.http };
    this.http = {
      ...this.quiet,
      onBytes: (n) => {
        if (this.countDownload) o.progress.add('download', n);
      },
    };
  }

  private openRemote(): Promise<Remote> {
    this.remote ??= (async () => {
      const files = await openModelFiles(this.location, this.http);
      const checkpoint = await openCheckpoint(files.weights);
      const config = configFromSource(configSourceOf(this.location, files.config));
      validateCheckpoint(checkpoint, config);
      const converter = new EntryConverter(checkpoint);
      const logitScale = await converter.logitScale();
      this.countDownload = true;
      return { files, checkpoint, converter, logitScale };
    })();
    return this.remote;
  }

  /** Releases the checkpoint file, where it holds an open handle. */
  async close(): Promise<void> {
    const remote = await this.remote?.catch(() => null);
    await remote?.files.weights.close?.();
  }

  /** The stream and its chunks' sources: from the cache's manifest, or from the checkpoint (and a partial download). */
  async plan(): Promise<LoadPlan> {
    const manifest = this.cache ? await this.cache.manifest(this.key, WEIGHT_LAYOUT_VERSION) : null;
    let configSource: ConfigSource;
    let identity: FileIdentity;
    let logitScale: number;
    let chunkBytes: number;
    let records: (ChunkRecord | null)[];
    let vocabulary: VocabularyFiles | null = null;
    let vocabRecord: CacheManifest['vocab'] | null = null;
    if (manifest) {
      ({ config: configSource, source: identity, logitScale, chunkBytes } = manifest);
      records = [...manifest.chunks];
      vocabulary = await this.cache!.readVocabulary(this.key, manifest.vocab);
      if (vocabulary) vocabRecord = manifest.vocab;
      else this.o.warn(new CocaError('the cached vocabulary is damaged; fetching it again'));
    } else {
      const remote = await this.openRemote();
      configSource = configSourceOf(this.location, remote.files.config);
      identity = remote.files.weights.identity;
      logitScale = remote.logitScale;
      let partial = this.cache ? await this.cache.partial(this.key, WEIGHT_LAYOUT_VERSION) : null;
      if (partial && !sameFile(partial.source, identity)) {
        // The checkpoint changed since the interrupted download: its chunks belong to another file.
        await this.cache!.discard(this.key);
        partial = null;
      }
      chunkBytes = partial?.chunkBytes ?? this.o.source.chunkBytes ?? DEFAULT_CHUNK_BYTES;
      records = partial ? [...partial.chunks] : [];
    }
    vocabulary ??= await fetchVocabulary(this.location, this.o.source.vocab, this.quiet);

    const config = configFromSource(configSource);
    const layout = weightLayout(config, this.o.source.dtype);
    const chunkCount = Math.ceil(layout.byteLength / chunkBytes);
    if (manifest && (manifest.streamBytes !== layout.byteLength || manifest.chunks.length !== chunkCount)) {
      await this.cache!.discard(this.key);
      return this.plan(); // written for another layout of the same version number: start clean
    }
    records = Array.from({ length: chunkCount }, (_, i) => records[i] ?? null);
    const { progress } = this.o;
    progress.total('upload', layout.byteLength);
    progress.total('cache-read', sumRecords(records));
    const missing = records.flatMap((r, i) => (r ? [] : [i]));
    if (missing.length > 0) {
      const remote = await this.openRemote();
      for (const i of missing) this.expectChunk(layout, remote.checkpoint, ...span(layout, chunkBytes, i));
    }
    return { config, configSource, layout, identity, logitScale, chunkBytes, records, vocabulary, vocabRecord, manifest };
  }

  /** Every chunk into the sink, in order; then the manifest, once the cache holds the whole model. */
  async fill(plan: LoadPlan, sink: WeightSink): Promise<{ fromCache: boolean; cached: boolean }> {
    const { progress, signal } = this.o;
    const { layout, records, identity, manifest } = plan;
    let fromCache = true;
    let manifestDirty = !manifest;
    for (let i = 0; i < records.length; i++) {
      signal?.throwIfAborted();
      const [start, end] = span(layout, plan.chunkBytes, i);
      let bytes: Uint8Array | null = null;
      const record = records[i];
      if (record && this.cache) {
        const read = await progress.time('cache-read', () => this.cache!.readChunk(this.key, i, record));
        if (read.ok) {
          bytes = read.bytes;
          progress.add('cache-read', bytes.byteLength);
        } else {
          this.o.warn(new CocaError(`cached chunk ${i} of ${this.key.id} is ${read.problem}; fetching it again`));
          records[i] = null;
          this.expectChunk(layout, (await this.openRemote()).checkpoint, start, end);
        }
      }
      if (!bytes) {
        fromCache = false;
        const remote = await this.openRemote();
        if (!sameFile(identity, remote.files.weights.identity)) {
          throw new ModelChangedError(
            `${remote.files.weights.name} changed since it was cached (${describe(identity)} → ${describe(remote.files.weights.identity)}); downloading it again`,
            remote.files.weights.name,
            0,
          );
        }
        const readBefore = remote.converter.readMs;
        bytes = await this.build(layout, remote.converter, start, end);
        progress.moveTime('convert', 'download', remote.converter.readMs - readBefore);
        progress.add('convert', bytes.byteLength);
        const stored = await this.store(i, bytes, layout.byteLength);
        records[i] = stored;
        manifestDirty = true;
        if (stored && !manifest) await this.savePartial(plan);
      }
      await progress.time('upload', () => sink.write(start, bytes!));
      progress.add('upload', bytes.byteLength);
    }
    let cached = false;
    if (this.cache && records.every((r) => r)) {
      const vocabRecord = plan.vocabRecord ?? (await this.storeVocabulary(plan.vocabulary));
      if (vocabRecord && this.cache && (manifestDirty || vocabRecord !== manifest?.vocab)) {
        await this.cache.commit(this.key, {
          ...this.base(plan),
          chunks: records as ChunkRecord[],
          vocab: vocabRecord,
          bytes: sumRecords(records) + vocabRecord.byteLength,
          storedAt: manifest?.storedAt ?? Date.now(),
        });
      }
      cached = vocabRecord !== null;
    }
    return { fromCache, cached };
  }

  /** Builds stream bytes [start, end) from the checkpoint; a tensor that runs into the next chunk is kept for it. */
  private async build(layout: WeightLayout, converter: EntryConverter, start: number, end: number): Promise<Uint8Array> {
    const out = new Uint8Array(end - start);
    const entries = layout.entries;
    for (let i = firstEntryAt(entries, start); i < entries.length && entries[i]!.byteOffset < end; i++) {
      const entry = entries[i]!;
      this.o.signal?.throwIfAborted();
      const from = Math.max(start, entry.byteOffset);
      const to = Math.min(end, entry.byteOffset + entry.byteLength);
      if (entry.transform.kind === 'copy') {
        // Only the part of the tensor inside this chunk is read.
        const part = await this.o.progress.time('convert', () => converter.convertRange(entry, from - entry.byteOffset, to - entry.byteOffset));
        out.set(part, from - start);
        continue;
      }
      // A transpose needs the whole source; it is converted once and kept for the next chunk.
      const bytes = this.carry?.index === i ? this.carry.bytes : await this.o.progress.time('convert', () => converter.convert(entry));
      this.carry = { index: i, bytes };
      out.set(bytes.subarray(from - entry.byteOffset, to - entry.byteOffset), from - start);
    }
    return out;
  }

  /** Adds what building stream bytes [start, end) will read, convert and write to the progress totals. */
  private expectChunk(layout: WeightLayout, checkpoint: Checkpoint, start: number, end: number): void {
    const entries = layout.entries;
    for (let i = firstEntryAt(entries, start); i < entries.length && entries[i]!.byteOffset < end; i++) {
      const entry = entries[i]!;
      const source = entry.source;
      const info = checkpoint.tensors.get(source);
      if (entry.transform.kind === 'copy' && info) {
        // Read in part: only the source bytes behind this chunk's share of the tensor.
        const from = Math.max(start, entry.byteOffset) - entry.byteOffset;
        const to = Math.min(end, entry.byteOffset + entry.byteLength) - entry.byteOffset;
        this.o.progress.addTotal('download', sourceRange(entry, info, from, to).byteLength);
        continue;
      }
      if (this.expectedSources.has(source)) continue;
      this.expectedSources.add(source);
      this.o.progress.addTotal('download', checkpoint.tensors.get(source)?.byteLength ?? 0);
    }
    this.o.progress.addTotal('convert', end - start);
    if (this.cache) this.o.progress.addTotal('cache-write', end - start);
  }

  /** Stores a chunk unless caching is off; a full disk turns caching off for this load (with a warning) instead of failing it. */
  private async store(index: number, bytes: Uint8Array, totalBytes: number): Promise<ChunkRecord | null> {
    if (!this.cache) return null;
    try {
      const record = await this.o.progress.time('cache-write', () => this.cache!.writeChunk(this.key, index, bytes));
      this.o.progress.add('cache-write', bytes.byteLength);
      return record;
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.giveUpCaching(totalBytes);
      return null;
    }
  }

  private async storeVocabulary(vocabulary: VocabularyFiles): Promise<CacheManifest['vocab'] | null> {
    if (!this.cache) return null;
    try {
      return await this.cache.writeVocabulary(this.key, vocabulary);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.giveUpCaching(0);
      return null;
    }
  }

  private async giveUpCaching(totalBytes: number): Promise<void> {
    const cache = this.cache!;
    this.cache = null;
    const warning = await cache.quotaError(totalBytes);
    // What was stored of this model cannot become whole now; free the space for the page's other uses.
    await cache.discard(this.key).catch(() => undefined);
    this.o.warn(warning);
  }

  private base(plan: LoadPlan): Omit<PartialRecord, 'chunks' | 'updatedAt'> {
    return {
      format: CACHE_FORMAT_VERSION,
      layout: WEIGHT_LAYOUT_VERSION,
      ...this.key,
      source: plan.identity,
      config: plan.configSource,
      logitScale: plan.logitScale,
      streamBytes: plan.layout.byteLength,
      chunkBytes: plan.chunkBytes,
    };
  }

  private async savePartial(plan: LoadPlan): Promise<void> {
    if (!this.cache) return;
    const record: PartialRecord = { ...this.base(plan), chunks: [...plan.records], updatedAt: Date.now() };
    try {
      await this.cache.writePartial(this.key, record);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.giveUpCaching(plan.layout.byteLength);
    }
  }
}

/** Stream bytes [start, end) of chunk i. */
function span(layout: WeightLayout, chunkBytes: number, i: number): [number, number] {
  return [i * chunkBytes, Math.min((i + 1) * chunkBytes, layout.byteLength)];
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && (a.etag === null || b.etag === null || a.etag === b.etag);
}

function describe(f: FileIdentity): string {
  return `${f.size} bytes${f.etag ? `, ETag ${f.etag}` : ''}`;
}

function sumRecords(records: readonly (ChunkRecord | null | undefined)[]): number {
  let sum = 0;
  for (const r of records) sum += r?.byteLength ?? 0;
  return sum;
}
