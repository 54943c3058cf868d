// A reference for the tokenizer's fast BPE (src/text/bpe.ts), used by its tests and the text fuzz suite.

/**
 * OpenCLIP's SimpleTokenizer.bpe, transliterated line by line (quadratic): the reference the fast merge
 * must equal on every word.
 */
export function referenceBpe(word: string, ranks: ReadonlyMap<string, number>): string[] {
  let symbols = [...word];
  symbols[symbols.length - 1] += '</w>';
  while (symbols.length > 1) {
    let best = Infinity;
    let first = '';
    let second = '';
    for (let i = 0; i + 1 < symbols.length; i++) {
      const rank = ranks.get(`${symbols[i]} ${symbols[i + 1]}`) ?? Infinity;
      if (rank < best) [best, first, second] = [rank, symbols[i]!, symbols[i + 1]!];
    }
    if (best === Infinity) break;
    const merged: string[] = [];
    for (let i = 0; i < symbols.length; i++) {
      if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
        merged.push(first + second);
        i++;
      } else merged.push(symbols[i]!);
    }
    symbols = merged;
  }
  return symbols;
}
