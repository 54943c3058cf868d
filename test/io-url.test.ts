import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NetworkError } from '../src/errors';
import { openCheckpoint } from '../src/io/checkpoint';
import { openUrlSource } from '../src/io/source';
import { openFileSource } from '../src/io/source-node';
import { GOLDEN_SAFETENSORS, GOLDEN_TORCH } from './io-fixtures';

/** How the test server misbehaves, set per test. */
const server = {
  bodyBytesSent: 0,
  requests: [] as string[],
  ignoreRange: false,
  hideContentRange: false,
  etag: '"golden-v1"',
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
    const stream = createReadStream(path, { start, end });
    stream.on('data', (chunk) => (server.bodyBytesSent += chunk.length));
    stream.pipe(res);
    res.on('close', () => stream.destroy());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

beforeEach(() => {
  Object.assign(server, { bodyBytesSent: 0, requests: [], ignoreRange: false, hideContentRange: false, etag: '"golden-v1"' });
});

async function referenceF32(path: string, name: string): Promise<Float32Array> {
  const file = await openFileSource(path);
  try {
    return await (await openCheckpoint(file)).readF32(name);
  } finally {
    await file.close();
  }
}

describe('UrlSource over HTTP Range requests', () => {
  it('reads one small tensor of the golden safetensors without downloading the file', async () => {
    const source = await openUrlSource(`${base}/model.safetensors`);
    expect(source.size).toBe(statSync(GOLDEN_SAFETENSORS).size);
    expect(source.etag).toBe('"golden-v1"');
    const checkpoint = await openCheckpoint(source);
    // visual.attn_pool.query [9, 48] sits 10 MB into the file, far past the first request's 64 KiB.
    const values = await checkpoint.readF32('visual.attn_pool.query');
    expect(values).toEqual(await referenceF32(GOLDEN_SAFETENSORS, 'visual.attn_pool.query'));
    // One prefetch holds the 8-byte length and the 13.6 KB header; one more fetches the 1728 tensor bytes.
    expect(server.requests).toEqual([
      'GET /model.safetensors bytes=0-65535',
      `GET /model.safetensors bytes=${checkpoint.tensors.get('visual.attn_pool.query')!.byteOffset}-${checkpoint.tensors.get('visual.attn_pool.query')!.byteOffset + 1727}`,
    ]);
    expect(server.bodyBytesSent).toBe(65536 + 9 * 48 * 4);
    expect(source.bytesTransferred).toBe(server.bodyBytesSent);
    expect(server.bodyBytesSent).toBeLessThan(source.size / 200);
  });

  it('opens the golden .bin lazily too', async () => {
    const source = await openUrlSource(`${base}/model.bin`);
    const checkpoint = await openCheckpoint(source);
    expect(await checkpoint.readF32('text.cls_emb')).toEqual(await referenceF32(GOLDEN_TORCH, 'text.cls_emb'));
    // Directory, pickle and local headers of 129 storages (most tiny, so coalesced): under 1 MB of 20 MB.
    expect(server.bodyBytesSent).toBeLessThan(1_000_000);
    expect(source.requestCount).toBe(server.requests.length);
  });

  it('learns the size from HEAD when Content-Range is not readable', async () => {
    server.hideContentRange = true;
    const source = await openUrlSource(`${base}/model.safetensors`);
    expect(source.size).toBe(statSync(GOLDEN_SAFETENSORS).size);
    expect(server.requests).toEqual(['GET /model.safetensors bytes=0-65535', 'HEAD /model.safetensors ']);
    const checkpoint = await openCheckpoint(source);
    expect(await checkpoint.readF32('visual.ln_post.bias')).toEqual(await referenceF32(GOLDEN_SAFETENSORS, 'visual.ln_post.bias'));
  });
});

describe('UrlSource failures', () => {
  it('a server that ignores Range (would send the whole file)', async () => {
    server.ignoreRange = true;
    const error = await openUrlSource(`${base}/model.safetensors`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).status).toBe(200);
    expect((error as Error).message).toMatch(/ignored the Range request/);
  });

  it('a missing file', async () => {
    const error = await openUrlSource(`${base}/nope.bin`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).status).toBe(404);
    expect((error as NetworkError).url).toBe(`${base}/nope.bin`);
    expect((error as Error).message).toMatch(/HTTP 404 Not Found/);
  });

  it('a host that refuses the connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/model.bin`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await openUrlSource(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect((error as NetworkError).status).toBe(0);
    expect((error as Error).message).toMatch(/could not fetch http:\/\/127\.0\.0\.1:\d+\/model\.bin/);
  });

  it('a file replaced between reads (ETag changed)', async () => {
    const source = await openUrlSource(`${base}/model.safetensors`);
    server.etag = '"golden-v2"';
    await expect(source.read(1_000_000, 16)).rejects.toThrow(/changed while it was being read \(ETag "golden-v1" became "golden-v2"\)/);
  });
});
