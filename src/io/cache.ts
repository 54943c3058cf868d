// The weight cache: a model's converted weights (the runtime's layout, not the checkpoint) in chunks of
// bounded size, each with a CRC-32; its config and vocabulary; and a manifest written last, so a model
// whose download was cut off is never taken for a whole one. Until the manifest exists, a `partial`
// record lists the chunks already stored, which is what a later load resumes from.
//
// Records, keyed by [kind, id, revision, dtype, …]:
//   manifest   CacheManifest                 the model is complete
//   partial    PartialRecord                 chunks stored so far (deleted when the manifest is written)
//   chunk, i   ArrayBuffer                   bytes [i·chunkBytes, …) of the converted weight stream
//   vocab      StoredVocabulary              the tokenizer's files
import { QuotaExceededError } from '../errors';
import { crc32 } from './cache-checksum';
import { IdbStore, type KeyValueStore, type StoreKey } from './cache-store';
import type { FileIdentity } from './http';
import type { ConfigSource, VocabularyFiles } from './hub';
import type { WeightDtype } from '../options';

/** Bumped when the records' meaning changes; the weight layout has its own version inside. */
export const CACHE_FORMAT_VERSION = 1;

/** Chunks are at most this big: a few tens of MB keeps each IndexedDB write and each read-back bounded. */
export const DEFAULT_CHUNK_BYTES = 32 * 2 ** 20;

export interface CacheModelKey {
  id: string;
  revision: string;
  dtype: WeightDtype;
}

export interface ChunkRecord {
  byteLength: number;
  crc32: number;
}

interface StoredRecordBase {
  format: number;
  /** WEIGHT_LAYOUT_VERSION of the converter that wrote the chunks. */
  layout: number;
  id: string;
  revision: string;
  dtype: WeightDtype;
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
  vocab: ChunkRecord & { kind: VocabularyFiles['kind'] };
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

export interface CachedModelEntry {
  id: string;
  revision: string;
  dtype: WeightDtype;
  bytes: number;
  storedAt: number;
}

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

export class WeightCache {
  constructor(
    readonly store: KeyValueStore = new IdbStore(),
    private readonly estimate: () => Promise<StorageEstimate | null> = browserEstimate,
  ) {}

  private key(kind: string, k: CacheModelKey, ...rest: (string | number)[]): StoreKey {
    return [kind, k.id, k.revision, k.dtype, ...rest];
  }

  /** The manifest of a complete model written by this version, or null. */
  async manifest(k: CacheModelKey, layout: number): Promise<CacheManifest | null> {
    const m = await this.store.get<CacheManifest>(this.key('manifest', k));
    return m && m.format === CACHE_FORMAT_VERSION && m.layout === layout ? m : null;
  }

  /** A partial download's record, or null (also when another version wrote it). */
  async partial(k: CacheModelKey, layout: number): Promise<PartialRecord | null> {
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

  async writeVocabulary(k: CacheModelKey, files: VocabularyFiles): Promise<CacheManifest['vocab']> {
    const parts = files.kind === 'bpe' ? [files.bytes] : [files.vocab, files.merges];
    const stored: StoredVocabulary = { kind: files.kind, parts: parts.map(ownBuffer) };
    await this.store.set(this.key('vocab', k), stored);
    return { kind: files.kind, ...vocabularyRecord(stored.parts) };
  }

  /** The stored vocabulary if it matches its record, else null. */
  async readVocabulary(k: CacheModelKey, expected: CacheManifest['vocab']): Promise<VocabularyFiles | null> {
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
    const manifests = await this.store.values<CacheManifest>(['manifest']);
    return manifests
      .map(({ id, revision, dtype, bytes, storedAt }) => ({ id, revision, dtype, bytes, storedAt }))
      .sort((a, b) => a.id.localeCompare(b.id) || a.revision.localeCompare(b.revision) || a.dtype.localeCompare(b.dtype));
  }

  /** Deletes every revision and dtype of `id` (or only those given), partial downloads included. Returns how many entries went. */
  async deleteModel(id: string, filter: { revision?: string; dtype?: WeightDtype } = {}): Promise<number> {
    const records = [
      ...(await this.store.values<StoredRecordBase>(['manifest', id])),
      ...(await this.store.values<StoredRecordBase>(['partial', id])),
    ];
    const keys = new Map<string, CacheModelKey>();
    for (const r of records) {
      if (filter.revision !== undefined && r.revision !== filter.revision) continue;
      if (filter.dtype !== undefined && r.dtype !== filter.dtype) continue;
      keys.set(`${r.revision}\n${r.dtype}`, { id, revision: r.revision, dtype: r.dtype });
    }
    for (const k of keys.values()) await this.discard(k);
    return keys.size;
  }

  async usage(): Promise<CacheUsageSummary> {
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

function vocabularyRecord(parts: readonly ArrayBuffer[]): ChunkRecord {
  let crc = 0;
  let byteLength = 0;
  for (const p of parts) {
    crc = crc32(new Uint8Array(p), crc);
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
