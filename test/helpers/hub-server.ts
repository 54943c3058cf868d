// A local stand-in for the Hugging Face hub: the same URL layout ({repo}/resolve/{revision}/{file}),
// CORS, Range, ETag, no HTTP caching, and faults on demand (fail requests, cut a body mid-way, change a
// file's ETag, hide a file). Every request is logged with the bytes actually sent, so tests can tell a
// resumed download from a full one and a cache hit from a network load.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { vocabularyFromBpeText } from '../../src/text/vocabulary';

export interface HubRequest {
  method: string;
  repo: string;
  file: string;
  /** [first, last] requested, or null for a whole-file request. */
  range: [number, number] | null;
  status: number;
  /** Body bytes written before the response ended (or was cut). */
  bytesSent: number;
}

interface Fault {
  /** Matches a file name (all files when undefined). */
  file?: string;
  /** Requests still to be affected. */
  remaining: number;
  /** Only requests whose range starts at or after this offset. */
  fromOffset?: number;
  /** Only requests for at least this many bytes. */
  minLength?: number;
}

export interface HubServer {
  url: string;
  /** `${url}/${repo}/resolve/main/`: the base URL form of a repo. */
  baseUrl(repo: string): string;
  requests: HubRequest[];
  /** Bytes of response bodies sent for `file` (all files when omitted) since the last reset. */
  bytesSent(file?: string): number;
  resetLog(): void;
  /** The next `count` matching requests get `status` (default 500). */
  failNext(count: number, options?: { file?: string; status?: number; fromOffset?: number }): void;
  /** The next `count` matching responses send `afterBytes` of their body and then drop the connection. */
  cutNext(count: number, options: { file?: string; afterBytes: number; fromOffset?: number; minLength?: number }): void;
  /** The connection breaks for good once `bytes` of `file` have been sent: every later response is cut (until clearFaults). */
  cutAfter(bytes: number, options: { file: string }): void;
  /** Gives a file a new ETag, as if it had been re-uploaded. */
  changeEtag(repo: string, file: string): void;
  /** Makes a file answer 404 (or stop doing so). */
  hide(repo: string, file: string, hidden?: boolean): void;
  clearFaults(): void;
  close(): Promise<void>;
}

/** repo id → file name → bytes. */
export type HubRepos = Record<string, Record<string, Uint8Array>>;

/** The CLIP vocabulary in the hub's CLIPTokenizer form (vocab.json + merges.txt), made from OpenCLIP's bpe file. */
export function hubVocabFiles(bpeGzPath: string): { 'vocab.json': Uint8Array; 'merges.txt': Uint8Array } {
  const { tokens, merges } = vocabularyFromBpeText(gunzipSync(readFileSync(bpeGzPath)).toString('utf8'));
  const hubName: Record<string, string> = { '<start_of_text>': '<|startoftext|>', '<end_of_text>': '<|endoftext|>' };
  const vocab = Object.fromEntries(tokens.map((t, id) => [hubName[t] ?? t, id]));
  const enc = new TextEncoder();
  return { 'vocab.json': enc.encode(JSON.stringify(vocab)), 'merges.txt': enc.encode(`#version: 0.2\n${merges.join('\n')}\n`) };
}

export async function startHubServer(repos: HubRepos): Promise<HubServer> {
  const requests: HubRequest[] = [];
  const etags = new Map<string, string>();
  const hidden = new Set<string>();
  let fails: (Fault & { status: number })[] = [];
  let cuts: (Fault & { afterBytes: number })[] = [];
  let budget: { file: string; left: number } | null = null;
  let generation = 0;

  const etagOf = (repo: string, file: string): string => {
    const key = `${repo}/${file}`;
    if (!etags.has(key)) etags.set(key, `"${key.length.toString(16)}-${(repos[repo]![file]!.byteLength).toString(16)}-0"`);
    return etags.get(key)!;
  };

  const take = <F extends Fault>(list: F[], file: string, start: number, length = Infinity): F | undefined => {
    const fault = list.find(
      (f) => f.remaining > 0 && (f.file === undefined || f.file === file) && start >= (f.fromOffset ?? 0) && length >= (f.minLength ?? 0),
    );
    if (fault) fault.remaining--;
    return fault;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Range, Authorization');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, ETag, Accept-Ranges');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const match = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = match?.[1] ?? '';
    const file = match?.[3] ?? '';
    const rangeHeader = req.headers.range;
    const rm = rangeHeader ? /^bytes=(\d+)-(\d*)$/.exec(rangeHeader) : null;
    const entry: HubRequest = { method: req.method ?? 'GET', repo, file, range: null, status: 0, bytesSent: 0 };
    requests.push(entry);
    const bytes = repos[repo]?.[file];
    if (!match || !bytes || hidden.has(`${repo}/${file}`)) {
      entry.status = 404;
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Entry not found');
      return;
    }
    const first = rm ? Number(rm[1]) : 0;
    const fail = take(fails, file, first);
    if (fail) {
      entry.status = fail.status;
      res.writeHead(fail.status, { 'Content-Type': 'text/plain' }).end('injected failure');
      return;
    }
    const headers: Record<string, string> = { 'Accept-Ranges': 'bytes', ETag: etagOf(repo, file), 'Content-Type': 'application/octet-stream' };
    let body = bytes;
    let status = 200;
    if (rm) {
      const last = rm[2] ? Math.min(Number(rm[2]), bytes.byteLength - 1) : bytes.byteLength - 1;
      if (first >= bytes.byteLength || last < first) {
        entry.status = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.byteLength}` }).end();
        return;
      }
      entry.range = [first, last];
      body = bytes.subarray(first, last + 1);
      status = 206;
      headers['Content-Range'] = `bytes ${first}-${last}/${bytes.byteLength}`;
    }
    headers['Content-Length'] = String(body.byteLength);
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let cut: { afterBytes: number } | undefined = take(cuts, file, first, body.byteLength);
    if (!cut && budget && budget.file === file && budget.left < body.byteLength) cut = { afterBytes: budget.left };
    if (budget && budget.file === file) budget.left = Math.max(0, budget.left - body.byteLength);
    if (cut) {
      const part = body.subarray(0, Math.min(cut.afterBytes, body.byteLength));
      entry.bytesSent = part.byteLength;
      res.write(part, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    entry.bytesSent = body.byteLength;
    res.end(body);
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    baseUrl: (repo) => `${url}/${repo}/resolve/main/`,
    requests,
    bytesSent: (file) => requests.filter((r) => file === undefined || r.file === file).reduce((sum, r) => sum + r.bytesSent, 0),
    resetLog: () => void requests.splice(0),
    failNext: (count, o = {}) => void fails.push({ remaining: count, file: o.file, status: o.status ?? 500, fromOffset: o.fromOffset }),
    cutNext: (count, o) => void cuts.push({ remaining: count, file: o.file, afterBytes: o.afterBytes, fromOffset: o.fromOffset, minLength: o.minLength }),
    cutAfter: (bytes, o) => {
      budget = { file: o.file, left: bytes };
    },
    changeEtag: (repo, file) => {
      generation++;
      etags.set(`${repo}/${file}`, `"changed-${generation}"`);
    },
    hide: (repo, file, hide = true) => void (hide ? hidden.add(`${repo}/${file}`) : hidden.delete(`${repo}/${file}`)),
    clearFaults: () => {
      fails = [];
      cuts = [];
      budget = null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
