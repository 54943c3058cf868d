// The library in IndexedDB: its own database beside the weight cache (`coca-webgpu`), so clearing one never
// touches the other. Two object stores with array keys, so that one scope's records are one key range:
//   entries  [library, model, sha256] → LibraryEntry (embedding as Float32Array, thumbnail as Blob)
//   pending  [library, model, seq]    → PendingPhoto (the photo's bytes as a Blob until it is indexed)
import { QuotaExceededError } from '../errors';
import { isQuotaError } from '../io/cache';
import type { LibraryScope, LibraryStore, PendingPhoto } from './store';
import type { LibraryEntry } from './types';

export const LIBRARY_DB_NAME = 'coca-webgpu-library';
const DB_VERSION = 1;
const ENTRIES = 'entries';
const PENDING = 'pending';

/** Every key that starts with [library, model]: arrays sort after numbers and strings, so [..., []] bounds them all. */
function scopeRange(scope: LibraryScope): IDBKeyRange {
  return IDBKeyRange.bound([scope.library, scope.model], [scope.library, scope.model, []]);
}

function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

export class IdbLibraryStore implements LibraryStore {
  private database: Promise<IDBDatabase> | null = null;

  constructor(private readonly dbName = LIBRARY_DB_NAME) {}

  private open(): Promise<IDBDatabase> {
    this.database ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(this.dbName, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(ENTRIES)) db.createObjectStore(ENTRIES);
        if (!db.objectStoreNames.contains(PENDING)) db.createObjectStore(PENDING);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab deleting or upgrading the database: let it, and reopen on our next call.
        db.onversionchange = () => {
          db.close();
          this.database = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error ?? new Error(`IndexedDB database ${this.dbName} could not be opened`));
      request.onblocked = () => reject(new Error(`IndexedDB database ${this.dbName} is held open by an older version of this page in another tab; close it and try again`));
    }).catch((error: unknown) => {
      this.database = null;
      throw error;
    });
    return this.database;
  }

  /** Runs `body`'s requests in one read-write transaction; settles when it commits (or fails as a whole). */
  private async write(stores: string[], body: (tx: IDBTransaction) => void): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(stores, 'readwrite');
    body(tx);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  async entries(scope: LibraryScope): Promise<LibraryEntry[]> {
    const db = await this.open();
    return requestResult(db.transaction(ENTRIES, 'readonly').objectStore(ENTRIES).getAll(scopeRange(scope)) as IDBRequest<LibraryEntry[]>);
  }

  async pending(scope: LibraryScope, limit?: number): Promise<PendingPhoto[]> {
    const db = await this.open();
    return requestResult(db.transaction(PENDING, 'readonly').objectStore(PENDING).getAll(scopeRange(scope), limit) as IDBRequest<PendingPhoto[]>);
  }

  async enqueue(scope: LibraryScope, photos: readonly PendingPhoto[]): Promise<void> {
    try {
      await this.write([PENDING], (tx) => {
        const store = tx.objectStore(PENDING);
        for (const photo of photos) store.put(photo, [scope.library, scope.model, photo.seq]);
      });
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      const needed = photos.reduce((sum, p) => sum + p.size, 0);
      const free = await freeBytes();
      throw new QuotaExceededError(
        `the browser refused to store ${photos.length} more photos for indexing (${(needed / 1e6).toFixed(1)} MB; ${free >= 0 ? `${(free / 1e6).toFixed(1)} MB` : 'an unknown amount'} free): ` +
          'add fewer photos at a time, free space (delete cached models or other site data), or allow this site more storage.',
        needed,
        free,
      );
    }
  }

  async commit(scope: LibraryScope, entries: readonly LibraryEntry[], done: readonly number[]): Promise<void> {
    await this.write([ENTRIES, PENDING], (tx) => {
      const entryStore = tx.objectStore(ENTRIES);
      for (const entry of entries) entryStore.put(entry, [scope.library, scope.model, entry.id]);
      const pendingStore = tx.objectStore(PENDING);
      for (const seq of done) pendingStore.delete([scope.library, scope.model, seq]);
    });
  }

  async removeEntry(scope: LibraryScope, id: string): Promise<void> {
    await this.write([ENTRIES], (tx) => {
      tx.objectStore(ENTRIES).delete([scope.library, scope.model, id]);
    });
  }

  async clearPending(scope: LibraryScope): Promise<void> {
    await this.write([PENDING], (tx) => {
      tx.objectStore(PENDING).delete(scopeRange(scope));
    });
  }

  async clear(scope: LibraryScope): Promise<void> {
    await this.write([ENTRIES, PENDING], (tx) => {
      tx.objectStore(ENTRIES).delete(scopeRange(scope));
      tx.objectStore(PENDING).delete(scopeRange(scope));
    });
  }
}

/** Bytes the origin may still store (quota − usage), or -1 when the browser does not say. */
async function freeBytes(): Promise<number> {
  try {
    const estimate = await navigator.storage?.estimate?.();
    return estimate?.quota !== undefined && estimate.usage !== undefined ? Math.max(0, estimate.quota - estimate.usage) : -1;
  } catch {
    return -1;
  }
}
