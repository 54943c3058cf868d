// Every option a user sets, declared once with its default and its validation: the weights' storage type,
// the matmul arithmetic, and the caption strategies with their parameters. The client, the worker, the engine,
// the widget, the demo and the CLI all go through the resolve… functions here, so a bad value is the same
// OptionsError everywhere, naming the option, the value and what is accepted.
import { OptionsError } from './errors';

/** How weights are stored on the GPU: fp16 pairs (half the memory) or f32 (exact parity). */
export const WEIGHT_DTYPES = ['fp16', 'fp32'] as const;
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];
export const DEFAULT_DTYPE: WeightDtype = 'fp16';

/** Arithmetic of the matmuls: f32 throughout, or f16 products summed in f32 (needs the GPU's shader-f16). */
export const MATH_PRECISIONS = ['f32', 'f16'] as const;
export type MathPrecision = (typeof MATH_PRECISIONS)[number];
export const DEFAULT_MATH: MathPrecision = 'f32';

/**
 * EXIF orientation: 'ignore' (default) preprocesses the pixels as stored, as PIL and so OpenCLIP do; 'exif'
 * turns the image upright first, as browsers display it. One rule for the page, the worker and the CLI.
 */
export const ORIENTATIONS = ['ignore', 'exif'] as const;
export type Orientation = (typeof ORIENTATIONS)[number];
export const DEFAULT_ORIENTATION: Orientation = 'ignore';

/**
 * After a model loads from the cache, is its checkpoint still the file on the server (a branch such as `main`
 * moves)? 'background' (default): the cached copy is used at once and a one-byte request compares ETag and size
 * afterwards, reporting a change as a warning; 'before-load': asked first, and a changed model is downloaded
 * again; 'never'. Offline, or when the server cannot be reached, nothing is asked or reported.
 */
export const CACHE_RECHECKS = ['background', 'before-load', 'never'] as const;
export type CacheRecheck = (typeof CACHE_RECHECKS)[number];
export const DEFAULT_RECHECK: CacheRecheck = 'background';

export const CAPTION_STRATEGIES = ['greedy', 'beam', 'beam-openclip', 'sample'] as const;
export type CaptionStrategy = (typeof CAPTION_STRATEGIES)[number];
export const DEFAULT_STRATEGY: CaptionStrategy = 'greedy';

/** Rows (beams per group) one decoding step carries: the decoder's matrix-vector kernel takes at most 8. */
export const MAX_BEAMS = 8;

/** How a caption is decoded. Lengths count the start and end tokens. */
export interface CaptionSettings {
  strategy?: CaptionStrategy;
  /** Sequences shorter than this cannot end (OpenCLIP: 5). */
  minLength?: number;
  /** Longest sequence (OpenCLIP: 30; at most the model's context length). */
  maxLength?: number;
  /** 'beam': beams (3). 'beam-openclip': beams in all (6), split into numBeamGroups groups (3). */
  numBeams?: number;
  numBeamGroups?: number;
  /** Beam scores are divided by length^lengthPenalty (1). */
  lengthPenalty?: number;
  /** 'sample': draw among the topK most likely tokens (all that the step reads back: 32). */
  topK?: number;
  /** 'sample': … and among the fewest whose probability reaches topP (1). */
  topP?: number;
  /** 'sample': logits divided by this first (1). */
  temperature?: number;
  /** Beam search and sampling: Hugging Face's repetition penalty (1 = none). */
  repetitionPenalty?: number;
  /** 'sample': the PRNG seed (0); a seed reproduces a caption. */
  seed?: number;
}

/** A token as a caption streams it. */
export interface CaptionToken {
  id: number;
  /** The token's text ('' for the start and end tokens). */
  text: string;
  /** Its position in the sequence (the start token is 0). */
  index: number;
}

/** A caption call: the settings, plus streaming and cancelling. */
export interface CaptionOptions extends CaptionSettings {
  onToken?: (token: CaptionToken) => void;
  signal?: AbortSignal;
}

interface Lengths {
  minLength: number;
  maxLength: number;
}

/** Settings with every default filled in and every value checked, one shape per strategy. */
export type ResolvedCaption =
  | ({ strategy: 'greedy' } & Lengths)
  | ({ strategy: 'beam'; numBeams: number; lengthPenalty: number; repetitionPenalty: number } & Lengths)
  | ({ strategy: 'beam-openclip'; numBeams: number; numBeamGroups: number; lengthPenalty: number; repetitionPenalty: number } & Lengths)
  | ({ strategy: 'sample'; topK: number | null; topP: number; temperature: number; repetitionPenalty: number; seed: number } & Lengths);

export type CaptionParameter = Exclude<keyof CaptionSettings, 'strategy'>;

