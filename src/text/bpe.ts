// OpenCLIP's SimpleTokenizer.bpe: split a byte-level word into characters (the last one carrying
// "</w>"), then repeatedly merge every occurrence of the adjacent pair with the lowest merge rank.

import { VocabularyError } from '../errors';

/** Words whose ids are remembered; past this the cache starts again, so long sessions stay bounded. */
const CACHE_LIMIT = 100_000;

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
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  private merge(word: string): string[] {
    let symbols = [...word];
    symbols[symbols.length - 1] += '</w>';
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let left = '';
      let right = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          left = symbols[i]!;
          right = symbols[i + 1]!;
        }
      }
      if (bestRank === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else {
          merged.push(symbols[i]!);
        }
      }
      symbols = merged;
    }
    return symbols;
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
