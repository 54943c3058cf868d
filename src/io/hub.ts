// Which files a model has, and where: a Hugging Face repo id, a base URL laid out like a hub repo, or a local
// folder (the files a page's user picked, or a directory in Node). This module finds and opens them (the
// weights for random access, the config and vocabulary whole, under size caps); what they mean is the
// loader's business (src/engine/).
import { ModelConfigError, ModelFormatError, NetworkError, OptionsError, VocabularyError } from '../errors';
import { fetchFile, HttpFile, isNotFound, type HttpOptions, type ModelFileSource, type SizeCap } from './http';
import { BlobSource } from './source';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const CONFIG_FILE = 'open_clip_config.json';
/** The hub's weight file names, in the order they are tried. */
export const WEIGHT_FILES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors', 'open_clip_pytorch_model.bin'] as const;
/** OpenCLIP's vocabulary file, looked for next to the weights (or unzipped). */
export const BPE_VOCAB_FILES = ['bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt'] as const;
/** Where the CLIP vocabulary lives on the hub when a model repo does not carry one (the LAION CoCa repos do not). */
export const DEFAULT_VOCAB_REPO = 'openai/clip-vit-base-patch32';
/** A CoCa open_clip_config.json is about 2 KB: anything far larger is not one. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** The CLIP vocabulary files are 0.5–1.7 MB each. */
export const MAX_VOCAB_BYTES = 16 << 20;

/** A local file of a model folder. */
export interface LocalFile {
  readonly name: string;
  readonly size: number;
  /** ms since epoch: stands in for a revision and an ETag, as a local file has neither. */
  readonly lastModified: number;
  /** Random access to the file (release it with close() where the source has one). */
  open(): Promise<ModelFileSource>;
  /** The whole file (small files only: callers check `size` first). */
  bytes(): Promise<Uint8Array>;
}

/** A local model folder: the files a page's user picked (filesFolder) or a directory in Node (io/folder-node.ts). */
export interface LocalFolder {
  /** The folder as a user knows it ('' when nothing names it), for messages and the cache id. */
  readonly name: string;
  /** The file of that name, or null when there is none. */
  file(name: string): Promise<LocalFile | null>;
}

/** A model source resolved to a place: an id and revision for the cache, and where the files are. */
export type ModelLocation =
  | { kind: 'url'; id: string; revision: string; baseUrl: string; hubUrl: string }
  | { kind: 'local'; id: string; revision: string; folder: LocalFolder; weights: LocalFile; hubUrl: string };

export interface LocateOptions {
  revision?: string;
  /** The hub (or a mirror) that repo ids resolve against. */
  hubUrl?: string;
}

/** 'owner/name': what the hub calls a repo id. Anything with a scheme, a leading '/' or '.', or a trailing '/' is a URL. */
export function isRepoId(source: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(source) && !source.endsWith('/');
}

