// The photo library: photos indexed by a CoCa model (image embedding, thumbnail, optional caption), kept
// per library name and model, searchable by text, by another photo and by caption words.
//
//   const library = await createLibrary(coca, { name: 'photos' });
//   await library.add(files, { onProgress, caption: { strategy: 'greedy' } });
//   const hits = await library.search('a dog on the beach', { k: 10 });
//
// Adding hashes each file (SHA-256), queues the new ones in the store with their bytes, then indexes the
// queue in batches: one image-encoding call per batch, a thumbnail and a caption per photo, and one
// transaction that stores the batch's entries and takes them off the queue. So a reload at any moment
// leaves every photo either indexed or still queued, and the next load continues the queue.
import { AbortError, ImageDecodeError, ImageTooLargeError, LibraryError, QuotaExceededError } from '../errors';
import { DEFAULT_TEMPLATE, labelTexts } from '../client/labels';
import { bestLabels, toCsv, toJsonl, type ExportRow } from './export';
import { EmbeddingIndex } from './rank';
import { sha256Hex } from './sha256';
import type { LibraryScope, LibraryStore, PendingPhoto } from './store';
import { IdbLibraryStore } from './store-idb';
import { makeThumbnail } from './thumbnail';
import type {
  AddOptions,
  AddResult,
  CaptionSettings,
  ExportFormat,
  ExportOptions,
  IndexProgress,
  LibraryEntry,
  LibraryInput,
  LibraryModel,
  LibraryOptions,
  SearchHit,
  SearchOptions,
} from './types';

export const DEFAULT_LIBRARY_NAME = 'default';
const DEFAULT_BATCH_SIZE = 8;
/** Larger batches would hold that many decoded photos in memory at once for little speed. */
const MAX_BATCH_SIZE = 64;
const DEFAULT_K = 20;
/** Larger files are refused unread (a 100-megapixel PNG is well under this). */
export const MAX_PHOTO_BYTES = 200e6;
const DEFAULT_TOP_LABELS = 3;
/** Photos queued per store transaction while reading (fewer transactions; a reload loses at most this many hashes). */
const QUEUE_GROUP = 16;
/** Text embeddings kept for search as you type (a query typed again, or a letter deleted, costs nothing). */
const TEXT_CACHE_SIZE = 64;
/** Labels encoded per call when exporting. */
const LABEL_BATCH = 32;

/** One IndexedDB connection for every library of the page. */
let sharedStore: IdbLibraryStore | null = null;

/** The index a model's entries are filed under: another model, revision or weight dtype has its own. */
export function modelKey(info: LibraryModel['info']): string {
  return `${info.id}@${info.revision}/${info.dtype}`;
}

