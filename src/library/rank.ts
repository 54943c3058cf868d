// Ranking stored embeddings against a query: one contiguous Float32Array of unit rows, a dot product per
// row, and a bounded min-heap for the top k. No DOM and no GPU, so the browser library and the Node CLI
// rank the same way. Equal scores (the same picture in two files) come out in id order, whatever order the
// rows were loaded in.

export interface Ranked {
  /** The row's id (for the library: the SHA-256 of the photo's bytes). */
  id: string;
  /** Cosine similarity with the query, in [-1, 1]. */
  score: number;
}

/** Rows are kept as unit vectors; a row this short is treated as zero (its cosine with anything is 0). */
const MIN_NORM = 1e-12;

/** Writes `source / |source|` into `target` (zeros when the norm is negligible). */
export function normalizeInto(target: Float32Array, source: ArrayLike<number>): void {
  let sum = 0;
  for (let i = 0; i < source.length; i++) sum += source[i]! * source[i]!;
  const norm = Math.sqrt(sum);
  const scale = norm > MIN_NORM ? 1 / norm : 0;
  for (let i = 0; i < source.length; i++) target[i] = source[i]! * scale;
}

/**
 * The k best of `count` scores (highest first; among equal scores the one `precedes` puts first, by default
 * the lower index), keeping only k candidates in a min-heap: O(count · log k) time, O(k) memory.
 */
export function topK(
  scores: ArrayLike<number>,
  count: number,
  k: number,
  accept?: (index: number) => boolean,
  precedes: (a: number, b: number) => boolean = (a, b) => a < b,
): { index: number; score: number }[] {
  const size = Math.min(k, count);
  if (size <= 0) return [];
  const heapIndex = new Int32Array(size);
  const heapScore = new Float64Array(size);
  let filled = 0;
  // "a is worse than b": lower score, or the same score and b precedes a.
  const worse = (sa: number, ia: number, sb: number, ib: number): boolean => sa < sb || (sa === sb && precedes(ib, ia));
  const siftDown = (from: number): void => {
    let i = from;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= filled) return;
      const right = left + 1;
      let child = left;
      if (right < filled && worse(heapScore[right]!, heapIndex[right]!, heapScore[left]!, heapIndex[left]!)) child = right;
      if (!worse(heapScore[child]!, heapIndex[child]!, heapScore[i]!, heapIndex[i]!)) return;
      swap(heapScore, i, child);
      swap(heapIndex, i, child);
      i = child;
    }
  };
  for (let index = 0; index < count; index++) {
    const score = scores[index]!;
    if (accept && !accept(index)) continue;
    if (filled < size) {
      let i = filled++;
      heapScore[i] = score;
      heapIndex[i] = index;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!worse(heapScore[i]!, heapIndex[i]!, heapScore[parent]!, heapIndex[parent]!)) break;
        swap(heapScore, i, parent);
        swap(heapIndex, i, parent);
        i = parent;
      }
    } else if (worse(heapScore[0]!, heapIndex[0]!, score, index)) {
      heapScore[0] = score;
      heapIndex[0] = index;
      siftDown(0);
    }
  }
  const out = Array.from({ length: filled }, (_, i) => ({ index: heapIndex[i]!, score: heapScore[i]! }));
  return out.sort((a, b) => b.score - a.score || (precedes(a.index, b.index) ? -1 : 1));
}

function swap(array: Float64Array | Int32Array, i: number, j: number): void {
  const t = array[i]!;
  array[i] = array[j]!;
  array[j] = t;
}

/**
 * Embeddings by id, as unit rows of one growing Float32Array (capacity doubles, so adding n rows copies
 * O(n) floats in all). Removing a row moves the last row into its place.
 */
export class EmbeddingIndex {
  private data: Float32Array;
  private ids: string[] = [];
  private readonly rowOf = new Map<string, number>();
  /** Scores of the last ranking, in float64 so that reported scores are the exact sums. */
  private scratch = new Float64Array(0);

  constructor(
    readonly dim: number,
    initialCapacity = 64,
  ) {
    if (!Number.isInteger(dim) || dim <= 0) throw new RangeError(`an embedding index needs a positive integer dimension, not ${dim}`);
    this.data = new Float32Array(Math.max(1, initialCapacity) * dim);
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.rowOf.has(id);
  }

  /** The stored unit vector (a view: copy it before keeping it past the next change). */
  embedding(id: string): Float32Array | undefined {
    const row = this.rowOf.get(id);
    return row === undefined ? undefined : this.data.subarray(row * this.dim, (row + 1) * this.dim);
  }

  /** Adds or replaces the row for `id` (stored normalized). */
  set(id: string, embedding: ArrayLike<number>): void {
    if (embedding.length !== this.dim) throw new RangeError(`embedding for ${id} has ${embedding.length} values; this index holds ${this.dim}`);
    let row = this.rowOf.get(id);
    if (row === undefined) {
      row = this.ids.length;
      if ((row + 1) * this.dim > this.data.length) {
        const grown = new Float32Array(this.data.length * 2);
        grown.set(this.data);
        this.data = grown;
      }
      this.ids.push(id);
      this.rowOf.set(id, row);
    }
    normalizeInto(this.data.subarray(row * this.dim, (row + 1) * this.dim), embedding);
  }

  delete(id: string): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) return false;
    const last = this.ids.length - 1;
    if (row !== last) {
      const lastId = this.ids[last]!;
      this.data.copyWithin(row * this.dim, last * this.dim, (last + 1) * this.dim);
      this.ids[row] = lastId;
      this.rowOf.set(lastId, row);
    }
    this.ids.pop();
    this.rowOf.delete(id);
    return true;
  }

  clear(): void {
    this.ids = [];
    this.rowOf.clear();
  }

  /**
   * The k rows most similar to `query` by cosine, best first (equal scores by id). `accept` filters by id
   * (e.g. caption words, or leaving out the query's own photo).
   */
  rank(query: ArrayLike<number>, k: number, accept?: (id: string) => boolean): Ranked[] {
    if (query.length !== this.dim) throw new RangeError(`query has ${query.length} values; this index holds ${this.dim}`);
    const n = this.ids.length;
    if (this.scratch.length < n) this.scratch = new Float64Array(Math.max(n, this.scratch.length * 2));
    const unit = new Float32Array(this.dim);
    normalizeInto(unit, query);
    const scores = this.scratch;
    const data = this.data;
    const dim = this.dim;
    // Four running sums: independent additions keep the CPU's pipelines busy (about 2× faster in V8).
    const tail = dim & ~3;
    for (let row = 0, offset = 0; row < n; row++, offset += dim) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < tail; j += 4) {
        s0 += data[offset + j]! * unit[j]!;
        s1 += data[offset + j + 1]! * unit[j + 1]!;
        s2 += data[offset + j + 2]! * unit[j + 2]!;
        s3 += data[offset + j + 3]! * unit[j + 3]!;
      }
      for (let j = tail; j < dim; j++) s0 += data[offset + j]! * unit[j]!;
      scores[row] = s0 + s1 + s2 + s3;
    }
    const ids = this.ids;
    return topK(scores, n, k, accept ? (row) => accept(ids[row]!) : undefined, (a, b) => ids[a]! < ids[b]!).map(({ index, score }) => ({ id: ids[index]!, score }));
  }
}
