// Who may touch a cached model's records, and when, across every page and worker of the origin: the Web Locks
// API (navigator.locks), one lock per cache key. Reading a whole model from the cache takes its lock shared, so
// any number of tabs read at once; writing (a download, a resume, a repair) and deleting take it exclusive, so
// there is one writer at a time and nothing is deleted while it is being read or written. A tab closed in the
// middle of a download releases its locks with it (the browser does), and its partial record stays resumable.
//
// Where navigator.locks does not exist (Node, browsers before 2022), InProcessLocks keeps the same rules inside
// one JavaScript realm only: two tabs (or a page and its worker) are then not kept apart.

export type LockMode = 'shared' | 'exclusive';

export interface CacheLocks {
  /** Where the rules hold: every page and worker of the origin, or this realm only. */
  readonly scope: 'origin' | 'realm';
  /**
   * Runs `job` while holding lock `name` in `mode`. When the lock is taken elsewhere, `onWait` is called once and
   * the request waits; an abort of `signal` while waiting rejects with its reason. The lock goes when `job` settles.
   */
  run<T>(name: string, mode: LockMode, job: () => Promise<T>, options?: { signal?: AbortSignal; onWait?: () => void }): Promise<T>;
}

/** navigator.locks: shared by every page and worker of the origin. */
export class WebLocks implements CacheLocks {
  readonly scope = 'origin';

  constructor(private readonly manager: LockManager) {}

  async run<T>(name: string, mode: LockMode, job: () => Promise<T>, options: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
    options.signal?.throwIfAborted();
    // ifAvailable first, so a caller learns that it waits (and can say so) before it does.
    const granted = await this.manager.request(name, { mode, ifAvailable: true }, async (lock) => (lock ? { value: await job() } : null));
    if (granted) return granted.value;
    options.onWait?.();
    return this.manager.request(name, { mode, ...(options.signal ? { signal: options.signal } : {}) }, () => job());
  }
}

interface Waiter {
  mode: LockMode;
  grant: () => void;
}

interface LockState {
  /** The mode the lock is held in (meaningful while holders > 0). */
  mode: LockMode;
  holders: number;
  /** Requests in arrival order: a shared request does not overtake an exclusive one waiting before it. */
  queue: Waiter[];
}

/** The same rules as Web Locks (first come, first served; shared holders together), within this realm. */
export class InProcessLocks implements CacheLocks {
  readonly scope = 'realm';
  private readonly locks = new Map<string, LockState>();

  async run<T>(name: string, mode: LockMode, job: () => Promise<T>, options: { signal?: AbortSignal; onWait?: () => void } = {}): Promise<T> {
    const { signal } = options;
    signal?.throwIfAborted();
    let state = this.locks.get(name);
    if (!state) {
      state = { mode, holders: 0, queue: [] };
      this.locks.set(name, state);
    }
    const held = state;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        held.queue.splice(held.queue.indexOf(waiter), 1);
        this.grant(name, held);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        mode,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      held.queue.push(waiter);
      this.grant(name, held);
      if (held.queue.includes(waiter)) {
        signal?.addEventListener('abort', onAbort, { once: true });
        options.onWait?.();
      }
    });
    try {
      return await job();
    } finally {
      held.holders--;
      this.grant(name, held);
    }
  }

  /** Grants waiting requests in order while they are compatible with the holders; forgets an idle lock. */
  private grant(name: string, state: LockState): void {
    for (;;) {
      const next = state.queue[0];
      if (!next || (state.holders > 0 && (state.mode === 'exclusive' || next.mode === 'exclusive'))) break;
      state.queue.shift();
      state.mode = next.mode;
      state.holders++;
      next.grant();
    }
    if (state.holders === 0 && state.queue.length === 0) this.locks.delete(name);
  }
}

let realmLocks: InProcessLocks | null = null;

/** navigator.locks where the browser has it, else one InProcessLocks for the whole realm. */
export function defaultCacheLocks(): CacheLocks {
  const manager = (globalThis.navigator as Navigator | undefined)?.locks;
  if (manager) return new WebLocks(manager);
  return (realmLocks ??= new InProcessLocks());
}
