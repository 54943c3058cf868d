// The models the demo offers: the hub's CoCa checkpoints, a base URL (?model=…), a local folder, and in
// development the golden tiny model served from ../shared.
import type { CachedModel, ModelSource, WeightDtype } from '../client/types';
import { DEFAULT_HUB_URL, isRepoId } from '../io/hub';
import { isWeightDtype } from '../options';

export interface ModelChoice {
  /** Stable key for the picker. */
  key: string;
  label: string;
  /** What createCoca() is given. */
  source: ModelSource;
  /** Vocabulary, when it is not at the client's default location. */
  vocab?: string;
  revision?: string;
  /** Download size of the checkpoint, when known. */
  downloadBytes?: number;
  /** Parameters, for the size in the cache (2 bytes each in fp16, 4 in fp32). */
  params?: number;
  note?: string;
}

export const DEFAULT_MODEL = 'laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k';

/** The hub checkpoints (docs/COCA.md): sizes of the .bin each repository serves. */
export const HUB_MODELS: readonly ModelChoice[] = [
  {
    key: DEFAULT_MODEL,
    label: 'CoCa ViT-B/32 · COCO captions',
    source: DEFAULT_MODEL,
    downloadBytes: 1.01e9,
    params: 253.6e6,
    note: 'Writes COCO-style captions (“a cat sitting on a table”). The recommended start.',
  },
  {
    key: 'laion/CoCa-ViT-B-32-laion2B-s13B-b90k',
    label: 'CoCa ViT-B/32 · LAION',
    source: 'laion/CoCa-ViT-B-32-laion2B-s13B-b90k',
    downloadBytes: 1.01e9,
    params: 253.6e6,
    note: 'Writes alt-text-like captions.',
  },
  {
    key: 'laion/mscoco_finetuned_CoCa-ViT-L-14-laion2B-s13B-b90k',
    label: 'CoCa ViT-L/14 · COCO captions',
    source: 'laion/mscoco_finetuned_CoCa-ViT-L-14-laion2B-s13B-b90k',
    downloadBytes: 2.55e9,
    params: 638.5e6,
    note: 'Larger and slower; needs a GPU with more memory.',
  },
  {
    key: 'laion/CoCa-ViT-L-14-laion2B-s13B-b90k',
    label: 'CoCa ViT-L/14 · LAION',
    source: 'laion/CoCa-ViT-L-14-laion2B-s13B-b90k',
    downloadBytes: 2.55e9,
    params: 638.5e6,
    note: 'Larger and slower; alt-text-like captions.',
  },
];

/** Development only: ../shared served by the Vite dev server under /__shared/ (see vite.config.ts). */
export function devTinyModel(origin: string): ModelChoice {
  return {
    key: 'dev:coca-tiny',
    label: 'dev: tiny golden model (random weights)',
    source: new URL('/__shared/golden/coca-tiny/', origin).href,
    vocab: new URL('/__shared/vocab/bpe_simple_vocab_16e6.txt.gz', origin).href,
    downloadBytes: undefined,
    note: 'A 64×64 CoCa with random weights from ../shared/golden: its captions are nonsense by design.',
  };
}

export const DEV_SAMPLE_IMAGES = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'];

/** A repo id looks like owner/name; anything with a scheme or a leading slash or dot is a URL (the loader's own rule). */
export { isRepoId };

/** Base URLs name a folder: make sure they end in '/' so relative file names resolve inside it. */
export function asBaseUrl(value: string, base: string): string {
  const url = new URL(value, base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

export interface UrlSettings {
  choice?: ModelChoice;
  dtype?: WeightDtype;
}

/** Reads ?model=, ?vocab=, ?revision= and ?dtype= from the page address. */
export function settingsFromQuery(search: string, base: string): UrlSettings {
  const params = new URLSearchParams(search);
  const settings: UrlSettings = {};
  const dtype = params.get('dtype');
  if (isWeightDtype(dtype)) settings.dtype = dtype;
  const model = params.get('model')?.trim();
  if (model) {
    const vocab = params.get('vocab')?.trim();
    const revision = params.get('revision')?.trim();
    const known = HUB_MODELS.find((m) => m.key === model);
    const choice: ModelChoice = known
      ? { ...known }
      : isRepoId(model)
        ? { key: model, label: model, source: model }
        : { key: `url:${asBaseUrl(model, base)}`, label: asBaseUrl(model, base), source: asBaseUrl(model, base) };
    if (vocab) choice.vocab = new URL(vocab, base).href;
    if (revision) choice.revision = revision;
    settings.choice = choice;
  }
  return settings;
}

/**
 * The cache entry a load of this choice would use, if any: same model id, revision, weight dtype, vocabulary
 * (the cache files each vocabulary apart) and hub (the demo loads from the default one).
 */
export function findCached(cached: readonly CachedModel[], choice: ModelChoice, dtype: WeightDtype): CachedModel | undefined {
  if (Array.isArray(choice.source)) return undefined;
  const id = String(choice.source);
  const revision = choice.revision ?? 'main';
  const vocab = choice.vocab === undefined ? 'default' : `url:${choice.vocab}`;
  return cached.find(
    (entry) => entry.dtype === dtype && sameModelId(entry.id, id) && (entry.revision === revision || !isRepoId(id)) && entry.vocab === vocab && entry.hubUrl === DEFAULT_HUB_URL,
  );
}

function sameModelId(a: string, b: string): boolean {
  const strip = (s: string): string => s.replace(/\/+$/, '');
  return strip(a) === strip(b);
}

/** Bytes the weights take in the cache for a dtype, when the parameter count is known. */
export function cachedSizeEstimate(choice: ModelChoice, dtype: WeightDtype): number | undefined {
  return choice.params === undefined ? undefined : choice.params * (dtype === 'fp16' ? 2 : 4);
}