/** Each strategy's parameters and their defaults (null: topK's "no cut"). */
export const CAPTION_DEFAULTS: { readonly [S in CaptionStrategy]: Readonly<Omit<Extract<ResolvedCaption, { strategy: S }>, 'strategy'>> } = {
  greedy: { minLength: 5, maxLength: 30 },
  beam: { minLength: 5, maxLength: 30, numBeams: 3, lengthPenalty: 1, repetitionPenalty: 1 },
  'beam-openclip': { minLength: 5, maxLength: 30, numBeams: 6, numBeamGroups: 3, lengthPenalty: 1, repetitionPenalty: 1 },
  sample: { minLength: 5, maxLength: 30, topK: null, topP: 1, temperature: 1, repetitionPenalty: 1, seed: 0 },
};

/** What each parameter accepts, as a check and as words for the error. */
const RULES: { readonly [P in CaptionParameter]: { ok: (v: number) => boolean; what: string } } = {
  minLength: { ok: (v) => Number.isInteger(v) && v >= 0, what: 'an integer ≥ 0' },
  maxLength: { ok: (v) => Number.isInteger(v) && v >= 2, what: 'an integer ≥ 2 (the start and end tokens)' },
  numBeams: { ok: (v) => Number.isInteger(v) && v >= 1, what: 'an integer ≥ 1' },
  numBeamGroups: { ok: (v) => Number.isInteger(v) && v >= 1, what: 'an integer ≥ 1' },
  lengthPenalty: { ok: Number.isFinite, what: 'a finite number' },
  topK: { ok: (v) => Number.isInteger(v) && v >= 1, what: 'an integer ≥ 1' },
  topP: { ok: (v) => v > 0 && v <= 1, what: 'a number in (0, 1]' },
  temperature: { ok: (v) => v > 0 && Number.isFinite(v), what: 'a number > 0 (greedy is temperature 0)' },
  repetitionPenalty: { ok: (v) => v > 0 && Number.isFinite(v), what: 'a number > 0 (1 = none)' },
  seed: { ok: (v) => Number.isSafeInteger(v), what: 'an integer' },
};

/** Every caption parameter, in the order documentation lists them. */
export const CAPTION_PARAMETERS = Object.keys(RULES) as readonly CaptionParameter[];

/** The call's own hooks travel with the settings and are not settings. */
const HOOKS = new Set(['onToken', 'signal']);

export interface ResolveCaptionContext {
  /** The model's context length: maxLength may not exceed it. */
  contextLength?: number;
  /** How the caller spells an option in messages (the CLI: `--num-beams`). */
  spell?: (option: string) => string;
}

/**
 * Defaults and validation of a caption's settings: an unknown strategy, an unknown key, a parameter the
 * strategy does not use, or a value out of range is an OptionsError. `onToken` and `signal` are ignored.
 */
export function resolveCaptionOptions(settings: CaptionSettings = {}, context: ResolveCaptionContext = {}): ResolvedCaption {
  const spell = context.spell ?? ((option: string) => option);
  const strategy = resolveStrategy(settings.strategy, spell('strategy'));
  const defaults: Readonly<Record<string, number | null>> = CAPTION_DEFAULTS[strategy];
  const resolved: Record<string, number | null | string> = { strategy, ...defaults };
  for (const [key, value] of Object.entries(settings) as [string, unknown][]) {
    // null is "the default" too (a resolved topK of null means no cut), so resolving is idempotent.
    if (key === 'strategy' || HOOKS.has(key) || value === undefined || value === null) continue;
    if (!(key in RULES)) {
      throw new OptionsError(`${spell(key)} is not a caption option (known: ${Object.keys(RULES).map(spell).join(', ')})`, key);
    }
    if (!(key in defaults)) {
      throw new OptionsError(`${spell(key)} does not apply to strategy '${strategy}' (${strategiesUsing(key).join(', ')} use it)`, key);
    }
    const rule = RULES[key as CaptionParameter];
    if (typeof value !== 'number' || !rule.ok(value)) {
      throw new OptionsError(`${spell(key)} must be ${rule.what} (got ${describe(value)})`, key);
    }
    resolved[key] = value;
  }
  // Built from the strategy's own row of CAPTION_DEFAULTS, every key and value checked above.
  const caption = resolved as unknown as ResolvedCaption;
  const limit = context.contextLength;
  if (limit !== undefined && caption.maxLength > limit) {
    throw new OptionsError(`${spell('maxLength')} must be at most the model's context length, ${limit} (got ${caption.maxLength})`, 'maxLength');
  }
  if (caption.minLength > caption.maxLength) {
    throw new OptionsError(`${spell('minLength')} (${caption.minLength}) must not exceed ${spell('maxLength')} (${caption.maxLength})`, 'minLength');
  }
  if (caption.strategy === 'beam' && caption.numBeams > MAX_BEAMS) {
    throw new OptionsError(`${spell('numBeams')} must be at most ${MAX_BEAMS}, the rows one decoding step carries (got ${caption.numBeams})`, 'numBeams');
  }
  if (caption.strategy === 'beam-openclip') {
    const { numBeams, numBeamGroups } = caption;
    if (numBeams % numBeamGroups !== 0) {
      throw new OptionsError(`${spell('numBeams')} (${numBeams}) must be a multiple of ${spell('numBeamGroups')} (${numBeamGroups})`, 'numBeams');
    }
    if (numBeams / numBeamGroups > MAX_BEAMS) {
      throw new OptionsError(
        `${spell('numBeams')} / ${spell('numBeamGroups')} must be at most ${MAX_BEAMS} beams per group, the rows one decoding step carries (got ${numBeams} / ${numBeamGroups})`,
        'numBeams',
      );
    }
  }
  return caption;
}

