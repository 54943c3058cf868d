// OpenCLIP's SimpleTokenizer.bpe: split a byte-level word into characters (the last one carrying
// "</w>"), then repeatedly merge every occurrence of the adjacent pair with the lowest merge rank, left to
// right. Done here with a heap of candidate pairs over a linked list of symbols, so a long word costs
// O(n log n) instead of the reference loop's O(n²): each step takes every live pair of the lowest rank,
// merges them in word order (a pair whose left symbol was just consumed is skipped, as Python's scan skips
// it), and only then offers the pairs the merges created, exactly as the reference recomputes its pairs
// after each full pass.

import { TextTooLongError, VocabularyError } from '../errors';

/** Words whose ids are remembered; past this the cache starts again, so long sessions stay bounded. */
const CACHE_LIMIT = 100_000;
/** Longer words are not cached: they are rare, and 100,000 of them would hold gigabytes. */
const CACHE_MAX_WORD = 64;
/** Heap keys are rank · 2^20 + position: positions must stay below 2^20 (texts are far shorter). */
const POSITION_BITS = 2 ** 20;

export class BytePairEncoder {
  private readonly cache = new Map<string, readonly number[]>();

  /**
   * @param ranks merge rank by "left right"
   * @param ids token id by token string
   */
  constructor(
    private readonly ranks: ReadonlyMap<string, number>,
    private readonly ids: ReadonlyMap<string, number>,
  ) {}

  /** The token ids of one word already spelled in the byte-level alphabet. */
  encodeWord(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached !== undefined) return cached;
    const ids = this.merge(word).map((symbol) => this.idOf(symbol));
    if (word.length <= CACHE_MAX_WORD) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    return ids;
  }

  private rank(left: string, right: string): number | undefined {
    return this.ranks.get(`${left} ${right}`);
  }

  private merge(word: string): string[] {
    const symbols = [...word];
    const count = symbols.length;
    if (count === 0) return [];
    if (count >= POSITION_BITS) {
      throw new TextTooLongError(`a word of ${count} characters is too long to tokenize`, count, POSITION_BITS - 1);
    }
    symbols[count - 1] += '</w>';
    const next = Int32Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
    const prev = Int32Array.from({ length: count }, (_, i) => i - 1);
    const alive = new Uint8Array(count).fill(1);
    const heap = new KeyHeap();
    const offer = (left: number): void => {
      if (left < 0 || next[left]! < 0) return;
      const right = next[left]!;
      const rank = this.rank(symbols[left]!, symbols[right]!);
      if (rank !== undefined) heap.push(rank * POSITION_BITS + left);
    };
    for (let i = 0; i + 1 < count; i++) offer(i);

    let remaining = count;
    while (remaining > 1 && heap.size > 0) {
      const rank = Math.floor(heap.peek() / POSITION_BITS);
      const lefts: number[] = [];
      while (heap.size > 0 && Math.floor(heap.peek() / POSITION_BITS) === rank) lefts.push(heap.pop() % POSITION_BITS);
      // The heap pops positions of one rank in increasing order: word order, as the reference scans.
      const merged: number[] = [];
      for (const left of lefts) {
        const right = next[left]!;
        // Stale entries: the left symbol was consumed, or its pair changed since it was offered.
        if (!alive[left] || right < 0 || this.rank(symbols[left]!, symbols[right]!) !== rank) continue;
        symbols[left] += symbols[right]!;
        alive[right] = 0;
        next[left] = next[right]!;
        if (next[right]! >= 0) prev[next[right]!] = left;
        remaining--;
        merged.push(left);
      }
      for (const left of merged) {
        if (!alive[left]) continue;
        offer(prev[left]!);
        offer(left);
      }
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(symbols[i]!);
    return out;
  }

  private idOf(symbol: string): number {
    const id = this.ids.get(symbol);
    if (id === undefined) {
      throw new VocabularyError(
        `BPE produced ${JSON.stringify(symbol)}, which the vocabulary lacks: the merges and the vocabulary do not belong together`,
      );
    }
    return id;
  }
}

/** A binary min-heap of non-negative integer keys. */
class KeyHeap {
  private readonly keys: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  peek(): number {
    return this.keys[0]!;
  }

  push(key: number): void {
    const keys = this.keys;
    let i = keys.length;
    keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      i = parent;
    }
    keys[i] = key;
  }

  pop(): number {
    const keys = this.keys;
    const top = keys[0]!;
    const last = keys.pop()!;
    if (keys.length > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= keys.length) break;
        if (child + 1 < keys.length && keys[child + 1]! < keys[child]!) child++;
        if (keys[child]! >= last) break;
        keys[i] = keys[child]!;
        i = child;
      }
      keys[i] = last;
    }
    return top;
  }
}
