// The one HTTP reader (src/io/http.ts) against a local server that misbehaves on demand: checkpoints read
// tensor by tensor with Range requests (compared with the same tensors read from the file), the size from a
// HEAD when Content-Range is hidden, retries, a body cut short resumed where it stopped, a changed file
// refused, and whole small files refused above their size cap without being downloaded.
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ModelChangedError, NetworkError, VocabularyError } from '../src/errors';
import { openCheckpoint } from '../src/io/checkpoint';
import { fetchFile, HttpFile, isNotFound, PREFETCH_BYTES, type HttpOptions } from '../src/io/http';
import { openFileSource } from '../src/io/source-node';
import { GOLDEN_SAFETENSORS, GOLDEN_TORCH } from './io-fixtures';

/** How the test server misbehaves, set per test. */
const server = {
  bodyBytesSent: 0,
  requests: [] as string[],
  ignoreRange: false,
  hideContentRange: false,
  etag: '"golden-v1"',
  /** The next this many requests answer 500. */
  failures: 0,
  /** The next body is cut after this many bytes (then the connection drops). */
  cutAfter: null as number | null,
};

const FILES: Record<string, string> = { '/model.safetensors': GOLDEN_SAFETENSORS, '/model.bin': GOLDEN_TORCH };

let http: Server;
let base = '';

