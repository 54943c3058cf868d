// Byte sources: random access to a model file without ever holding it whole. Checkpoint readers ask for
// the header first and then for each tensor's range, so a 1 GB .bin costs only what is actually read.

import { NetworkError } from '../errors';

/** Random-access bytes of one file. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** A name for messages (file name or URL). */
  readonly name: string;
  /**
   * Reads `length` bytes at `offset` into a new array the caller owns (it may be transferred or kept).
   * Throws RangeError when the range is not inside [0, size): readers check ranges against `size` first
   * and report a format error themselves, so reaching this is a programming error.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases an open file handle, where there is one. */
  close?(): Promise<void>;
}

/** Throws RangeError unless [offset, offset + length) lies inside a source of `size` bytes. */
export function checkReadRange(source: { size: number; name: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new RangeError(`read of ${length} bytes at ${offset} is outside ${source.name} (${source.size} bytes)`);
  }
}

/** A file that is already in memory (tests, small files, a drag-and-dropped file read whole). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name = 'memory',
  ) {
    this.size = bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }
}

/** A Blob or File (a file picked or dropped in the browser; `fs.openAsBlob` in Node). Slices are lazy. */
export class BlobSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  constructor(
    private readonly blob: Blob,
    name?: string,
  ) {
    this.size = blob.size;
    this.name = name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'blob');
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

export interface UrlSourceOptions {
  /** Defaults to the global fetch; tests and the hub client may pass their own. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization for gated hub repos). */
  headers?: Record<string, string>;
  /** Cancels every request this source makes. */
  signal?: AbortSignal;
  /** Bytes fetched by the first request and kept: checkpoint headers sit at the start of the file. */
  prefetchBytes?: number;
  /** Called with the number of body bytes after each response, for progress and accounting. */
  onBytes?: (bytes: number) => void;
}

/** Range of the file the first request brings back: a safetensors header of a CoCa model fits easily. */
const DEFAULT_PREFETCH_BYTES = 64 * 1024;

/** Content-Range: bytes <first>-<last>/<total>, where total may be '*'. */
const CONTENT_RANGE = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i;

interface ParsedContentRange {
  first: number;
  last: number;
  total: number | null;
}

function parseContentRange(header: string | null): ParsedContentRange | null {
  const match = header ? CONTENT_RANGE.exec(header.trim()) : null;
  if (!match) return null;
  return { first: Number(match[1]), last: Number(match[2]), total: match[3] === '*' ? null : Number(match[3]) };
}

/**
 * A file on an HTTP server that honours `Range: bytes=a-b` (the Hugging Face hub and its CDN do).
 * Each read is one ranged GET whose 206 answer and Content-Range are checked, so a server that ignores
 * the range (and would send the whole gigabyte) is caught at once instead of silently downloaded.
 */
export class UrlSource implements ByteSource {
  /** Body bytes received so far, over all requests. */
  bytesTransferred = 0;
  /** Number of HTTP requests made so far. */
  requestCount = 0;

  private constructor(
    readonly url: string,
    readonly size: number,
    /** The server's ETag for the file, when it sends one (the hub sends the content hash). */
    readonly etag: string | null,
    private readonly head: Uint8Array,
    private readonly options: UrlSourceOptions,
  ) {}

  get name(): string {
    return this.url;
  }

