// The one HTTP reader: whole small files (configs, vocabularies) with a size cap, and model files opened for
// random access with Range requests that stream into place (progress as bytes arrive), retry what failed
// without progress (5xx, 408, 429, a dropped connection, offline) with backoff, resume a body cut short by
// asking for the rest, and notice a file that changed on the server between two requests (ETag or size).
import { ModelChangedError, NetworkError } from '../errors';
import { checkReadRange, type ByteSource } from './source';

export interface HttpOptions {
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Called with every piece of body received, for progress. */
  onBytes?: (bytes: number) => void;
  /** Attempts after a failure that made no progress. Default 4. */
  retries?: number;
  /** First wait before a retry; doubles each time. Default 250 ms. */
  retryDelayMs?: number;
}

/** Which file bytes came from: a different ETag or size means bytes read before must not be mixed in. */
export interface FileIdentity {
  name: string;
  size: number;
  etag: string | null;
}

/** A model file opened for random access, with what identifies its version. */
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

/** True for the NetworkError of a 404: the file does not exist (callers looking for optional files test this). */
export function isNotFound(error: unknown): boolean {
  return error instanceof NetworkError && error.status === 404;
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

/** The most a whole-file read accepts, and the error for a file above it. */
export interface SizeCap {
  maxBytes: number;
  tooLarge: (bytes: number) => Error;
}

/**
 * A whole small file (config, vocabulary). A file larger than the cap is refused from its Content-Length,
 * or as soon as the body passes the cap, never read whole. Rejects with NetworkError (status 404 when the
 * file does not exist: see isNotFound).
 */
export async function fetchFile(url: string, cap: SizeCap, options: HttpOptions = {}): Promise<Uint8Array> {
  return withRetries(options, async () => {
    const response = await send(url, {}, options);
    if (!response.ok) {
      await response.body?.cancel();
      throw statusError(url, response);
    }
    const declared = Number(response.headers.get('Content-Length') ?? NaN);
    if (declared > cap.maxBytes) {
      await response.body?.cancel();
      throw cap.tooLarge(declared);
    }
    const parts: Uint8Array[] = [];
    let received = 0;
    let refused: Error | null = null;
    try {
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
        if (received > cap.maxBytes) {
          refused = cap.tooLarge(received);
          await reader.cancel();
          break;
        }
        parts.push(value);
        options.onBytes?.(value.byteLength);
      }
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw transient(new NetworkError(`${url}: connection dropped while reading the response: ${String(cause)}`, url, response.status));
    }
    if (refused) throw refused;
    const bytes = new Uint8Array(received);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.byteLength;
    }
    return bytes;
  });
}

/** bytes <first>-<last>/<total|*> */
function parseContentRange(header: string | null): { first: number; last: number; total: number | null } | null {
  const m = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  return m ? { first: Number(m[1]), last: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) } : null;
}

/** The first bytes of a file come with its opening request: checkpoint headers sit there. */
export const PREFETCH_BYTES = 256 * 1024;

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

  /**
   * Opens `url` with one ranged GET that also brings the first bytes (a HEAD when the server hides
   * Content-Range from scripts). NetworkError when it does not exist (404) or ignores Range.
   */
  static async open(url: string, options: HttpOptions = {}): Promise<HttpFile> {
    return withRetries(options, async () => {
      const response = await send(url, { headers: { Range: `bytes=0-${PREFETCH_BYTES - 1}` } }, options);
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

/**
 * What identifies the file at `url` now (size and ETag), from a one-byte ranged GET: the request HttpFile.open
 * makes, so the ETag is comparable with the one a file was opened with. NetworkError when it cannot be read.
 */
export async function fetchFileIdentity(url: string, options: HttpOptions = {}): Promise<FileIdentity> {
  return withRetries(options, async () => {
    const response = await send(url, { headers: { Range: 'bytes=0-0' } }, options);
    await response.body?.cancel();
    if (response.status !== 206 && response.status !== 200) throw statusError(url, response);
    const declared = Number(response.headers.get('Content-Length') ?? NaN);
    const size = parseContentRange(response.headers.get('Content-Range'))?.total ?? (response.status === 200 && Number.isSafeInteger(declared) ? declared : await sizeFromHead(url, options));
    return { name: url, size, etag: response.headers.get('ETag') };
  });
}

async function sizeFromHead(url: string, options: HttpOptions): Promise<number> {
  const response = await send(url, { method: 'HEAD' }, options);
  const length = Number(response.headers.get('Content-Length') ?? NaN);
  if (!response.ok || !Number.isSafeInteger(length)) {
    throw new NetworkError(`${url}: cannot learn the file size (HEAD status ${response.status}, no Content-Range or Content-Length)`, url, response.status);
  }
  return length;
}
