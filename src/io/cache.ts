// The weight cache: a model's converted weights (the runtime's layout, not the checkpoint) in chunks of
// bounded size, each with a CRC-32; its config and vocabulary; and a manifest written last, so a model
// whose download was cut off is never taken for a whole one. Until the manifest exists, a `partial`
// record lists the chunks already stored, which is what a later load resumes from.
//
// Records, keyed by [kind, id, revision, dtype, hubUrl, vocab, …] (CacheModelKey), and one ['format'] record:
//   manifest   CacheManifest                 the model is complete
//   partial    PartialRecord                 chunks stored so far (deleted when the manifest is written)
//   chunk, i   ArrayBuffer                   bytes [i·chunkBytes, …) of the converted weight stream
//   vocab      StoredVocabulary              the tokenizer's files
//   format     number                        CACHE_FORMAT_VERSION of every record in the store
//
// Pages and workers of one origin share these records: each model key has a lock (cache-lock.ts) that a
// reader of the whole model holds shared, and a writer or a delete holds exclusive (see withModel). A store
// written by another format version is cleared on first use, under a lock of its own.
import { QuotaExceededError } from '../errors';
import { crc32 } from './cache-checksum';
import { defaultCacheLocks, type CacheLocks, type LockMode } from './cache-lock';
import { IdbStore, type KeyValueStore, type StoreKey } from './cache-store';
import type { FileIdentity } from './http';
import type { ConfigSource, VocabularyFiles } from './hub';
import type { WeightDtype } from '../options';

/**
 * Bumped when the records' meaning changes; the weight layout has its own version inside. 2: the key names the
 * hub and the vocabulary (records of version 1 may have come from any hub or vocabulary, so they are dropped).
 */
export const CACHE_FORMAT_VERSION = 2;

const FORMAT_KEY: StoreKey = ['format'];
/** Held while the format record is checked (and an old store cleared). */
const FORMAT_LOCK = 'coca-webgpu/cache-format';

/** Chunks are at most this big: a few tens of MB keeps each IndexedDB write and each read-back bounded. */
export const DEFAULT_CHUNK_BYTES = 32 * 2 ** 20;

/** What one cache entry is: a model (repo id, URL or local file) at a revision, in a dtype, from a hub, with a vocabulary. */
export interface CacheModelKey {
  id: string;
  revision: string;
  dtype: WeightDtype;
  /** The hub repo ids resolve against (and the default vocabulary comes from), without a trailing '/'. */
  hubUrl: string;
  /** The vocabulary: 'default' (next to the model, else the hub's), 'url:…' as given, or 'content:…' of a given file. */
  vocab: string;
}

export interface ChunkRecord {
  byteLength: number;
  crc32: number;
}

interface StoredRecordBase extends CacheModelKey {
  format: number;
  /** WEIGHT_LAYOUT_VERSION of the converter that wrote the chunks. */
  layout: number;
  /** The checkpoint the chunks were converted from. */
  source: FileIdentity;
  config: ConfigSource;
  logitScale: number;
  /** Length of the whole converted stream. */
  streamBytes: number;
  chunkBytes: number;
}

export interface PartialRecord extends StoredRecordBase {
  /** Entry i is set once chunk i is stored. */
  chunks: (ChunkRecord | null)[];
  updatedAt: number;
}

export interface CacheManifest extends StoredRecordBase {
  chunks: ChunkRecord[];
  /** The stored vocabulary files' record. */
  vocabFiles: ChunkRecord & { kind: VocabularyFiles['kind'] };
  /** Bytes stored for this model (chunks and vocabulary). */
  bytes: number;
  /** ms since epoch. */
  storedAt: number;
}

interface StoredVocabulary {
  kind: VocabularyFiles['kind'];
  /** bpe: one part; vocab-merges: vocab.json then merges.txt. */
  parts: ArrayBuffer[];
}

export interface CachedModelEntry extends CacheModelKey {
  bytes: number;
  storedAt: number;
}

/** Which entries of a model a delete removes: every one, or those matching each field given. */
export type CacheEntryFilter = Partial<Omit<CacheModelKey, 'id'>>;

export interface CacheUsageSummary {
  /** Complete models in the cache. */
  models: number;
  /** Bytes our records hold (complete models and partial downloads). */
  bytes: number;
  /** navigator.storage.estimate() for the whole origin, when available. */
  usage?: number;
  quota?: number;
}

export type ChunkReadResult = { ok: true; bytes: Uint8Array } | { ok: false; problem: 'missing' | 'truncated' | 'checksum' };

/** An IndexedDB write refused for lack of space (DOMException or our own error). */
export function isQuotaError(error: unknown): boolean {
  return error instanceof Error && error.name === 'QuotaExceededError';
}

/** An exact ArrayBuffer for `bytes`: IndexedDB stores a view's whole underlying buffer. */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}

