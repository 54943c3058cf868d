// Weights from the cache, the network or local files, chunk by chunk into a sink (the GPU in the
// runtime, an array in tests). The converted weight stream is cut into chunks; each chunk is read from
// the cache and checked, or else built from the checkpoint (ranged reads, one tensor converted at a
// time) and stored. So the second load reads only the cache; an interrupted download resumes at the
// first chunk not stored; a corrupted chunk is rebuilt from the network and never reaches the sink; and
// host memory holds one chunk and one tensor, never the checkpoint.
import { openCheckpoint, type Checkpoint } from '../io/checkpoint';
import { DEFAULT_CHUNK_BYTES, isQuotaError, type CacheManifest, type CacheModelKey, type ChunkRecord, type PartialRecord, type WeightCache } from '../io/cache';
import {
  configFromSource,
  fetchVocabulary,
  locateModel,
  openModelFiles,
  type ConfigSource,
  type FileIdentity,
  type HttpOptions,
  type ModelFiles,
  type ModelLocation,
  type VocabularyFiles,
} from '../io/hub';
import { CACHE_FORMAT_VERSION } from '../io/cache';
import { CocaError, ModelChangedError } from '../errors';
import { validateCheckpoint, type CocaConfig } from '../model/config';
import { EntryConverter, WEIGHT_LAYOUT_VERSION, firstEntryAt, sourceRange, weightLayout, type WeightLayout } from '../model/weights';
import type { WeightDtype } from '../options';
import type { ProgressMeter } from './progress';

export interface WeightSource {
  model: string | readonly File[];
  revision?: string;
  vocab?: string | File;
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
  const first = new WeightLoader<S>(options);
  try {
    return await first.run();
  } catch (error) {
    if (!(error instanceof ModelChangedError)) throw error;
    options.warn(error);
    await first.discard();
    return new WeightLoader<S>(options).run();
  }
}

class WeightLoader<S extends WeightSink> {
  private readonly location: ModelLocation;
  private readonly key: CacheModelKey;
  private cache: WeightCache | null;
  private remote: Promise<Remote> | null = null;
  private readonly http: HttpOptions;
  private readonly quiet: HttpOptions;
  /** Download progress counts tensor reads only (not the checkpoint's header), so it ends at its total. */
  private countDownload = false;
  /** Checkpoint tensors already counted in the download total. */
  private readonly expectedSources = new Set<string>();

  constructor(private readonly o: LoadWeightsOptions<S>) {
    this.location = locateModel(o.source.model, { revision: o.source.revision, hubUrl: o.source.hubUrl });
    this.key = { id: this.location.id, revision: this.location.revision, dtype: o.source.dtype };
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
      validateCheckpoint(checkpoint, files.config);
      const converter = new EntryConverter(checkpoint);
      const logitScale = await converter.logitScale();
      this.countDownload = true;
      return { files, checkpoint, converter, logitScale };
    })();
    return this.remote;
  }

  /** Forgets this model's cache entry (after the checkpoint changed under it). */
  async discard(): Promise<void> {
    await this.cache?.discard(this.key);
  }

  async run(): Promise<LoadedWeights<S>> {
    const { progress, signal } = this.o;
    const manifest = this.cache ? await this.cache.manifest(this.key, WEIGHT_LAYOUT_VERSION) : null;

    // What the chunks are made of, and which are stored: from the manifest, or from the checkpoint (and a partial download).
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
      configSource = remote.files.configSource;
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
      return this.run(); // written for another layout of the same version number: start clean
    }
    records = Array.from({ length: chunkCount }, (_, i) => records[i] ?? null);

    progress.total('upload', layout.byteLength);
    progress.total('cache-read', sumRecords(records));
    const span = (i: number): [number, number] => [i * chunkBytes, Math.min((i + 1) * chunkBytes, layout.byteLength)];
    const missing = records.flatMap((r, i) => (r ? [] : [i]));
    if (missing.length > 0) {
      const remote = await this.openRemote();
      for (const i of missing) this.expectChunk(layout, remote.checkpoint, ...span(i));
    }
    const sink = this.o.createSink(layout, config, logitScale);
    const builder = { carry: null as { index: number; bytes: Uint8Array } | null };
    let fromCache = true;
    let manifestDirty = !manifest;
    try {
      for (let i = 0; i < chunkCount; i++) {
        signal?.throwIfAborted();
        const [start, end] = span(i);
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
          bytes = await this.build(layout, remote.converter, start, end, builder);
          progress.moveTime('convert', 'download', remote.converter.readMs - readBefore);
          progress.add('convert', bytes.byteLength);
          const stored = await this.store(i, bytes, layout.byteLength);
          records[i] = stored;
          manifestDirty = true;
          if (stored && !manifest) await this.savePartial({ identity, configSource, logitScale, layout, chunkBytes, records });
        }
        await progress.time('upload', () => sink.write(start, bytes!));
        progress.add('upload', bytes.byteLength);
      }
      let cached = false;
      if (this.cache && records.every((r) => r)) {
        if (!vocabRecord) vocabRecord = await this.storeVocabulary(vocabulary);
        if (vocabRecord && this.cache && (manifestDirty || vocabRecord !== manifest?.vocab)) {
          await this.cache.commit(this.key, {
            ...this.base(identity, configSource, logitScale, layout, chunkBytes),
            chunks: records as ChunkRecord[],
            vocab: vocabRecord,
            bytes: sumRecords(records) + vocabRecord.byteLength,
            storedAt: manifest?.storedAt ?? Date.now(),
          });
        }
        cached = vocabRecord !== null;
      }
      return { sink, location: this.location, config, vocabulary, logitScale, fromCache, cached };
    } catch (error) {
      sink.destroy();
      throw error;
    }
  }

  /** Builds stream bytes [start, end) from the checkpoint; a tensor that runs into the next chunk is kept for it. */
  private async build(
    layout: WeightLayout,
    converter: EntryConverter,
    start: number,
    end: number,
    builder: { carry: { index: number; bytes: Uint8Array } | null },
  ): Promise<Uint8Array> {
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
      const bytes =
        builder.carry?.index === i ? builder.carry.bytes : await this.o.progress.time('convert', () => converter.convert(entry));
      builder.carry = { index: i, bytes };
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

  private base(identity: FileIdentity, config: ConfigSource, logitScale: number, layout: WeightLayout, chunkBytes: number): Omit<PartialRecord, 'chunks' | 'updatedAt'> {
    return {
      format: CACHE_FORMAT_VERSION,
      layout: WEIGHT_LAYOUT_VERSION,
      ...this.key,
      source: identity,
      config,
      logitScale,
      streamBytes: layout.byteLength,
      chunkBytes,
    };
  }

  private async savePartial(s: {
    identity: FileIdentity;
    configSource: ConfigSource;
    logitScale: number;
    layout: WeightLayout;
    chunkBytes: number;
    records: (ChunkRecord | null)[];
  }): Promise<void> {
    if (!this.cache) return;
    const record: PartialRecord = {
      ...this.base(s.identity, s.configSource, s.logitScale, s.layout, s.chunkBytes),
      chunks: Array.from({ length: s.records.length }, (_, i) => s.records[i] ?? null),
      updatedAt: Date.now(),
    };
    try {
      await this.cache.writePartial(this.key, record);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.giveUpCaching(s.layout.byteLength);
    }
  }
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
