// `coca search --index FILE.safetensors --model MODEL QUERY`: the k stored images most similar to the text
// by cosine, ranked by the photo library's own ranking (src/library/rank.ts), so the app and the CLI agree.
import { OptionsError } from '../errors';
import { CocaEngine, type EngineOptions } from '../engine/engine';
import { nodeHost } from '../engine/host-node';
import { EmbeddingIndex } from '../library/rank';
import { numberFlag, stringFlag, type Parsed } from './args';
import { DEFAULT_K } from './help';
import { checkSameModel, readIndexFile } from './index-file';

export async function runSearch({ values, positionals }: Parsed, options: EngineOptions, print: (text: string) => void): Promise<number> {
  const indexPath = stringFlag(values, 'index');
  if (!indexPath) throw new OptionsError('search needs --index FILE.safetensors (made by coca embed --out FILE.safetensors PATH...)', '--index');
  if (positionals.length !== 1) throw new OptionsError(`search takes one QUERY text (got ${positionals.length}); quote a query of several words`, 'QUERY');
  const k = numberFlag(values, 'k') ?? DEFAULT_K;
  if (!Number.isInteger(k) || k < 1) throw new OptionsError(`-k must be a positive integer (got ${stringFlag(values, 'k')})`, '-k');
  // The index is read (and refused if it is not one) before the model is loaded.
  const index = await readIndexFile(indexPath);
  const engine = await CocaEngine.load(nodeHost(), options);
  try {
    checkSameModel(index, indexPath, { id: engine.info.id });
    const [query] = await engine.encodeText([positionals[0]!]);
    const ranking = new EmbeddingIndex(index.dim, index.paths.length);
    index.paths.forEach((path, row) => ranking.set(path, index.embeddings.subarray(row * index.dim, (row + 1) * index.dim)));
    const hits = ranking.rank(query!, k).map(({ id, score }) => ({ path: id, score }));
    if (values.json) print(JSON.stringify(hits));
    else for (const { path, score } of hits) print(`${score.toFixed(4)}\t${path}`);
    return 0;
  } finally {
    await engine.dispose();
  }
}