export function hubFileUrl(hubUrl: string, repo: string, revision: string, file: string): string {
  return `${trimSlash(hubUrl)}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/** The cache id of a URL source: the folder URL with its trailing '/'. */
export function baseUrlOf(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

/**
 * Repo id → https://huggingface.co/{repo}/resolve/{revision}/; a URL is taken as the folder holding the
 * files (a trailing '/' is added); a local folder is searched for the weight files by name.
 */
export async function locateModel(source: string | URL | LocalFolder, options: LocateOptions = {}): Promise<ModelLocation> {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const revision = options.revision ?? 'main';
  if (typeof source !== 'string' && !(source instanceof URL)) {
    const weights = await firstFile(source, WEIGHT_FILES);
    if (!weights) {
      throw new ModelFormatError(`${source.name || 'the chosen folder'} holds no model files: none of ${[CONFIG_FILE, ...WEIGHT_FILES].join(', ')}; pick the folder of an OpenCLIP CoCa model`, '');
    }
    return {
      kind: 'local',
      id: `file:${source.name ? `${trimSlash(source.name)}/` : ''}${weights.name}`,
      // A local file has no commit: its size and modification time stand in for one.
      revision: `${weights.size}-${weights.lastModified}`,
      folder: source,
      weights,
      hubUrl,
    };
  }
  const text = String(source);
  if (typeof source === 'string' && isRepoId(text)) {
    return { kind: 'url', id: text, revision, baseUrl: hubFileUrl(hubUrl, text, revision, ''), hubUrl };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OptionsError(`model ${JSON.stringify(text)} is neither a hub repo id ('owner/name') nor an absolute URL`, 'model');
  }
  const baseUrl = baseUrlOf(url.href);
  return { kind: 'url', id: baseUrl, revision, baseUrl, hubUrl };
}

/** The files a page's user picked (a folder through webkitdirectory, or single files), by name. */
export function filesFolder(files: readonly File[]): LocalFolder {
  const withPath = files.find((f) => relativePath(f).includes('/'));
  const path = withPath ? relativePath(withPath) : '';
  return {
    name: path.slice(0, path.lastIndexOf('/') + 1).replace(/\/$/, ''),
    file: async (name) => {
      const file = files.find((f) => f.name === name);
      return file ? blobFile(file, name, file.lastModified) : null;
    },
  };
}

/** A Blob as a LocalFile; its modification time stands in for an ETag. */
export function blobFile(blob: Blob, name: string, lastModified: number): LocalFile {
  return {
    name,
    size: blob.size,
    lastModified,
    open: async () => Object.assign(new BlobSource(blob, name), { identity: { name, size: blob.size, etag: `mtime:${lastModified}` } }),
    bytes: async () => new Uint8Array(await blob.arrayBuffer()),
  };
}

function relativePath(file: File): string {
  return (file as File & { webkitRelativePath?: string }).webkitRelativePath ?? '';
}

async function firstFile(folder: LocalFolder, names: readonly string[]): Promise<LocalFile | null> {
  for (const name of names) {
    const file = await folder.file(name);
    if (file) return file;
  }
  return null;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

// ---------------------------------------------------------------- model files

/** A small file read whole, named for messages. */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

export interface ModelFiles {
  /** The first weight file that exists, open for random access. */
  weights: ModelFileSource;
  /** open_clip_config.json, or null when the model has none (the LAION CoCa repos do not). */
  config: NamedBytes | null;
}

/** How the cache rebuilds a config without the network: the config file's text, or a built-in config's name. */
export type ConfigSource = { json: string; name: string } | { preset: string };

/**
 * The config (when there is one) and the first weight file that exists. A place with neither is "no model
 * files" (NetworkError 404 for a URL, ModelFormatError for a folder), not a config problem.
 */
export async function openModelFiles(location: ModelLocation, options: HttpOptions = {}): Promise<ModelFiles> {
  const configCap: SizeCap = {
    maxBytes: MAX_CONFIG_BYTES,
    tooLarge: (bytes) => new ModelConfigError(`${CONFIG_FILE} of ${location.id} is ${bytes} bytes; a CoCa config is a few KB (the limit is ${MAX_CONFIG_BYTES})`),
  };
  if (location.kind === 'local') {
    const file = await location.folder.file(CONFIG_FILE);
    const name = `${location.folder.name || 'the chosen folder'}/${CONFIG_FILE}`;
    const config = file ? { name, bytes: await readCapped(file, configCap) } : null;
    return { config, weights: await location.weights.open() };
  }
  const configUrl = `${location.baseUrl}${CONFIG_FILE}`;
  const bytes = await optional(fetchFile(configUrl, configCap, options));
  const config = bytes ? { name: configUrl, bytes } : null;
  for (const name of WEIGHT_FILES) {
    const weights = await optional(HttpFile.open(`${location.baseUrl}${name}`, options));
    if (weights) return { config, weights };
  }
  const what = config ? `has ${CONFIG_FILE} but none of ${WEIGHT_FILES.join(', ')}` : `has no model files: none of ${[CONFIG_FILE, ...WEIGHT_FILES].join(', ')}`;
  throw new NetworkError(`${location.baseUrl} ${what} (HTTP 404): check the repo id or URL (it must be an OpenCLIP CoCa model folder)`, `${location.baseUrl}${WEIGHT_FILES[0]}`, 404);
}

/** null for a file that does not exist (404); every other failure as it is. */
async function optional<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

async function readCapped(file: LocalFile, cap: SizeCap): Promise<Uint8Array> {
  if (file.size > cap.maxBytes) throw cap.tooLarge(file.size);
  return file.bytes();
}

// ---------------------------------------------------------------- vocabulary

/** The tokenizer's files as fetched: OpenCLIP's BPE list (gzipped or not), or the hub's vocab.json + merges.txt. */
export type VocabularyFiles = { kind: 'bpe'; bytes: Uint8Array } | { kind: 'vocab-merges'; vocab: Uint8Array; merges: Uint8Array };

/** A vocabulary given by the caller: a URL, or the file itself (a picked File; in Node, a file read by the host). */
export type VocabularySource = string | URL | Blob;

/**
 * The `vocab` option (bpe_simple_vocab_16e6.txt[.gz] as a URL or file), else that file next to the model,
 * else the hub's openai/clip-vit-base-patch32 vocab.json and merges.txt. Files above MAX_VOCAB_BYTES are
 * refused with VocabularyError.
 */
export async function fetchVocabulary(location: ModelLocation, vocab: VocabularySource | undefined, options: HttpOptions = {}): Promise<VocabularyFiles> {
  const cap = (name: string): SizeCap => ({
    maxBytes: MAX_VOCAB_BYTES,
    tooLarge: (bytes) => new VocabularyError(`vocabulary ${name} is ${bytes} bytes, more than the ${MAX_VOCAB_BYTES} a CLIP vocabulary file can be`),
  });
  if (vocab instanceof Blob) {
    const name = vocab instanceof File ? vocab.name : 'the vocab file';
    return { kind: 'bpe', bytes: await readCapped(blobFile(vocab, name, 0), cap(name)) };
  }
  if (vocab !== undefined) {
    const url = String(vocab);
    return { kind: 'bpe', bytes: await fetchFile(url, cap(url), options) };
  }
  if (location.kind === 'local') {
    const bpe = await firstFile(location.folder, BPE_VOCAB_FILES);
    if (bpe) return { kind: 'bpe', bytes: await readCapped(bpe, cap(bpe.name)) };
    const [vocabJson, merges] = await Promise.all([location.folder.file('vocab.json'), location.folder.file('merges.txt')]);
    if (vocabJson && merges) {
      return { kind: 'vocab-merges', vocab: await readCapped(vocabJson, cap(vocabJson.name)), merges: await readCapped(merges, cap(merges.name)) };
    }
  } else {
    const url = `${location.baseUrl}${BPE_VOCAB_FILES[0]}`;
    const bytes = await optional(fetchFile(url, cap(url), options));
    if (bytes) return { kind: 'bpe', bytes };
  }
  const at = (file: string): string => hubFileUrl(location.hubUrl, DEFAULT_VOCAB_REPO, 'main', file);
  const [vocabJson, merges] = await Promise.all([optional(fetchFile(at('vocab.json'), cap(at('vocab.json')), options)), optional(fetchFile(at('merges.txt'), cap(at('merges.txt')), options))]);
  if (!vocabJson || !merges) {
    throw new NetworkError(`no vocabulary found: ${at('vocab.json')} or merges.txt is missing; pass the vocab option`, at('vocab.json'), 404);
  }
  return { kind: 'vocab-merges', vocab: vocabJson, merges };
}

