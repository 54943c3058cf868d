// Weights from the cache, the network or local files, chunk by chunk into a sink (the GPU in the engine,
// an array in tests). The converted weight stream is cut into chunks. Planning decides what the stream is
// (config, layout) and where each chunk comes from: the cache's manifest, a partial download, or the
// checkpoint. Filling then reads each chunk from the cache and checks it, or builds it from the checkpoint
// (ranged reads, one tensor converted at a time) and stores it. So the second load reads only the cache; an
// interrupted download resumes at the first chunk not stored; a corrupted chunk is rebuilt from the network
// and never reaches the sink; and host memory holds one chunk and one tensor, never the checkpoint.
//
// Pages and workers of one origin share the cache, so a load first tries to read the whole model under the
// model's shared lock, with no network; only when that fails (nothing cached, a damaged chunk, a changed file)
// does it take the exclusive lock to download, resume or repair. A second page loading the same model waits
// for that lock and then finds the model whole: one download in all. A model read from the cache is then
// compared with the server's file in the background (recheck), never holding up the load.
import { openCheckpoint, type Checkpoint } from '../io/checkpoint';
import { CACHE_FORMAT_VERSION, DEFAULT_CHUNK_BYTES, isQuotaError, vocabularyContentKey, type CacheManifest, type CacheModelKey, type ChunkRecord, type PartialRecord, type WeightCache } from '../io/cache';
import { fetchFileIdentity, type FileIdentity, type HttpOptions } from '../io/http';
import { fetchVocabulary, locateModel, openModelFiles, type ConfigSource, type LocalFolder, type ModelFiles, type ModelLocation, type VocabularyFiles, type VocabularySource } from '../io/hub';
import { CheckpointFormatError, CocaError, ModelChangedError } from '../errors';
import { validateCheckpoint, type CocaConfig } from '../model/config';
import { EntryConverter, WEIGHT_LAYOUT_VERSION, firstEntryAt, sourceRange, weightLayout, type WeightLayout } from '../model/weights';
import { DEFAULT_RECHECK, type CacheRecheck, type WeightDtype } from '../options';
import { configFromSource, configSourceOf } from './model-config';
import type { ProgressMeter } from './progress';

