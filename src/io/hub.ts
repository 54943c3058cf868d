// Where a model's files are and how they are fetched: a Hugging Face repo id, a base URL laid out like a
// hub repo, or the files of a local folder. Weights are read with HTTP range requests that stream into
// place (progress as bytes arrive), survive a dropped connection by asking for the rest, and notice a
// file that changed on the server between two requests.
import { CocaError, ModelChangedError, ModelConfigError, NetworkError } from '../errors';
import { parseOpenClipConfig, presetConfig, type CocaConfig, type PresetName } from '../model/config';
import { BlobSource, checkReadRange, type ByteSource } from './source';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const CONFIG_FILE = 'open_clip_config.json';
/** The hub's weight file names, in the order they are tried. */
export const WEIGHT_FILES = ['open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors', 'open_clip_pytorch_model.bin'] as const;
/** OpenCLIP's vocabulary file, looked for next to the weights. */
export const BPE_VOCAB_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** Where the CLIP vocabulary lives on the hub when a model repo does not carry one (the LAION CoCa repos do not). */
export const DEFAULT_VOCAB_REPO = 'openai/clip-vit-base-patch32';

/** A model source resolved to a place: an id and revision for the cache, and where the files are. */
export type ModelLocation =
  | { kind: 'url'; id: string; revision: string; baseUrl: string; hubUrl: string }
  | { kind: 'files'; id: string; revision: string; files: readonly File[]; weights: File; hubUrl: string };

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

/**
 * Repo id → https://huggingface.co/{repo}/resolve/{revision}/; a URL is taken as the folder holding the
 * files (a trailing '/' is added); Files are searched by name.
 */