/** Opens (or creates) the library `name` for `model`, reading its entries and its queue from the store. */
export async function createLibrary(model: LibraryModel, options: LibraryOptions = {}): Promise<Library> {
  const name = options.name ?? DEFAULT_LIBRARY_NAME;
  if (typeof name !== 'string' || name.length === 0) throw new LibraryError('a library name must be a non-empty string');
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) throw new LibraryError(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, not ${batchSize}`);
  if (!model.info.id) throw new LibraryError('the model has no id yet: create the library once the model is loaded');
  const store = options.store ?? (sharedStore ??= new IdbLibraryStore());
  const thumbnail = options.thumbnail === false ? null : (options.thumbnail ?? makeThumbnail);
  const scope: LibraryScope = { library: name, model: modelKey(model.info) };
  const [entries, pending] = await Promise.all([store.entries(scope), store.pending(scope)]);
  return new Library(model, store, scope, batchSize, thumbnail, entries, pending);
}

/** One indexing run: the queue worked through until empty, stopped, or failed. */
interface Run {
  stop: AbortController;
  startedAt: number;
  /** Milliseconds spent paused (left out of the rate). */
  pausedMs: number;
  done: number;
  added: number;
  failed: AddResult['failed'];
  listeners: Set<(progress: IndexProgress) => void>;
  finished: Promise<void>;
}

export class Library {
  readonly name: string;
  /** The model key the entries are filed under (modelKey()). */
  readonly model: string;
  private readonly entries = new Map<string, LibraryEntry>();
  private index: EmbeddingIndex | null = null;
  /** Queued photo ids → queue seq. */
  private readonly queued = new Map<string, number>();
  private nextSeq: number;
  private run: Run | null = null;
  private pausedFlag = false;
  private resumeWaiters: (() => void)[] = [];
  private readonly textCache = new Map<string, Float32Array>();

  constructor(
    private readonly coca: LibraryModel,
    private readonly store: LibraryStore,
    private readonly scope: LibraryScope,
    private readonly batchSize: number,
    private readonly thumbnail: ((image: Blob) => Promise<Blob>) | null,
    entries: readonly LibraryEntry[],
    pending: readonly PendingPhoto[],
  ) {
    this.name = scope.library;
    this.model = scope.model;
    for (const entry of entries) this.remember(entry);
    for (const photo of pending) this.queued.set(photo.id, photo.seq);
    this.nextSeq = pending.reduce((max, p) => Math.max(max, p.seq + 1), 0);
  }

  /** Photos in the index. */
  get size(): number {
    return this.entries.size;
  }

  /** Photos queued and not yet indexed (e.g. left by a reload): `indexPending()` continues them. */
  get pendingCount(): number {
    return this.queued.size;
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  /**
   * Adds photos: known ones (same bytes already indexed or queued) cost one hash each; new ones are queued
   * and indexed. Resolves when the queue is empty, with what this run did. Rejects with AbortError when
   * `signal` aborts (what was not indexed stays queued), or with the model's error (the batch stays queued).
   * A photo that cannot be used (not an image, corrupt, over MAX_PHOTO_BYTES, no longer readable) is reported
   * in `failed` and not queued, or dropped from the queue.
   */
  async add(inputs: Iterable<LibraryInput>, options: AddOptions = {}): Promise<AddResult> {
    const { signal, onProgress } = options;
    const caption = captionSettings(options.caption);
    const list = [...inputs].map(describeInput);
    let read = 0;
    let known = 0;
    const report = (): void =>
      onProgress?.({ phase: 'reading', read, toRead: list.length, done: this.run?.done ?? 0, total: (this.run?.done ?? 0) + this.queued.size, known, failed: this.run?.failed.length ?? 0, imagesPerSecond: 0 });
    let group: PendingPhoto[] = [];
    const inGroup = new Set<string>();
    /** Indexed early, to make room in the store (see enqueue). */
    const early: AddResult = { added: 0, known: 0, failed: [] };
    const flush = async (): Promise<void> => {
      if (group.length === 0) return;
      const photos = group;
      group = [];
      inGroup.clear();
      const made = await this.enqueue(photos, signal, onProgress);
      early.added += made.added;
      early.failed.push(...made.failed);
      for (const photo of photos) this.queued.set(photo.id, photo.seq);
    };
    report();
    for (const input of list) {
      throwIfAborted(signal);
      if (input.file.size > MAX_PHOTO_BYTES) {
        // Refused before reading: hashing would hold the whole file in memory.
        early.failed.push({ path: input.path, name: input.name, message: `the file is ${(input.file.size / 1e6).toFixed(1)} MB; photos up to ${MAX_PHOTO_BYTES / 1e6} MB are indexed` });
        read++;
        report();
        continue;
      }
      let id: string;
      try {
        id = await sha256Hex(await input.file.arrayBuffer());
      } catch (error) {
        if (!isPhotoError(error)) throw error;
        early.failed.push({ path: input.path, name: input.name, message: (error as Error).message });
        read++;
        report();
        continue;
      }
      read++;
      if (this.entries.has(id) || this.queued.has(id) || inGroup.has(id)) {
        known++;
      } else {
        group.push({ seq: this.nextSeq++, id, ...input, size: input.file.size, type: input.file.type, caption });
        inGroup.add(id);
        if (group.length >= QUEUE_GROUP) await flush();
      }
      report();
    }
    await flush();
    const result = await this.indexPending({ ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) });
    return { added: early.added + result.added, known, failed: [...early.failed, ...result.failed] };
  }

  /** Indexes what is queued (photos left by an interrupted run, e.g. a reload). Resolves when the queue is empty. */
  async indexPending(options: Pick<AddOptions, 'signal' | 'onProgress'> = {}): Promise<AddResult> {
    const { signal, onProgress } = options;
    throwIfAborted(signal);
    let added = 0;
    const failed: AddResult['failed'] = [];
    // A run may be going already (another add): join it; loop, since photos can be queued as it ends.
    while (this.queued.size > 0) {
      const run = this.run ?? this.startRun();
      const before = { added: run.added, failed: run.failed.length };
      if (onProgress) run.listeners.add(onProgress);
      const stop = (): void => run.stop.abort();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        await run.finished;
      } finally {
        signal?.removeEventListener('abort', stop);
        if (onProgress) run.listeners.delete(onProgress);
      }
      added += run.added - before.added;
      failed.push(...run.failed.slice(before.failed));
    }
    return { added, known: 0, failed };
  }

  /** Indexing stops taking new batches (the batch in progress finishes) until `resume()`. */
  pause(): void {
    this.pausedFlag = true;
  }

  resume(): void {
    this.pausedFlag = false;
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Stops indexing (if running) and forgets the queue. Entries already indexed stay. */
  async discardPending(): Promise<void> {
    await this.stopRun();
    await this.store.clearPending(this.scope);
    this.queued.clear();
  }

  /** Every photo, oldest first (ties by path); with `captionContains`, only photos whose caption has those words. */
  list(options: Pick<SearchOptions, 'captionContains'> = {}): LibraryEntry[] {
    const accept = captionFilter(options.captionContains);
    return [...this.entries.values()].filter((e) => !accept || accept(e)).sort((a, b) => a.addedAt - b.addedAt || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  get(id: string): LibraryEntry | undefined {
    return this.entries.get(id);
  }

  /** Photos ranked by cosine similarity with a text (or a text embedding), best first. */
  async search(query: string | Float32Array, options: SearchOptions = {}): Promise<SearchHit[]> {
    const k = checkK(options.k);
    if (this.entries.size === 0) return [];
    const embedding = typeof query === 'string' ? await this.textEmbedding(query) : query;
    return this.rank(embedding, k, captionFilter(options.captionContains));
  }

  /** "More like this": photos ranked by cosine similarity with photo `id`'s embedding (itself left out). */
  async similar(id: string, options: SearchOptions = {}): Promise<SearchHit[]> {
    const k = checkK(options.k);
    const embedding = this.index?.embedding(id);
    if (!embedding) throw new LibraryError(`there is no photo with id ${id} in the library “${this.name}” for this model`);
    const filter = captionFilter(options.captionContains);
    return this.rank(embedding, k, (entry) => entry.id !== id && (!filter || filter(entry)));
  }

  /** Deletes one photo's entry; false when there was none. */
  async remove(id: string): Promise<boolean> {
    if (!this.entries.has(id)) return false;
    await this.store.removeEntry(this.scope, id);
    this.entries.delete(id);
    this.index?.delete(id);
    return true;
  }

  /** Deletes every entry and the queue of this library under this model (stopping a run first). */
  async clear(): Promise<void> {
    await this.stopRun();
    await this.store.clear(this.scope);
    this.entries.clear();
    this.index?.clear();
    this.queued.clear();
  }

  /**
   * The index as text: JSONL (one object per photo: path, name, sha256, size, caption, labels) or CSV (the
   * same columns, labels and their scores joined with "; "). Best labels need `options.labels`.
   */
  async export(format: ExportFormat, options: ExportOptions = {}): Promise<string> {
    if (format !== 'jsonl' && format !== 'csv') throw new LibraryError(`export format must be 'jsonl' or 'csv', not ${String(format)}`);
    const labels = [...(options.labels ?? [])].map((l) => l.trim()).filter((l) => l.length > 0);
    const top = options.topLabels ?? DEFAULT_TOP_LABELS;
    if (!Number.isInteger(top) || top < 1) throw new LibraryError(`topLabels must be a positive integer, not ${top}`);
    const texts = labelTexts(labels, options.template ?? DEFAULT_TEMPLATE);
    const labelEmbeddings: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += LABEL_BATCH) labelEmbeddings.push(...(await this.coca.encodeText(texts.slice(i, i + LABEL_BATCH))));
    const rows: ExportRow[] = this.list().map((entry) => ({
      path: entry.path,
      name: entry.name,
      id: entry.id,
      size: entry.size,
      caption: entry.caption ?? '',
      labels: labels.length > 0 ? bestLabels(this.index!.embedding(entry.id)!, labels, labelEmbeddings, top) : [],
    }));
    return format === 'jsonl' ? toJsonl(rows) : toCsv(rows);
  }

  // ---------------------------------------------------------------- internals

  private remember(entry: LibraryEntry): void {
    this.index ??= new EmbeddingIndex(entry.embedding.length);
    if (entry.embedding.length !== this.index.dim) {
      throw new LibraryError(`photo ${entry.path} has a ${entry.embedding.length}-value embedding where this library holds ${this.index.dim}: the store mixes models; clear() the library`);
    }
    this.index.set(entry.id, entry.embedding);
    this.entries.set(entry.id, entry);
  }

  private rank(embedding: Float32Array, k: number, accept: ((entry: LibraryEntry) => boolean) | undefined): SearchHit[] {
    if (!this.index || this.index.size === 0) return [];
    return this.index.rank(embedding, k, accept ? (id) => accept(this.entries.get(id)!) : undefined).map(({ id, score }) => ({ entry: this.entries.get(id)!, score }));
  }

  private async textEmbedding(text: string): Promise<Float32Array> {
    const hit = this.textCache.get(text);
    if (hit) {
      // Most recently used last.
      this.textCache.delete(text);
      this.textCache.set(text, hit);
      return hit;
    }
    const [embedding] = await this.coca.encodeText([text]);
    this.textCache.set(text, embedding!);
    if (this.textCache.size > TEXT_CACHE_SIZE) this.textCache.delete(this.textCache.keys().next().value!);
    return embedding!;
  }

  /**
   * Stores queued photos. When the disk is full and a queue is waiting, indexes that first (which frees the
   * space its photos took) and tries once more; returns what that indexing did.
   */
  private async enqueue(photos: PendingPhoto[], signal: AbortSignal | undefined, onProgress: AddOptions['onProgress']): Promise<AddResult> {
    try {
      await this.store.enqueue(this.scope, photos);
      return { added: 0, known: 0, failed: [] };
    } catch (error) {
      if (!(error instanceof QuotaExceededError) || this.queued.size === 0) throw error;
      const made = await this.indexPending({ ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) });
      await this.store.enqueue(this.scope, photos);
      return made;
    }
  }

  private startRun(): Run {
    const run: Run = { stop: new AbortController(), startedAt: performance.now(), pausedMs: 0, done: 0, added: 0, failed: [], listeners: new Set(), finished: Promise.resolve() };
    run.finished = this.work(run).finally(() => {
      if (this.run === run) this.run = null;
    });
    this.run = run;
    return run;
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.stop.abort();
    await run.finished.catch(() => undefined);
  }

  private async work(run: Run): Promise<void> {
    // Let the caller that started the run attach its listener before the first report.
    await Promise.resolve();
    for (;;) {
      if (this.pausedFlag) await this.waitWhilePaused(run);
      throwIfStopped(run);
      const batch = await this.store.pending(this.scope, this.batchSize);
      if (batch.length === 0) {
        // The store is the truth: ids it no longer queues (another tab indexed or cleared them) are not waiting.
        const stored = new Set((await this.store.pending(this.scope)).map((p) => p.id));
        for (const id of [...this.queued.keys()]) if (!stored.has(id)) this.queued.delete(id);
        break;
      }
      await this.indexBatch(batch, run);
    }
    this.emit(run, 'done');
  }

  private async waitWhilePaused(run: Run): Promise<void> {
    const since = performance.now();
    this.emit(run, 'paused');
    await new Promise<void>((resolve) => {
      if (!this.pausedFlag || run.stop.signal.aborted) return resolve();
      this.resumeWaiters.push(resolve);
      run.stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    run.pausedMs += performance.now() - since;
  }

  private async indexBatch(batch: PendingPhoto[], run: Run): Promise<void> {
    this.emit(run, 'indexing', batch[0]!.path);
    const embeddings = await this.encode(batch.map((p) => p.file));
    const entries: LibraryEntry[] = [];
    const failed: AddResult['failed'] = [];
    for (const [i, photo] of batch.entries()) {
      throwIfStopped(run);
      const embedding = embeddings[i]!;
      try {
        if (embedding instanceof Error) throw embedding;
        entries.push(await this.entryFor(photo, embedding, run.stop.signal));
      } catch (error) {
        if (!isPhotoError(error)) throw error;
        failed.push({ path: photo.path, name: photo.name, message: (error as Error).message });
      }
    }
    throwIfStopped(run);
    await this.store.commit(this.scope, entries, batch.map((p) => p.seq));
    for (const entry of entries) this.remember(entry);
    for (const photo of batch) this.queued.delete(photo.id);
    run.done += batch.length;
    run.added += entries.length;
    run.failed.push(...failed);
    this.emit(run, 'indexing');
  }

  /** One encoding call for the batch; when a photo in it cannot be decoded, each photo alone, to find which. */
  private async encode(files: Blob[]): Promise<(Float32Array | Error)[]> {
    try {
      return await this.coca.encodeImage(files);
    } catch (error) {
      if (!isPhotoError(error)) throw error;
      if (files.length === 1) return [error as Error];
      const out: (Float32Array | Error)[] = [];
      for (const file of files) out.push(...(await this.encode([file])));
      return out;
    }
  }

  private async entryFor(photo: PendingPhoto, embedding: Float32Array, signal: AbortSignal): Promise<LibraryEntry> {
    const entry: LibraryEntry = {
      id: photo.id,
      path: photo.path,
      name: photo.name,
      size: photo.size,
      type: photo.type,
      lastModified: photo.lastModified,
      addedAt: Date.now(),
      embedding,
    };
    if (this.thumbnail) entry.thumbnail = await this.thumbnail(photo.file);
    if (photo.caption) {
      const result = await this.coca.caption(photo.file, { ...photo.caption, signal });
      entry.caption = result.text;
      entry.captionStrategy = photo.caption.strategy ?? 'greedy';
    }
    return entry;
  }

  private emit(run: Run, phase: IndexProgress['phase'], path?: string): void {
    const seconds = (performance.now() - run.startedAt - run.pausedMs) / 1000;
    const rate = run.done > 0 && seconds > 0 ? run.done / seconds : 0;
    const progress: IndexProgress = {
      phase,
      read: 0,
      toRead: 0,
      done: run.done,
      total: run.done + this.queued.size,
      known: 0,
      failed: run.failed.length,
      imagesPerSecond: rate,
      ...(rate > 0 ? { secondsLeft: this.queued.size / rate } : {}),
      ...(path !== undefined ? { path } : {}),
    };
    for (const listener of run.listeners) listener(progress);
  }
}

function captionSettings(option: AddOptions['caption']): CaptionSettings | null {
  if (!option) return null;
  return option === true ? { strategy: 'greedy' } : { ...option };
}

/** A File's path inside a picked folder (webkitRelativePath) or its name; a {file, path} pair as given. */
function describeInput(input: LibraryInput): { file: Blob; path: string; name: string; lastModified: number } {
  if (typeof File !== 'undefined' && input instanceof File) {
    return { file: input, path: input.webkitRelativePath || input.name, name: input.name, lastModified: input.lastModified };
  }
  const pair = input as { file?: unknown; path?: unknown };
  if (!(pair.file instanceof Blob) || typeof pair.path !== 'string' || pair.path.length === 0) {
    throw new LibraryError('add() takes Files, or { file: Blob, path: string } objects with a non-empty path');
  }
  const file = pair.file;
  return { file, path: pair.path, name: pair.path.split('/').pop() || pair.path, lastModified: typeof File !== 'undefined' && file instanceof File ? file.lastModified : 0 };
}

function checkK(k: number | undefined): number {
  const value = k ?? DEFAULT_K;
  if (!Number.isInteger(value) || value < 1) throw new LibraryError(`k must be a positive integer, not ${String(k)}`);
  return value;
}

/** Every word of `words` in the caption, case-insensitively; undefined when there are no words. */
function captionFilter(words: string | undefined): ((entry: LibraryEntry) => boolean) | undefined {
  const wanted = (words ?? '').toLowerCase().split(/\s+/).filter((w) => w.length > 0);
  if (wanted.length === 0) return undefined;
  return (entry) => {
    const caption = entry.caption?.toLowerCase();
    return caption !== undefined && wanted.every((w) => caption.includes(w));
  };
}

/**
 * A problem with one photo rather than with the model or the store: not an image, too large, or a file the
 * browser can no longer read (moved, deleted or changed on disk since it was picked).
 */
function isPhotoError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return error instanceof ImageDecodeError || error instanceof ImageTooLargeError || name === 'NotReadableError' || name === 'NotFoundError';
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('adding photos was stopped; photos not yet indexed stay queued (indexPending() continues them)');
}

function throwIfStopped(run: Run): void {
  if (run.stop.signal.aborted) throw new AbortError('indexing was stopped; photos not yet indexed stay queued (indexPending() continues them)');
}
