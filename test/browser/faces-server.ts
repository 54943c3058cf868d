// A small static file server for the faces tests: serves the built site (and, for the widget, the built
// package, the example page and ../shared) from folders mounted at URL prefixes. Plain HTTP on 127.0.0.1,
// which browsers treat as a secure context, so service workers and WebGPU work.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { resolveInside, sendFile } from '../../src/app/build/plugins-node';

const INDEX_FILE = 'index.html';

export interface StaticServer {
  url: string;
  /** Every path requested, in order (to check what a page fetched). */
  requests: string[];
  close(): Promise<void>;
}

/**
 * `mounts` maps URL prefixes ('/', '/dist/lib/') to folders; the longest matching prefix wins. `headers` adds
 * response headers per request (a Content-Security-Policy taken from the page's query, say).
 */
export async function startStaticServer(mounts: Record<string, string>, headers: (url: URL) => Record<string, string> = () => ({})): Promise<StaticServer> {
  const ordered = Object.entries(mounts).sort(([a], [b]) => b.length - a.length);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const urlPath = url.pathname;
    for (const [name, value] of Object.entries(headers(url))) res.setHeader(name, value);
    requests.push(urlPath);
    const mount = ordered.find(([prefix]) => urlPath.startsWith(prefix));
    if (!mount || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.statusCode = mount ? 405 : 404;
      res.end();
      return;
    }
    const [prefix, dir] = mount;
    const relative = urlPath.slice(prefix.length);
    const root = path.resolve(dir);
    const file = resolveInside(root, relative) ?? resolveInside(root, path.posix.join(relative, INDEX_FILE));
    if (!file) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    if (relative !== '' && !relative.endsWith('/') && !path.extname(relative) && file.endsWith(INDEX_FILE)) {
      // A folder without its slash: redirect so relative URLs in the page resolve inside the folder.
      res.statusCode = 301;
      res.setHeader('Location', `${urlPath}/`);
      res.end();
      return;
    }
    sendFile(req, res, file);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
