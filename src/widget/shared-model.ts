// One worker and one loaded model per page, however many elements ask for it: a module-level registry keyed
// by what identifies a loaded model (id, revision, dtype, vocabulary).
import { createCoca } from '../client';
import type { Coca, LoadProgress } from '../client/types';
import { resolveDtype } from '../options';

export const DEFAULT_MODEL = 'laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k';

export interface ModelRequest {
  /** Hub repo id or base URL of a model folder. */
  model: string;
  /** Weights on the GPU, as the `dtype` attribute spells it (checked by resolveDtype). */
  dtype?: string;
  /** Vocabulary URL, when not at the client's default location. */
  vocab?: string;
  revision?: string;
}

interface Entry {
  coca: Promise<Coca>;
  listeners: Set<(progress: LoadProgress) => void>;
}

const registry = new Map<string, Entry>();
let modelLoads = 0;

export function modelKey(request: ModelRequest): string {
  return JSON.stringify([request.model, request.revision ?? 'main', resolveDtype(request.dtype, 'the dtype attribute'), request.vocab ?? '']);
}

/**
 * The page's model for `request`, loading it on the first call. `onProgress` hears the load's progress
 * until it finishes (late callers simply get the promise).
 */
export function sharedCoca(request: ModelRequest, onProgress?: (progress: LoadProgress) => void): Promise<Coca> {
  const key = modelKey(request);
  let entry = registry.get(key);
  if (!entry) {
    const listeners = new Set<(progress: LoadProgress) => void>();
    modelLoads++;
    const coca = createCoca({
      model: request.model,
      dtype: resolveDtype(request.dtype, 'the dtype attribute'),
      ...(request.vocab ? { vocab: request.vocab } : {}),
      ...(request.revision ? { revision: request.revision } : {}),
      onProgress: (progress) => {
        for (const listener of listeners) listener(progress);
      },
    });
    entry = { coca, listeners };
    registry.set(key, entry);
    const settled = entry;
    // A failed load is forgotten, so the next element (or a retry) starts afresh.
    coca.then(
      () => settled.listeners.clear(),
      () => {
        settled.listeners.clear();
        if (registry.get(key) === settled) registry.delete(key);
      },
    );
  }
  if (onProgress) entry.listeners.add(onProgress);
  return entry.coca;
}

/** How many models this page has started loading (one per distinct model, however many elements). */
export function sharedModelStats(): { modelLoads: number; models: string[] } {
  return { modelLoads, models: [...registry.keys()].map((key) => (JSON.parse(key) as string[])[0] ?? '') };
}

/** Frees every shared model and its worker (e.g. before a single-page app navigates away from the widgets). */
export async function releaseSharedModels(): Promise<void> {
  const entries = [...registry.values()];
  registry.clear();
  await Promise.all(entries.map((entry) => entry.coca.then((coca) => coca.dispose()).catch(() => undefined)));
}
