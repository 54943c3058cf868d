// Where a library keeps its entries and its queue of photos still to index. Two implementations: IndexedDB
// in browsers (store-idb.ts) and memory (Node, tests). A scope is one library under one model, so another
// model (or another library name) never sees these entries.
import type { LibraryEntry, LibraryScope, LibraryStore, PendingPhoto } from './types';

export type { LibraryScope, LibraryStore, PendingPhoto };

/** In memory: for Node (the bench, tests). Values are kept as given. */
export class MemoryLibraryStore implements LibraryStore {
  private readonly entryMaps = new Map<string, Map<string, LibraryEntry>>();
  private readonly queues = new Map<string, Map<number, PendingPhoto>>();

  private entryMap(scope: LibraryScope): Map<string, LibraryEntry> {
    const key = scopeKey(scope);
    let map = this.entryMaps.get(key);
    if (!map) this.entryMaps.set(key, (map = new Map()));
    return map;
  }

  private queue(scope: LibraryScope): Map<number, PendingPhoto> {
    const key = scopeKey(scope);
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = new Map()));
    return queue;
  }

  async entries(scope: LibraryScope): Promise<LibraryEntry[]> {
    return [...this.entryMap(scope).values()];
  }

  async pending(scope: LibraryScope, limit = Infinity): Promise<PendingPhoto[]> {
    return [...this.queue(scope).values()].sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  async enqueue(scope: LibraryScope, photos: readonly PendingPhoto[]): Promise<void> {
    const queue = this.queue(scope);
    for (const photo of photos) queue.set(photo.seq, photo);
  }

  async commit(scope: LibraryScope, entries: readonly LibraryEntry[], done: readonly number[]): Promise<void> {
    const map = this.entryMap(scope);
    for (const entry of entries) map.set(entry.id, entry);
    const queue = this.queue(scope);
    for (const seq of done) queue.delete(seq);
  }

  async removeEntry(scope: LibraryScope, id: string): Promise<void> {
    this.entryMap(scope).delete(id);
  }

  async clearPending(scope: LibraryScope): Promise<void> {
    this.queue(scope).clear();
  }

  async clear(scope: LibraryScope): Promise<void> {
    this.entryMap(scope).clear();
    this.queue(scope).clear();
  }
}

function scopeKey(scope: LibraryScope): string {
  return JSON.stringify([scope.library, scope.model]);
}
