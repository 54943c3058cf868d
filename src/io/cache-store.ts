// The key-value store under the weight cache: IndexedDB through idb-keyval in browsers, a Map in Node
// tests. Keys are arrays (['chunk', id, revision, dtype, hubUrl, vocab, index]) so that one model's records form a key
// range that can be listed or deleted in one request.
import { clear, createStore, del, get, promisifyRequest, set, type UseStore } from 'idb-keyval';

export type StoreKey = (string | number)[];

export interface KeyValueStore {
  get<T>(key: StoreKey): Promise<T | undefined>;
  set(key: StoreKey, value: unknown): Promise<void>;
  delete(key: StoreKey): Promise<void>;
  /** Every value whose key starts with `prefix`, in key order. */
  values<T>(prefix: StoreKey): Promise<T[]>;
  /** Deletes every key that starts with `prefix`. */
  deletePrefix(prefix: StoreKey): Promise<void>;
  /** Deletes every record. */
  clear(): Promise<void>;
}

/** Our own database, so clearing it never touches a page's other IndexedDB data. */
export const CACHE_DB_NAME = 'coca-webgpu';
export const CACHE_STORE_NAME = 'weights';

/** [prefix…] up to [prefix…, []]: arrays sort after numbers and strings, so this bounds every extension. */
function prefixRange(prefix: StoreKey): IDBKeyRange {
  return IDBKeyRange.bound(prefix, [...prefix, []]);
}

export class IdbStore implements KeyValueStore {
  private readonly store: UseStore;

  constructor(dbName = CACHE_DB_NAME, storeName = CACHE_STORE_NAME) {
    this.store = createStore(dbName, storeName);
  }

  get<T>(key: StoreKey): Promise<T | undefined> {
    return get<T>(key, this.store);
  }

  set(key: StoreKey, value: unknown): Promise<void> {
    return set(key, value, this.store);
  }

  delete(key: StoreKey): Promise<void> {
    return del(key, this.store);
  }

  values<T>(prefix: StoreKey): Promise<T[]> {
    return this.store('readonly', (s) => promisifyRequest(s.getAll(prefixRange(prefix)) as IDBRequest<T[]>));
  }

  deletePrefix(prefix: StoreKey): Promise<void> {
    return this.store('readwrite', (s) => {
      s.delete(prefixRange(prefix));
      return promisifyRequest(s.transaction);
    });
  }

  clear(): Promise<void> {
    return clear(this.store);
  }
}

/** In memory, for Node tests: values are kept as given (copy them if you mutate them later). */
export class MemoryStore implements KeyValueStore {
  readonly data = new Map<string, { key: StoreKey; value: unknown }>();
  /** Makes the next writes fail like a full disk, for tests: bytes allowed in all, or Infinity. */
  quotaBytes = Infinity;

  async get<T>(key: StoreKey): Promise<T | undefined> {
    return this.data.get(JSON.stringify(key))?.value as T | undefined;
  }

  async set(key: StoreKey, value: unknown): Promise<void> {
    const size = (v: unknown): number => (v instanceof ArrayBuffer ? v.byteLength : 0);
    let used = size(value);
    for (const [k, entry] of this.data) if (k !== JSON.stringify(key)) used += size(entry.value);
    if (used > this.quotaBytes) throw new DOMException('quota exceeded (memory store)', 'QuotaExceededError');
    this.data.set(JSON.stringify(key), { key, value });
  }

  async delete(key: StoreKey): Promise<void> {
    this.data.delete(JSON.stringify(key));
  }

  async values<T>(prefix: StoreKey): Promise<T[]> {
    return [...this.data.values()].filter((e) => startsWith(e.key, prefix)).map((e) => e.value as T);
  }

  async deletePrefix(prefix: StoreKey): Promise<void> {
    for (const [k, e] of this.data) if (startsWith(e.key, prefix)) this.data.delete(k);
  }

  async clear(): Promise<void> {
    this.data.clear();
  }
}

function startsWith(key: StoreKey, prefix: StoreKey): boolean {
  return prefix.every((part, i) => key[i] === part);
}