/** The key's fields alone (records carry more). */
export function modelKeyOf(k: CacheModelKey): CacheModelKey {
  return { id: k.id, revision: k.revision, dtype: k.dtype, hubUrl: k.hubUrl, vocab: k.vocab };
}

/**
 * The weight cache. The record methods (manifest … discard) expect the caller to hold the model's lock
 * (withModel): shared to read, exclusive to write or discard. list, usage and deleteModel take what they need.
 */
export class WeightCache {
  private formatChecked: Promise<void> | null = null;

  constructor(
    readonly store: KeyValueStore = new IdbStore(),
    private readonly estimate: () => Promise<StorageEstimate | null> = browserEstimate,
    readonly locks: CacheLocks = defaultCacheLocks(),
  ) {}

  private key(kind: string, k: CacheModelKey, ...rest: (string | number)[]): StoreKey {
    return [kind, k.id, k.revision, k.dtype, k.hubUrl, k.vocab, ...rest];
  }

  /**
   * Runs `job` holding the lock of model `k`: 'shared' to read the whole model, 'exclusive' to write or delete
   * any of its records. `onWait` hears that another page or worker holds it and the job waits for it.
   */
  async withModel<T>(k: CacheModelKey, mode: LockMode, job: () => Promise<T>, options: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
    await this.ready();
    return this.locks.run(`coca-webgpu/model ${JSON.stringify(this.key('model', k))}`, mode, job, options);
  }

  /** Clears a store that another format version wrote (once per WeightCache; every page agrees through the lock). */
  private ready(): Promise<void> {
    this.formatChecked ??= this.locks
      .run(FORMAT_LOCK, 'exclusive', async () => {
        if ((await this.store.get<number>(FORMAT_KEY)) === CACHE_FORMAT_VERSION) return;
        await this.store.clear();
        await this.store.set(FORMAT_KEY, CACHE_FORMAT_VERSION);
      })
      .catch((error: unknown) => {
        this.formatChecked = null;
        throw error;
      });
    return this.formatChecked;
  }

  /** The manifest of a complete model written by this version, or null. */
  async manifest(k: CacheModelKey, layout: number): Promise<CacheManifest | null> {
    await this.ready();
    const m = await this.store.get<CacheManifest>(this.key('manifest', k));
    return m && m.format === CACHE_FORMAT_VERSION && m.layout === layout ? m : null;
  }

  /** A partial download's record, or null (also when another version wrote it). */
  async partial(k: CacheModelKey, layout: number): Promise<PartialRecord | null> {
    await this.ready();
    const p = await this.store.get<PartialRecord>(this.key('partial', k));
    return p && p.format === CACHE_FORMAT_VERSION && p.layout === layout ? p : null;
  }

  /** Chunk i, checked against its record: a truncated or altered chunk is reported, never returned. */
  async readChunk(k: CacheModelKey, index: number, expected: ChunkRecord): Promise<ChunkReadResult> {
    const value = await this.store.get<ArrayBuffer>(this.key('chunk', k, index));
    if (!(value instanceof ArrayBuffer)) return { ok: false, problem: 'missing' };
    if (value.byteLength !== expected.byteLength) return { ok: false, problem: 'truncated' };
    const bytes = new Uint8Array(value);
    if (crc32(bytes) !== expected.crc32) return { ok: false, problem: 'checksum' };
    return { ok: true, bytes };
  }

  /** Stores chunk i; returns its record. Throws the store's QuotaExceededError when the origin is full. */
  async writeChunk(k: CacheModelKey, index: number, bytes: Uint8Array): Promise<ChunkRecord> {
    const record = { byteLength: bytes.byteLength, crc32: crc32(bytes) };
    await this.store.set(this.key('chunk', k, index), ownBuffer(bytes));
    return record;
  }

  writePartial(k: CacheModelKey, record: PartialRecord): Promise<void> {
    return this.store.set(this.key('partial', k), record);
  }

  async writeVocabulary(k: CacheModelKey, files: VocabularyFiles): Promise<CacheManifest['vocabFiles']> {
    const parts = files.kind === 'bpe' ? [files.bytes] : [files.vocab, files.merges];
    const stored: StoredVocabulary = { kind: files.kind, parts: parts.map(ownBuffer) };
    await this.store.set(this.key('vocab', k), stored);
    return { kind: files.kind, ...vocabularyRecord(stored.parts) };
  }

  /** The stored vocabulary if it matches its record, else null. */
  async readVocabulary(k: CacheModelKey, expected: CacheManifest['vocabFiles']): Promise<VocabularyFiles | null> {
    const stored = await this.store.get<StoredVocabulary>(this.key('vocab', k));
    if (!stored || stored.kind !== expected.kind || !Array.isArray(stored.parts)) return null;
    const record = vocabularyRecord(stored.parts);
    if (record.byteLength !== expected.byteLength || record.crc32 !== expected.crc32) return null;
    const [a, b] = stored.parts.map((p) => new Uint8Array(p));
    if (stored.kind === 'bpe') return a ? { kind: 'bpe', bytes: a } : null;
    return a && b ? { kind: 'vocab-merges', vocab: a, merges: b } : null;
  }