  /** Learns the size from a first ranged GET (which also brings the file's first bytes), or a HEAD. */
  static async open(url: string, options: UrlSourceOptions = {}): Promise<UrlSource> {
    const prefetch = Math.max(1, options.prefetchBytes ?? DEFAULT_PREFETCH_BYTES);
    const counters = { bytes: 0, requests: 0 };
    const response = await request(url, 0, prefetch, options, counters);
    const range = parseContentRange(response.headers.get('Content-Range'));
    let size = range?.total ?? null;
    // A cross-origin server may hide Content-Range from scripts (not CORS-safelisted); Content-Length of a
    // HEAD is always readable.
    if (size === null) size = await sizeFromHead(url, options, counters);
    const head = await readBody(response, url, options, counters);
    const expected = Math.min(prefetch, size);
    if (head.byteLength !== expected || (range !== null && range.first !== 0)) {
      throw new NetworkError(
        `${url}: asked for bytes 0-${prefetch - 1} and got ${head.byteLength} bytes starting at ${range?.first ?? '?'}`,
        url,
        response.status,
      );
    }
    const source = new UrlSource(url, size, response.headers.get('ETag'), head, options);
    source.bytesTransferred = counters.bytes;
    source.requestCount = counters.requests;
    return source;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkReadRange(this, offset, length);
    if (offset + length <= this.head.byteLength) return this.head.slice(offset, offset + length);
    if (length === 0) return new Uint8Array(0);
    const counters = { bytes: 0, requests: 0 };
    try {
      const response = await request(this.url, offset, length, this.options, counters);
      const etag = response.headers.get('ETag');
      if (this.etag !== null && etag !== null && etag !== this.etag) {
        await response.body?.cancel();
        throw new NetworkError(
          `${this.url} changed while it was being read (ETag ${this.etag} became ${etag}); reload the model`,
          this.url,
          response.status,
        );
      }
      const range = parseContentRange(response.headers.get('Content-Range'));
      const body = await readBody(response, this.url, this.options, counters);
      if (body.byteLength !== length || (range !== null && (range.first !== offset || range.last !== offset + length - 1))) {
        throw new NetworkError(
          `${this.url}: asked for bytes ${offset}-${offset + length - 1} and got ${body.byteLength} bytes` +
            (range ? ` for ${range.first}-${range.last}` : ''),
          this.url,
          response.status,
        );
      }
      return body;
    } finally {
      this.bytesTransferred += counters.bytes;
      this.requestCount += counters.requests;
    }
  }
}

/** Opens a URL as a ByteSource (see UrlSource). */
export function openUrlSource(url: string, options?: UrlSourceOptions): Promise<UrlSource> {
  return UrlSource.open(url, options);
}

async function request(
  url: string,
  offset: number,
  length: number,
  options: UrlSourceOptions,
  counters: { requests: number },
): Promise<Response> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const headers = { ...options.headers, Range: `bytes=${offset}-${offset + length - 1}` };
  counters.requests++;
  let response: Response;
  try {
    response = await fetchFn(url, { headers, signal: options.signal });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new NetworkError(`could not fetch ${url}: ${String(cause)} (offline, blocked by CORS, or the host is down)`, url, 0);
  }
  if (response.status === 206) return response;
  await response.body?.cancel();
  if (response.status === 200) {
    throw new NetworkError(
      `${url} ignored the Range request (status 200): the server must support HTTP range requests to stream a checkpoint`,
      url,
      200,
    );
  }
  if (response.status === 416) {
    throw new NetworkError(`${url}: range ${offset}-${offset + length - 1} not satisfiable (status 416); the file is shorter than expected`, url, 416);
  }
  const hint = response.status === 401 || response.status === 403 ? ' (gated or private: an access token is needed)' : '';
  throw new NetworkError(`${url}: HTTP ${response.status} ${response.statusText}${hint}`, url, response.status);
}

async function sizeFromHead(url: string, options: UrlSourceOptions, counters: { requests: number }): Promise<number> {
  const fetchFn = options.fetch ?? globalThis.fetch;
  counters.requests++;
  let response: Response;
  try {
    response = await fetchFn(url, { method: 'HEAD', headers: options.headers, signal: options.signal });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new NetworkError(`could not fetch ${url}: ${String(cause)}`, url, 0);
  }
  const length = Number(response.headers.get('Content-Length') ?? NaN);
  if (!response.ok || !Number.isSafeInteger(length)) {
    throw new NetworkError(`${url}: cannot learn the file size (HEAD status ${response.status}, no Content-Range or Content-Length)`, url, response.status);
  }
  return length;
}

async function readBody(
  response: Response,
  url: string,
  options: UrlSourceOptions,
  counters: { bytes: number },
): Promise<Uint8Array> {
  try {
    const body = new Uint8Array(await response.arrayBuffer());
    counters.bytes += body.byteLength;
    options.onBytes?.(body.byteLength);
    return body;
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new NetworkError(`${url}: connection dropped while reading the response: ${String(cause)}`, url, response.status);
  }
}