export interface WeightSource {
  /** A hub repo id, a base URL, or a local folder. */
  model: string | URL | LocalFolder;
  revision?: string;
  vocab?: VocabularySource;
  dtype: WeightDtype;
  hubUrl?: string;
  /** Whether a model read from the cache is compared with the server's file (options.ts CACHE_RECHECKS). */
  recheck?: CacheRecheck;
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
  /** Something went wrong that the load survives (a full disk, a corrupted chunk, a changed file). */
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
  /** The checkpoint file the weights were made from. */
  identity: FileIdentity;
  /** The background recheck of a model read from the cache: settles once it has reported (never rejects); null when none runs. */
  recheck: Promise<void> | null;
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
  vocabRecord: CacheManifest['vocabFiles'] | null;
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

/** What one load is about: shared by its reading and writing passes. */
interface LoadContext<S extends WeightSink> {
  options: LoadWeightsOptions<S>;
  location: ModelLocation;
  key: CacheModelKey;
  /** The vocab option's files when it is a file (read once, for the key). */
  vocabulary: VocabularyFiles | null;
}

type Loaded<S extends WeightSink> = Omit<LoadedWeights<S>, 'recheck'>;

/** How long the recheck's one request may take before the cached copy is simply kept. */
export const RECHECK_TIMEOUT_MS = 15_000;
/** What a load says while another page or worker holds the model's lock. */
export const WAITING_DETAIL = 'waiting for another tab or window that is loading this model';

/** Within the loader: a reader found that the cache cannot give the whole model as it is; a writer must load it. */
class WriterNeeded extends Error {}

/**
 * Loads the weights: from the cache alone when it holds them whole (shared lock), else downloading, resuming or
 * repairing them (exclusive lock), restarting once from scratch if the checkpoint changed on the server under a
 * cache entry or a download (the old chunks are discarded, never mixed with the new file).
 */
export async function loadWeights<S extends WeightSink>(options: LoadWeightsOptions<S>): Promise<LoadedWeights<S>> {
  const { source, cache, progress, signal } = options;
  const location = await locateModel(source.model, { revision: source.revision, hubUrl: source.hubUrl });
  const vocab = await vocabularyChoice(location, source.vocab, { fetch: options.fetch, signal, ...options.http });
  const context: LoadContext<S> = { options, location, key: cacheKey(location, source.dtype, vocab.key), vocabulary: vocab.files };
  if (!cache) return { ...(await loadWritable(context, null)), recheck: null };
  const recheck = source.recheck ?? DEFAULT_RECHECK;
  const lock = { signal, onWait: () => progress.flush('download', WAITING_DETAIL) };
  const read = await cache.withModel(context.key, 'shared', () => readWhole(context, cache, recheck === 'before-load'), lock);
  if (read.kind === 'loaded') return { ...read.loaded, recheck: recheck === 'background' ? recheckInBackground(context, read.loaded.identity) : null };
  progress.restart();
  const loaded = await cache.withModel(
    context.key,
    'exclusive',
    async () => {
      if (read.kind === 'stale') {
        // Unless another page has stored the new version meanwhile, the stale copy goes.
        const manifest = await cache.manifest(context.key, WEIGHT_LAYOUT_VERSION);
        if (manifest && sameFile(manifest.source, read.identity)) await cache.discard(context.key);
      }
      return loadWritable(context, cache);
    },
    lock,
  );
  return { ...loaded, recheck: loaded.fromCache && recheck === 'background' ? recheckInBackground(context, loaded.identity) : null };
}

type ReadResult<S extends WeightSink> = { kind: 'loaded'; loaded: Loaded<S> } | { kind: 'writer-needed' } | { kind: 'stale'; identity: FileIdentity };

/** The whole model from the cache, reading only (the caller holds the shared lock); asks the server first when `checkFirst`. */
async function readWhole<S extends WeightSink>(context: LoadContext<S>, cache: WeightCache, checkFirst: boolean): Promise<ReadResult<S>> {
  try {
    const loaded = await attempt(context, cache, true, async (plan) => {
      const current = checkFirst ? await upstreamChange(context, plan.identity, context.options.signal) : null;
      if (!current) return;
      context.options.warn(new ModelChangedError(`${plan.identity.name} changed on the server since it was cached (${describe(plan.identity)} → ${describe(current)}); downloading it again`, plan.identity.name, 0));
      throw new StaleCopy(plan.identity);
    });
    return { kind: 'loaded', loaded };
  } catch (error) {
    if (error instanceof StaleCopy) return { kind: 'stale', identity: error.identity };
    if (error instanceof WriterNeeded) return { kind: 'writer-needed' };
    throw error;
  }
}

/** Within the loader: the server's file is not the one the cache holds (recheck 'before-load'). */
class StaleCopy extends WriterNeeded {
  constructor(readonly identity: FileIdentity) {
    super('the cached copy is stale');
  }
}

/** Loads with writing allowed (the caller holds the exclusive lock, or there is no cache); starts over once if the file changed. */
async function loadWritable<S extends WeightSink>(context: LoadContext<S>, cache: WeightCache | null): Promise<Loaded<S>> {
  try {
    return await attempt(context, cache, false);
  } catch (error) {
    if (error instanceof CheckpointFormatError) {
      // The file as read is corrupt (a .bin entry's CRC is known only once the whole entry has streamed past),
      // so the chunks already stored from it may hold bad bytes: none of them may be resumed from.
      await cache?.discard(context.key);
      throw error;
    }
    if (!(error instanceof ModelChangedError)) throw error;
    context.options.warn(error);
    await cache?.discard(context.key);
    context.options.progress.restart();
    return attempt(context, cache, false);
  }
}

/** One plan and fill into a new sink; the sink is destroyed if the fill fails. */
async function attempt<S extends WeightSink>(
  context: LoadContext<S>,
  cache: WeightCache | null,
  readOnly: boolean,
  beforeFill?: (plan: LoadPlan) => Promise<void>,
): Promise<Loaded<S>> {
  const { options, location } = context;
  const loader = new WeightLoader<S>(context, cache, readOnly);
  try {
    const plan = await loader.plan();
    await beforeFill?.(plan);
    const sink = options.createSink(plan.layout, plan.config, plan.logitScale);
    try {
      const filled = await loader.fill(plan, sink);
      return { sink, location, config: plan.config, vocabulary: plan.vocabulary, logitScale: plan.logitScale, identity: plan.identity, ...filled };
    } catch (error) {
      sink.destroy();
      throw error;
    }
  } finally {
    await loader.close();
  }
}

/**
 * The server's file when it differs from `identity` (ETag or size), else null: also offline (no request at all),
 * for a pinned commit or a local model (nothing can move), and when the request fails (the cached copy is used).
 */
async function upstreamChange(context: LoadContext<WeightSink>, identity: FileIdentity, signal?: AbortSignal): Promise<FileIdentity | null> {
  if (!mayMove(context.location) || globalThis.navigator?.onLine === false) return null;
  const timeout = AbortSignal.timeout(RECHECK_TIMEOUT_MS);
  // AbortSignal.any is missing before Chrome 116 (WebGPU came in 113): the timeout alone bounds the request there.
  const both = signal && 'any' in AbortSignal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const current = await fetchFileIdentity(identity.name, { fetch: context.options.fetch, retries: 0, signal: both });
    return sameFile(identity, current) ? null : current;
  } catch {
    return null;
  }
}