  /** Marks the model complete: the manifest goes in last, then the partial record goes. */
  async commit(k: CacheModelKey, manifest: CacheManifest): Promise<void> {
    await this.store.set(this.key('manifest', k), manifest);
    await this.store.delete(this.key('partial', k));
  }

  /** Drops everything stored for one id + revision + dtype. The manifest goes first, so nothing half-deleted looks whole. */
  async discard(k: CacheModelKey): Promise<void> {
    await this.store.delete(this.key('manifest', k));
    for (const kind of ['partial', 'vocab', 'chunk']) await this.store.deletePrefix(this.key(kind, k));
  }

  async list(): Promise<CachedModelEntry[]> {
    await this.ready();
    const manifests = await this.store.values<CacheManifest>(['manifest']);
    const order: (keyof CacheModelKey)[] = ['id', 'revision', 'dtype', 'hubUrl', 'vocab'];
    return manifests
      .map((m) => ({ ...modelKeyOf(m), bytes: m.bytes, storedAt: m.storedAt }))
      .sort((a, b) => order.reduce((c, field) => c || a[field].localeCompare(b[field]), 0));
  }

  /**
   * Deletes every entry of `id` (every revision, dtype, hub and vocabulary, or only those matching `filter`),
   * partial downloads included. Each waits for the model's exclusive lock, so a read or download of it in another
   * tab finishes first and nothing is deleted from under it. Returns how many entries went.
   */
  async deleteModel(id: string, filter: CacheEntryFilter = {}): Promise<number> {
    await this.ready();
    const records = [
      ...(await this.store.values<StoredRecordBase>(['manifest', id])),
      ...(await this.store.values<StoredRecordBase>(['partial', id])),
    ];
    const keys = new Map<string, CacheModelKey>();
    for (const r of records) {
      const k = modelKeyOf(r);
      if ((Object.keys(filter) as (keyof CacheEntryFilter)[]).some((field) => filter[field] !== undefined && filter[field] !== k[field])) continue;
      keys.set(JSON.stringify(k), k);
    }
    for (const k of keys.values()) await this.withModel(k, 'exclusive', () => this.discard(k));
    return keys.size;
  }

  async usage(): Promise<CacheUsageSummary> {
    await this.ready();
    const manifests = await this.store.values<CacheManifest>(['manifest']);
    const partials = await this.store.values<PartialRecord>(['partial']);
    let bytes = manifests.reduce((sum, m) => sum + m.bytes, 0);
    for (const p of partials) for (const c of p.chunks) bytes += c?.byteLength ?? 0;
    const estimate = await this.estimate();
    return { models: manifests.length, bytes, ...(estimate ? { usage: estimate.usage, quota: estimate.quota } : {}) };
  }

  /** Bytes the origin may still store (quota − usage), or -1 when the browser does not say. */
  async freeBytes(): Promise<number> {
    const e = await this.estimate();
    return e?.quota !== undefined && e.usage !== undefined ? Math.max(0, e.quota - e.usage) : -1;
  }

  /** Our QuotaExceededError for a refused write: how much the model needs and how much is left. */
  async quotaError(needed: number): Promise<QuotaExceededError> {
    const free = await this.freeBytes();
    const mb = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MB`;
    return new QuotaExceededError(
      `the browser refused to store the model (${mb(needed)} needed, ${free >= 0 ? mb(free) : 'an unknown amount'} free): ` +
        'it works now but will download again next time. Free space with deleteCachedModel(), or allow this site more storage.',
      needed,
      free,
    );
  }
}

/** The cache key's name for a vocabulary given as a file: its size and CRC-32, so a renamed copy is the same entry. */
export function vocabularyContentKey(files: VocabularyFiles): string {
  const record = vocabularyRecord(files.kind === 'bpe' ? [files.bytes] : [files.vocab, files.merges]);
  return `content:${record.byteLength}:${record.crc32.toString(16).padStart(8, '0')}`;
}

function vocabularyRecord(parts: readonly (ArrayBuffer | Uint8Array)[]): ChunkRecord {
  let crc = 0;
  let byteLength = 0;
  for (const p of parts) {
    crc = crc32(p instanceof Uint8Array ? p : new Uint8Array(p), crc);
    byteLength += p.byteLength;
  }
  return { byteLength, crc32: crc };
}

async function browserEstimate(): Promise<StorageEstimate | null> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.estimate) return null;
  try {
    return await storage.estimate();
  } catch {
    return null;
  }
}