export function locateModel(source: string | URL | readonly File[], options: LocateOptions = {}): ModelLocation {
  const hubUrl = options.hubUrl ?? DEFAULT_HUB_URL;
  const revision = options.revision ?? 'main';
  if (typeof source !== 'string' && !(source instanceof URL)) {
    const weights = WEIGHT_FILES.map((name) => findFile(source, name)).find((f) => f !== undefined);
    if (!weights) {
      throw new CocaError(`the chosen files hold none of ${WEIGHT_FILES.join(', ')}; pick the folder of an OpenCLIP CoCa model`);
    }
    const folder = folderOf(weights);
    return {
      kind: 'files',
      id: `file:${folder ? `${folder}/` : ''}${weights.name}`,
      // A local file has no commit: its size and modification time stand in for one.
      revision: `${weights.size}-${weights.lastModified}`,
      files: source,
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
    throw new CocaError(`${JSON.stringify(text)} is neither a hub repo id ('owner/name') nor an absolute URL`);
  }
  const baseUrl = url.href.endsWith('/') ? url.href : `${url.href}/`;
  return { kind: 'url', id: baseUrl, revision, baseUrl, hubUrl };
}

function findFile(files: readonly File[], name: string): File | undefined {
  return files.find((f) => f.name === name);
}

function folderOf(file: File): string {
  const path = (file as File & { webkitRelativePath?: string }).webkitRelativePath ?? '';
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

// ---------------------------------------------------------------- HTTP

export interface HttpOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called with every piece of body received, for progress. */
  onBytes?: (bytes: number) => void;
  /** Attempts after a failure that made no progress (5xx, a dropped connection, offline). Default 4. */
  retries?: number;
  /** First wait before a retry; doubles each time. Default 250 ms. */
  retryDelayMs?: number;
}

/** Which file a cache entry came from: a different ETag or size means the old bytes must not be mixed in. */
export interface FileIdentity {
  name: string;
  size: number;
  etag: string | null;
}

/** A model file opened for random access. */
export interface ModelFileSource extends ByteSource {
  readonly identity: FileIdentity;
}

/** Errors worth another try: nothing answered, the server hiccuped, or the connection dropped mid-body. */
const retryable = new WeakSet<Error>();

function transient(error: NetworkError): NetworkError {
  retryable.add(error);
  return error;
}

function isRetryable(error: unknown): boolean {
  return error instanceof Error && retryable.has(error);
}

function statusError(url: string, response: Response): NetworkError {
  const s = response.status;
  const hint =
    s === 401 || s === 403
      ? ' (a private or gated repo, or a repo id that does not exist: check the name, or pass a URL you can read)'
      : s === 404
        ? ' (no such file)'
        : '';
  const error = new NetworkError(`${url}: HTTP ${s} ${response.statusText}${hint}`, url, s);
  return s === 408 || s === 429 || s >= 500 ? transient(error) : error;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` until it succeeds, retrying transient failures with backoff; progress resets the count. */
async function withRetries<T>(options: HttpOptions, attempt: () => Promise<T>, progressed: () => boolean = () => false): Promise<T> {
  const retries = options.retries ?? 4;
  const delay = options.retryDelayMs ?? 250;
  let failures = 0;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (!isRetryable(error)) throw error;
      failures = progressed() ? 1 : failures + 1;
      if (failures > retries) throw error;
      await sleep(delay * 2 ** (failures - 1), options.signal);
    }
  }
}

async function send(url: string, init: RequestInit, options: HttpOptions): Promise<Response> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  try {
    return await fetchFn(url, { ...init, headers: { ...options.headers, ...(init.headers as Record<string, string> | undefined) }, signal: options.signal });
  } catch (cause) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw transient(new NetworkError(`could not fetch ${url}: ${String(cause)} (offline, blocked by CORS, or the host is down)`, url, 0));
  }
}

/** A whole small file (config, vocabulary), or null when the server says 404. */
export async function fetchFile(url: string, options: HttpOptions = {}): Promise<Uint8Array | null> {
  return withRetries(options, async () => {
    const response = await send(url, {}, options);
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw statusError(url, response);
    }
    try {
      const bytes = new Uint8Array(await response.arrayBuffer());
      options.onBytes?.(bytes.byteLength);
      return bytes;
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw transient(new NetworkError(`${url}: connection dropped while reading the response: ${String(cause)}`, url, response.status));
    }
  });
}

/** bytes <first>-<last>/<total|*> */
function parseContentRange(header: string | null): { first: number; last: number; total: number | null } | null {
  const m = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  return m ? { first: Number(m[1]), last: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) } : null;
}

/** The first bytes of a file come with its opening request: checkpoint headers sit there. */
const PREFETCH_BYTES = 256 * 1024;

/**
 * A file on an HTTP server that honours Range (the hub and its CDN do). Every read streams its body into
 * place and reports bytes as they arrive; a read cut short asks for what is missing; an ETag or size that
 * differs from the first answer raises ModelChangedError instead of mixing two versions.
 */
export class HttpFile implements ModelFileSource {
  private constructor(
    readonly url: string,
    readonly identity: FileIdentity,
    private readonly head: Uint8Array,
    private readonly options: HttpOptions,
  ) {}

  get size(): number {
    return this.identity.size;
  }

  get name(): string {
    return this.url;
  }

  /** Opens `url` (one ranged GET that also brings the first bytes). Null when the server says 404. */
  static async open(url: string, options: HttpOptions = {}): Promise<HttpFile | null> {
    return withRetries(options, async () => {
      const response = await send(url, { headers: { Range: `bytes=0-${PREFETCH_BYTES - 1}` } }, options);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (response.status === 200) {
        await response.body?.cancel();
        throw new NetworkError(`${url} ignored the Range request (status 200): the server must support HTTP range requests to stream a checkpoint`, url, 200);
      }
      if (response.status !== 206) {
        await response.body?.cancel();
        throw statusError(url, response);
      }
      const range = parseContentRange(response.headers.get('Content-Range'));
      // A cross-origin server may hide Content-Range from scripts; a HEAD's Content-Length is always readable.
      const size = range?.total ?? (await sizeFromHead(url, options));
      const expected = Math.min(PREFETCH_BYTES, size);
      const head = new Uint8Array(expected);
      const got = await streamInto(response, head, 0, url, options);
      if (got !== expected || (range && range.first !== 0)) {
        throw transient(new NetworkError(`${url}: asked for bytes 0-${expected - 1} and got ${got}`, url, 206));
      }
      return new HttpFile(url, { name: url, size, etag: response.headers.get('ETag') }, head, options);
    });
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    if (offset + length <= this.head.byteLength) {
      this.options.onBytes?.(length); // arrived with the first request; counted when used, so progress sums to the reads
      return this.head.slice(offset, offset + length);
    }
    const out = new Uint8Array(length);
    let got = 0;
    let before = 0;
    await withRetries(
      this.options,
      async () => {
        before = got;
        got += await this.readRange(out, offset, got);
        if (got < length) {
          throw transient(new NetworkError(`${this.url}: the connection closed after ${got} of ${length} bytes at ${offset}`, this.url, 206));
        }
      },
      () => got > before,
    );
    return out;
  }

  /** One ranged GET for out[from..] = file[offset + from ..]; returns the bytes that arrived (maybe fewer). */
  private async readRange(out: Uint8Array, offset: number, from: number): Promise<number> {
    const first = offset + from;
    const last = offset + out.byteLength - 1;
    const response = await send(this.url, { headers: { Range: `bytes=${first}-${last}` } }, this.options);
    if (response.status !== 206) {
      await response.body?.cancel();
      if (response.status === 200) throw new NetworkError(`${this.url} ignored a Range request (status 200)`, this.url, 200);
      if (response.status === 416) throw this.changed(`range ${first}-${last} is no longer satisfiable (status 416)`, 416);
      throw statusError(this.url, response);
    }
    const etag = response.headers.get('ETag');
    const range = parseContentRange(response.headers.get('Content-Range'));
    if ((this.identity.etag !== null && etag !== null && etag !== this.identity.etag) || (range?.total != null && range.total !== this.size)) {
      await response.body?.cancel();
      throw this.changed(`ETag ${this.identity.etag} → ${etag}, size ${this.size} → ${range?.total ?? '?'}`, response.status);
    }
    if (range && range.first !== first) {
      await response.body?.cancel();
      throw new NetworkError(`${this.url}: asked for bytes from ${first} and got them from ${range.first}`, this.url, 206);
    }
    return streamInto(response, out, from, this.url, this.options);
  }

  private changed(what: string, status: number): ModelChangedError {
    return new ModelChangedError(`${this.url} changed on the server while it was being read (${what}); it will be downloaded again`, this.url, status);
  }
}

/** Copies a response body into out[from..], reporting each piece; returns the bytes copied, even when the body breaks off. */
async function streamInto(response: Response, out: Uint8Array, from: number, url: string, options: HttpOptions): Promise<number> {
  if (!response.body) return 0;
  const reader = response.body.getReader();
  let pos = from;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (pos + value.byteLength > out.byteLength) {
        await reader.cancel();
        throw new NetworkError(`${url}: the server sent more bytes than the range asked for`, url, response.status);
      }
      out.set(value, pos);
      pos += value.byteLength;
      options.onBytes?.(value.byteLength);
    }
  } catch (cause) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (cause instanceof NetworkError) throw cause;
    // The connection broke: what arrived is kept, the caller asks for the rest.
    if (pos > from) return pos - from;
    throw transient(new NetworkError(`${url}: connection dropped before any byte arrived: ${String(cause)}`, url, response.status));
  }
  return pos - from;
}

async function sizeFromHead(url: string, options: HttpOptions): Promise<number> {
  const response = await send(url, { method: 'HEAD' }, options);
  const length = Number(response.headers.get('Content-Length') ?? NaN);
  if (!response.ok || !Number.isSafeInteger(length)) {
    throw new NetworkError(`${url}: cannot learn the file size (HEAD status ${response.status}, no Content-Range or Content-Length)`, url, response.status);
  }
  return length;
}

/** A picked local file as a model file: its modification time stands in for an ETag. */
class LocalFile extends BlobSource implements ModelFileSource {
  readonly identity: FileIdentity;
  constructor(file: File) {
    super(file, file.name);
    this.identity = { name: file.name, size: file.size, etag: `mtime:${file.lastModified}` };
  }
}

// ---------------------------------------------------------------- model files

/** How the cache rebuilds a config without the network: the JSON text, or the preset's name. */
export type ConfigSource = { json: string; name: string } | { preset: PresetName };

export function configFromSource(source: ConfigSource): CocaConfig {
  if ('preset' in source) return presetConfig(source.preset);
  return parseOpenClipConfig(JSON.parse(source.json), source.name);
}

/** OpenCLIP's model names in hub repo names: laion/CoCa-ViT-B-32-laion2B-s13B-b90k → coca_ViT-B-32. */
export function presetForName(name: string): PresetName | null {
  if (/vit-?l-?14/i.test(name)) return 'coca_ViT-L-14';
  if (/vit-?b-?32/i.test(name)) return 'coca_ViT-B-32';
  return null;
}

export interface ModelFiles {
  config: CocaConfig;
  configSource: ConfigSource;
  weights: ModelFileSource;
}

/** The config (or a preset named by the repo when it has none) and the first weight file that exists. */
export async function openModelFiles(location: ModelLocation, options: HttpOptions = {}): Promise<ModelFiles> {
  const configSource = await findConfig(location, options);
  const config = configFromSource(configSource);
  if (location.kind === 'files') return { config, configSource, weights: new LocalFile(location.weights) };
  for (const name of WEIGHT_FILES) {
    const weights = await HttpFile.open(`${location.baseUrl}${name}`, options);
    if (weights) return { config, configSource, weights };
  }
  throw new NetworkError(
    `${location.baseUrl} has none of ${WEIGHT_FILES.join(', ')} (HTTP 404): is it an OpenCLIP CoCa model repo?`,
    `${location.baseUrl}${WEIGHT_FILES[0]}`,
    404,
  );
}

async function findConfig(location: ModelLocation, options: HttpOptions): Promise<ConfigSource> {
  let bytes: Uint8Array | null;
  let name: string;
  if (location.kind === 'files') {
    const file = findFile(location.files, CONFIG_FILE);
    bytes = file ? new Uint8Array(await file.arrayBuffer()) : null;
    name = file ? `${folderOf(file) || 'the chosen folder'}/${CONFIG_FILE}` : location.id;
  } else {
    name = `${location.baseUrl}${CONFIG_FILE}`;
    bytes = await fetchFile(name, options);
  }
  if (bytes) return { json: new TextDecoder().decode(bytes), name };
  const preset = presetForName(location.kind === 'files' ? `${location.id} ${location.files.map((f) => folderOf(f)).join(' ')}` : location.id);
  if (preset) return { preset };
  throw new ModelConfigError(
    `${location.id} has no ${CONFIG_FILE} and its name names no known model (ViT-B-32, ViT-L-14): add the config next to the weights`,
  );
}

// ---------------------------------------------------------------- vocabulary

/** The tokenizer's files as fetched: OpenCLIP's gzipped BPE list, or the hub's vocab.json + merges.txt. */
export type VocabularyFiles = { kind: 'bpe'; bytes: Uint8Array } | { kind: 'vocab-merges'; vocab: Uint8Array; merges: Uint8Array };

/**
 * The `vocab` option (a URL or File of bpe_simple_vocab_16e6.txt[.gz]), else that file next to the
 * model, else the hub's openai/clip-vit-base-patch32 vocab.json and merges.txt.
 */
export async function fetchVocabulary(location: ModelLocation, vocab: string | URL | File | undefined, options: HttpOptions = {}): Promise<VocabularyFiles> {
  if (vocab !== undefined) {
    if (typeof vocab !== 'string' && !(vocab instanceof URL)) return { kind: 'bpe', bytes: new Uint8Array(await vocab.arrayBuffer()) };
    const url = String(vocab);
    const bytes = await fetchFile(url, options);
    if (!bytes) throw new NetworkError(`vocabulary ${url}: HTTP 404 (no such file)`, url, 404);
    return { kind: 'bpe', bytes };
  }
  if (location.kind === 'files') {
    const bpe = findFile(location.files, BPE_VOCAB_FILE) ?? findFile(location.files, 'bpe_simple_vocab_16e6.txt');
    if (bpe) return { kind: 'bpe', bytes: new Uint8Array(await bpe.arrayBuffer()) };
    const vocabJson = findFile(location.files, 'vocab.json');
    const merges = findFile(location.files, 'merges.txt');
    if (vocabJson && merges) {
      return { kind: 'vocab-merges', vocab: new Uint8Array(await vocabJson.arrayBuffer()), merges: new Uint8Array(await merges.arrayBuffer()) };
    }
  } else {
    const bytes = await fetchFile(`${location.baseUrl}${BPE_VOCAB_FILE}`, options);
    if (bytes) return { kind: 'bpe', bytes };
  }
  const at = (file: string): string => hubFileUrl(location.hubUrl, DEFAULT_VOCAB_REPO, 'main', file);
  const [vocabJson, merges] = await Promise.all([fetchFile(at('vocab.json'), options), fetchFile(at('merges.txt'), options)]);
  if (!vocabJson || !merges) {
    throw new NetworkError(`no vocabulary found: ${at('vocab.json')} or merges.txt is missing; pass the vocab option`, at('vocab.json'), 404);
  }
  return { kind: 'vocab-merges', vocab: vocabJson, merges };
}