/** A full commit hash names files that never change. */
const PINNED_REVISION = /^[0-9a-f]{40}$/;

/** Whether the files of a model can change under its cache entry: those at a URL can, unless a commit pins them. */
function mayMove(location: ModelLocation): boolean {
  return location.kind === 'url' && !PINNED_REVISION.test(location.revision);
}

/** After a load from the cache: a changed file on the server is reported as a ModelChangedError warning. */
function recheckInBackground(context: LoadContext<WeightSink>, identity: FileIdentity): Promise<void> | null {
  if (!mayMove(context.location)) return null;
  return upstreamChange(context, identity).then((current) => {
    if (!current) return;
    context.options.warn(
      new ModelChangedError(
        `${identity.name} changed on the server since it was cached (${describe(identity)} → ${describe(current)}): the cached copy is in use; ` +
          "to get the new version, delete the cached model or load it with recheck: 'before-load'",
        identity.name,
        0,
      ),
    );
  });
}

/** The vocab option as the cache key names it, with the file's bytes when it is a file (read here, once). */
async function vocabularyChoice(location: ModelLocation, vocab: VocabularySource | undefined, http: HttpOptions): Promise<{ key: string; files: VocabularyFiles | null }> {
  if (vocab === undefined) return { key: 'default', files: null };
  if (!(vocab instanceof Blob)) return { key: `url:${String(vocab)}`, files: null };
  const files = await fetchVocabulary(location, vocab, http);
  return { key: vocabularyContentKey(files), files };
}

function cacheKey(location: ModelLocation, dtype: WeightDtype, vocab: string): CacheModelKey {
  return { id: location.id, revision: location.revision, dtype, hubUrl: location.hubUrl.replace(/\/+$/, ''), vocab };
}

class WeightLoader<S extends WeightSink> {
  private readonly o: LoadWeightsOptions<S>;
  private readonly location: ModelLocation;
  private readonly key: CacheModelKey;
  private remote: Promise<Remote> | null = null;
  private readonly http: HttpOptions;
  private readonly quiet: HttpOptions;
  /** Download progress counts tensor reads only (not the checkpoint's header), so it ends at its total. */
  private countDownload = false;
  /** Checkpoint tensors already counted in the download total. */
  private readonly expectedSources = new Set<string>();
  /** A transposed tensor converted whole for one chunk, kept for the next chunk it runs into. */
  private carry: { index: number; bytes: Uint8Array } | null = null;

  /**
   * `readOnly`: a reader under the shared lock, which stores nothing: where the cache cannot give the whole model
   * as it is, it throws WriterNeeded instead of downloading, repairing or discarding.
   */
  constructor(
    private readonly context: LoadContext<S>,
    private cache: WeightCache | null,
    private readonly readOnly: boolean,
  ) {
    const o = context.options;
    this.o = o;
    this.location = context.location;
    this.key = context.key;
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
    if (this.readOnly && !manifest) throw new WriterNeeded('the model is not in the cache whole');
    let configSource: ConfigSource;
    let identity: FileIdentity;
    let logitScale: number;
    let chunkBytes: number;
    let records: (ChunkRecord | null)[];
    let vocabulary: VocabularyFiles | null = null;
    let vocabRecord: CacheManifest['vocabFiles'] | null = null;
    if (manifest) {
      ({ config: configSource, source: identity, logitScale, chunkBytes } = manifest);
      records = [...manifest.chunks];
      vocabulary = await this.cache!.readVocabulary(this.key, manifest.vocabFiles);
      if (vocabulary) vocabRecord = manifest.vocabFiles;
      else if (this.readOnly) throw new WriterNeeded('the cached vocabulary is damaged');
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
    vocabulary ??= this.context.vocabulary ?? (await fetchVocabulary(this.location, this.o.source.vocab, this.quiet));

    const config = configFromSource(configSource);
    const layout = weightLayout(config, this.o.source.dtype);
    const chunkCount = Math.ceil(layout.byteLength / chunkBytes);
    if (manifest && (manifest.streamBytes !== layout.byteLength || manifest.chunks.length !== chunkCount)) {
      if (this.readOnly) throw new WriterNeeded('the cached model has another layout');
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
        } else if (this.readOnly) {
          throw new WriterNeeded(`cached chunk ${i} is ${read.problem}`);
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
      if (vocabRecord && this.cache && (manifestDirty || vocabRecord !== manifest?.vocabFiles)) {
        await this.cache.commit(this.key, {
          ...this.base(plan),
          chunks: records as ChunkRecord[],
          vocabFiles: vocabRecord,
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

  private async storeVocabulary(vocabulary: VocabularyFiles): Promise<CacheManifest['vocabFiles'] | null> {
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