/** Rows a decoding step carries: beams (per group, for OpenCLIP's grouped search), or 1. */
export function beamsPerGroup(caption: ResolvedCaption): number {
  if (caption.strategy === 'beam') return caption.numBeams;
  if (caption.strategy === 'beam-openclip') return caption.numBeams / caption.numBeamGroups;
  return 1;
}

export function resolveStrategy(value: unknown, name = 'strategy'): CaptionStrategy {
  return oneOf(value, CAPTION_STRATEGIES, DEFAULT_STRATEGY, name);
}

export function resolveDtype(value: unknown, name = 'dtype'): WeightDtype {
  return oneOf(value, WEIGHT_DTYPES, DEFAULT_DTYPE, name);
}

export function resolveOrientation(value: unknown, name = 'orientation'): Orientation {
  return oneOf(value, ORIENTATIONS, DEFAULT_ORIENTATION, name);
}

export function resolveRecheck(value: unknown, name = 'recheck'): CacheRecheck {
  return oneOf(value, CACHE_RECHECKS, DEFAULT_RECHECK, name);
}

export function resolveMath(value: unknown, name = 'math'): MathPrecision {
  return oneOf(value, MATH_PRECISIONS, DEFAULT_MATH, name);
}

/** True for a weight dtype's name (for inputs that fall back to the default instead of failing, like a URL's ?dtype=). */
export function isWeightDtype(value: unknown): value is WeightDtype {
  return (WEIGHT_DTYPES as readonly unknown[]).includes(value);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, name: string): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  throw new OptionsError(`${name} must be ${allowed.map((a) => `'${a}'`).join(', ')} (got ${describe(value)})`, name);
}

/**
 * Camera frames a model holds at once: one on the GPU and one whose result is being read back. A frame that
 * arrives while this many are held is dropped (the page's client drops it before it is even copied).
 */
export const FRAMES_HELD = 2;

/** Zero-shot labels go into this template at {label} unless told otherwise. */
export const DEFAULT_TEMPLATE = 'a photo of a {label}';

/** Most labels a camera frame is scored against (their text embeddings are computed once and kept). */
export const MAX_FRAME_LABELS = 256;

/** Each label through the template; a template without {label} leaves the labels as they are. */
export function labelTexts(labels: readonly string[], template: string): string[] {
  return labels.map((label) => (template.includes('{label}') ? template.replaceAll('{label}', label) : label));
}

/**
 * Zero-shot labels and their template, checked: 1 to MAX_FRAME_LABELS non-blank strings and a string template
 * (default DEFAULT_TEMPLATE); the texts the model scores are the labels through the template.
 */
export function resolveFrameLabels(labels: unknown, template: unknown = DEFAULT_TEMPLATE): { labels: string[]; texts: string[] } {
  if (!Array.isArray(labels) || labels.length === 0 || labels.length > MAX_FRAME_LABELS || !labels.every((l) => typeof l === 'string' && l.trim() !== '')) {
    throw new OptionsError(`labels must be 1 to ${MAX_FRAME_LABELS} non-blank strings (got ${Array.isArray(labels) ? `${labels.length} values` : describe(labels)})`, 'labels');
  }
  if (typeof template !== 'string') throw new OptionsError(`template must be a string such as '${DEFAULT_TEMPLATE}' (got ${describe(template)})`, 'template');
  const list = labels as string[];
  return { labels: [...list], texts: labelTexts(list, template) };
}

/** The strategies that take a parameter. */
export function strategiesUsing(key: string): CaptionStrategy[] {
  return CAPTION_STRATEGIES.filter((s) => key in CAPTION_DEFAULTS[s]);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}