beforeAll(async () => {
  http = createServer((req, res) => {
    const path = FILES[req.url ?? ''];
    server.requests.push(`${req.method} ${req.url} ${req.headers.range ?? ''}`);
    if (!path) {
      res.writeHead(404, 'Not Found').end();
      return;
    }
    if (server.failures > 0) {
      server.failures--;
      res.writeHead(500, 'Internal Server Error').end();
      return;
    }
    const size = statSync(path).size;
    const headers: Record<string, string | number> = { ETag: server.etag, 'Accept-Ranges': 'bytes' };
    if (req.method === 'HEAD') {
      res.writeHead(200, { ...headers, 'Content-Length': size }).end();
      return;
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (range && !server.ignoreRange) {
      start = Number(range[1]);
      end = Math.min(Number(range[2]), size - 1);
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
      if (!server.hideContentRange) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      res.writeHead(206, { ...headers, 'Content-Length': end - start + 1 });
    } else {
      res.writeHead(200, { ...headers, 'Content-Length': size });
    }
    const cut = server.cutAfter;
    server.cutAfter = null;
    const stream = createReadStream(path, { start, end: cut === null ? end : Math.min(end, start + cut - 1) });
    stream.on('data', (chunk) => (server.bodyBytesSent += chunk.length));
    if (cut === null) stream.pipe(res);
    else {
      stream.on('data', (chunk) => res.write(chunk));
      stream.on('end', () => setTimeout(() => res.socket?.destroy(), 20));
    }
    res.on('close', () => stream.destroy());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

beforeEach(() => {
  Object.assign(server, { bodyBytesSent: 0, requests: [], ignoreRange: false, hideContentRange: false, etag: '"golden-v1"', failures: 0, cutAfter: null });
});

/** Short retry waits, and the bytes the reader reports as they arrive. */
function options(): HttpOptions & { received: number } {
  const o = { retryDelayMs: 5, received: 0, onBytes: (n: number) => void (o.received += n) };
  return o;
}

async function referenceF32(path: string, name: string): Promise<Float32Array> {
  const file = await openFileSource(path);
  try {
    return await (await openCheckpoint(file)).readF32(name);
  } finally {
    await file.close();
  }
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

describe('HttpFile over HTTP Range requests', () => {
  it('reads one small tensor of the golden safetensors without downloading the file', async () => {
    const o = options();
    const source = await HttpFile.open(`${base}/model.safetensors`, o);
    expect(source.size).toBe(statSync(GOLDEN_SAFETENSORS).size);
    expect(source.identity).toEqual({ name: `${base}/model.safetensors`, size: source.size, etag: '"golden-v1"' });
    const checkpoint = await openCheckpoint(source);
    // visual.attn_pool.query [9, 48] sits 10 MB into the file, far past the first request's 256 KiB.
    const info = checkpoint.tensors.get('visual.attn_pool.query')!;
    expect(info.byteOffset).toBeGreaterThan(PREFETCH_BYTES);
    const values = await checkpoint.readF32('visual.attn_pool.query');
    expect(values).toEqual(await referenceF32(GOLDEN_SAFETENSORS, 'visual.attn_pool.query'));
    // One prefetch holds the 8-byte length and the 13.6 KB header; one more fetches the 1728 tensor bytes.
    expect(server.requests).toEqual([`GET /model.safetensors bytes=0-${PREFETCH_BYTES - 1}`, `GET /model.safetensors bytes=${info.byteOffset}-${info.byteOffset + 1727}`]);
    expect(server.bodyBytesSent).toBe(PREFETCH_BYTES + 9 * 48 * 4);
    expect(server.bodyBytesSent).toBeLessThan(source.size / 40);
  });

  it('opens the golden .bin lazily too', async () => {
    const source = await HttpFile.open(`${base}/model.bin`, options());
    const checkpoint = await openCheckpoint(source);
    expect(await checkpoint.readF32('text.cls_emb')).toEqual(await referenceF32(GOLDEN_TORCH, 'text.cls_emb'));
    // Directory, pickle and local headers of 129 storages (most tiny, so coalesced): about 1 MB of 20 MB.
    expect(server.bodyBytesSent).toBeLessThan(1_500_000);
  });

  it('learns the size from HEAD when Content-Range is not readable', async () => {
    server.hideContentRange = true;
    const source = await HttpFile.open(`${base}/model.safetensors`, options());
    expect(source.size).toBe(statSync(GOLDEN_SAFETENSORS).size);
    expect(server.requests).toEqual([`GET /model.safetensors bytes=0-${PREFETCH_BYTES - 1}`, 'HEAD /model.safetensors ']);
    const checkpoint = await openCheckpoint(source);
    expect(await checkpoint.readF32('visual.ln_post.bias')).toEqual(await referenceF32(GOLDEN_SAFETENSORS, 'visual.ln_post.bias'));
  });

  it('retries server errors, and resumes a body cut short from where it stopped', async () => {
    const o = options();
    server.failures = 2;
    const source = await HttpFile.open(`${base}/model.safetensors`, o);
    expect(server.requests.filter((r) => r.startsWith('GET')).length).toBe(3);
    const checkpoint = await openCheckpoint(source);
    const info = checkpoint.tensors.get('text_decoder.text_projection')!;
    server.requests = [];
    server.cutAfter = 1000;
    o.received = 0;
    const values = await checkpoint.readF32('text_decoder.text_projection');
    // 9.5 MB: compared as bytes (an element-wise toEqual takes seconds).
    const want = await referenceF32(GOLDEN_SAFETENSORS, 'text_decoder.text_projection');
    expect(Buffer.compare(Buffer.from(values.buffer, values.byteOffset, values.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(0);
    const last = info.byteOffset + info.byteLength - 1;
    expect(server.requests).toEqual([`GET /model.safetensors bytes=${info.byteOffset}-${last}`, `GET /model.safetensors bytes=${info.byteOffset + 1000}-${last}`]);
    // Progress counts each byte of the tensor once, the 1000 before the cut included.
    expect(o.received).toBe(info.byteLength);
  });
});

describe('HttpFile failures', () => {
  it('a server that ignores Range (would send the whole file)', async () => {
    server.ignoreRange = true;
    const error = await failure(HttpFile.open(`${base}/model.safetensors`, options()));
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).status).toBe(200);
    expect(error.message).toMatch(/ignored the Range request/);
  });

  it('a missing file', async () => {
    const error = await failure(HttpFile.open(`${base}/nope.bin`, options()));
    expect(error).toBeInstanceOf(NetworkError);
    expect(isNotFound(error)).toBe(true);
    expect((error as NetworkError).url).toBe(`${base}/nope.bin`);
    expect(error.message).toMatch(/HTTP 404 Not Found \(no such file\)/);
  });

  it('a host that refuses the connection, after its retries', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/model.bin`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await failure(HttpFile.open(url, { retries: 2, retryDelayMs: 1 }));
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).status).toBe(0);
    expect(error.message).toMatch(/could not fetch http:\/\/127\.0\.0\.1:\d+\/model\.bin/);
  });

  it('a file replaced between reads (ETag changed)', async () => {
    const source = await HttpFile.open(`${base}/model.safetensors`, options());
    server.etag = '"golden-v2"';
    const error = await failure(source.read(1_000_000, 16));
    expect(error).toBeInstanceOf(ModelChangedError);
    expect(error.message).toMatch(/changed on the server while it was being read \(ETag "golden-v1" → "golden-v2"/);
  });
});

describe('fetchFile', () => {
  const cap = (maxBytes: number) => ({ maxBytes, tooLarge: (bytes: number) => new VocabularyError(`${bytes} bytes is too many`) });

  it('reads a whole file under its cap', async () => {
    const bytes = await fetchFile(`${base}/model.safetensors`, cap(1 << 30), options());
    expect(bytes.byteLength).toBe(statSync(GOLDEN_SAFETENSORS).size);
    expect(Buffer.compare(bytes, await openFileSource(GOLDEN_SAFETENSORS).then((f) => f.read(0, bytes.byteLength).finally(() => f.close())))).toBe(0);
  });

  it('refuses a file above its cap from Content-Length, with the caller’s named error', async () => {
    const error = await failure(fetchFile(`${base}/model.bin`, cap(4096), options()));
    expect(error).toBeInstanceOf(VocabularyError);
    expect(error.message).toBe(`${statSync(GOLDEN_TORCH).size} bytes is too many`);
  });

  it('says 404 for a file that does not exist', async () => {
    expect(isNotFound(await failure(fetchFile(`${base}/none.json`, cap(4096), options())))).toBe(true);
  });
});
