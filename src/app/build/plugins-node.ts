// Vite plugins used by vite.config.ts (Node only): the dev-time /__shared/ file server, the service worker's
// precache manifest, and the library build's inlined model worker.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Plugin } from 'vite';

/** The URL prefix under which development serves ../shared (never part of a build). */
export const DEV_SHARED_PREFIX = '/__shared/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json',
  '.wgsl': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gz': 'application/gzip',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

/** Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range; undefined when absent or unsatisfiable. */
export function parseByteRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}

/** Serves a file with Range support (models are read in ranges, as from the hub). */
export function sendFile(req: IncomingMessage, res: ServerResponse, file: string): void {
  const size = statSync(file).size;
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  const range = parseByteRange(req.headers.range, size);
  res.setHeader('Content-Type', type);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'no-cache');
  if (range === 'invalid') {
    res.statusCode = 416;
    res.setHeader('Content-Range', `bytes */${size}`);
    res.end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  res.statusCode = range ? 206 : 200;
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.setHeader('Content-Length', String(end - start + 1));
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  createReadStream(file, { start, end }).pipe(res);
}

/** Resolves a URL path under `root`, refusing anything that escapes it. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0] ?? '');
  } catch {
    return undefined;
  }
  const file = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (file !== root && !file.startsWith(root.endsWith(path.sep) ? root : root + path.sep)) return undefined;
  try {
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Development only: serves ../shared (golden tiny model, vocabulary, sample images) under /__shared/ (or
 * `prefix`) so the demo works without the hub. Nothing is copied into the repository or the build.
 */
export function devSharedFiles(sharedDir: string, prefix = DEV_SHARED_PREFIX): Plugin {
  return {
    name: 'coca:dev-shared-files',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use(prefix, (req, res, next) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') return next();
        const file = resolveInside(path.resolve(sharedDir), req.url ?? '/');
        if (!file) {
          res.statusCode = 404;
          res.end('not found under ../shared');
          return;
        }
        sendFile(req, res, file);
      });
    },
  };
}

/**
 * Build only: empties the output folder except the entries named in `keep`, because the site (dist/) and the
 * npm package (dist/lib/) share a folder and neither build may delete the other (Vite's emptyOutDir would).
 */
export function emptyOutDirExcept(keep: readonly string[]): Plugin {
  let outDir = '';
  return {
    name: 'coca:empty-out-dir-except',
    apply: 'build',
    configResolved(resolved) {
      outDir = path.resolve(resolved.root, resolved.build.outDir);
    },
    buildStart() {
      let entries: string[] = [];
      try {
        entries = readdirSync(outDir);
      } catch {
        return;
      }
      for (const name of entries) if (!keep.includes(name)) rmSync(path.join(outDir, name), { recursive: true, force: true });
    },
  };
}

function listFiles(dir: string, prefix = ''): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full, `${prefix}${name}/`) : [`${prefix}${name}`];
  });
}

/** Public files the service worker does not precache: the README screenshots are not part of the app. */
const NOT_PRECACHED = [/^(screenshot|library)\.png$/, /\.map$/];

/** The placeholder in src/app/sw.ts that becomes `{ version, files }` in the built sw.js. */
export const PRECACHE_PLACEHOLDER = '__COCA_PRECACHE_MANIFEST__';

/**
 * Build only: compiles src/app/sw.ts to dist/sw.js and fills in the list of files to precache (every emitted
 * asset and public file, by relative URL) and a version hashed from their contents, so any change to the app
 * makes a new service worker and therefore the page's update prompt.
 */
export function serviceWorkerPrecache(swEntry: string): Plugin {
  let publicDir = '';
  return {
    name: 'coca:service-worker-precache',
    apply: 'build',
    config(config) {
      const rolldownOptions = config.build?.rolldownOptions ?? {};
      const input = rolldownOptions.input;
      const inputs = typeof input === 'string' ? { index: input } : Array.isArray(input) ? Object.fromEntries(input.map((i, n) => [`entry${n}`, i])) : (input ?? {});
      return {
        build: {
          rolldownOptions: {
            input: { ...inputs, sw: swEntry },
            output: {
              entryFileNames: (chunk: { name: string }) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
            },
          },
        },
      };
    },
    configResolved(resolved) {
      publicDir = resolved.publicDir;
    },
    generateBundle: {
      // After Vite's own hooks, so the bundle already holds index.html.
      order: 'post',
      handler(_options, bundle) {
        const hash = createHash('sha256');
        const files: string[] = [];
        for (const [fileName, output] of Object.entries(bundle).sort(([a], [b]) => a.localeCompare(b))) {
          if (fileName === 'sw.js' || NOT_PRECACHED.some((re) => re.test(fileName))) continue;
          files.push(fileName);
          hash.update(fileName).update(output.type === 'chunk' ? output.code : output.source);
        }
        for (const fileName of listFiles(publicDir).sort()) {
          if (NOT_PRECACHED.some((re) => re.test(fileName))) continue;
          files.push(fileName);
          hash.update(fileName).update(readFileSync(path.join(publicDir, fileName)));
        }
        const sw = bundle['sw.js'];
        if (!sw || sw.type !== 'chunk') this.error('service worker entry sw.js was not emitted');
        if (!sw.code.includes(PRECACHE_PLACEHOLDER)) this.error(`sw.js lost its ${PRECACHE_PLACEHOLDER} placeholder`);
        const manifest = { version: hash.digest('hex').slice(0, 16), files: ['./', ...files.map((f) => `./${f}`)] };
        sw.code = sw.code.replaceAll(PRECACHE_PLACEHOLDER, JSON.stringify(manifest));
      },
    },
  };
}

/** `new Worker(new URL('…', import.meta.url), options)`: the pattern the client uses to start its worker. */
const WORKER_URL_RE = /new\s+Worker\(\s*new\s+URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)\s*(,\s*)?/g;

/**
 * Library build only: rewrites the client's `new Worker(new URL('../worker/…', import.meta.url), …)` into
 * Vite's inline worker (a Blob URL made from the bundled worker source). A separate worker file would need
 * every consumer's bundler to find and copy it, which Vite's rewritten URL expression defeats.
 */
export function inlineModelWorker(): Plugin {
  return {
    name: 'coca:inline-model-worker',
    apply: 'build',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]src[\\/]client[\\/]/.test(id) || !WORKER_URL_RE.test(code)) return null;
      WORKER_URL_RE.lastIndex = 0;
      const imports: string[] = [];
      // `new Worker(new URL(spec, import.meta.url), options)` → `InlineWorker(options)`: the match ends just
      // before the options (or the closing parenthesis), so only the opening changes.
      const rewritten = code.replace(WORKER_URL_RE, (_match, _quote: string, spec: string) => {
        const name = `__CocaInlineWorker${imports.length}`;
        imports.push(`import ${name} from ${JSON.stringify(`${spec}?worker&inline`)};`);
        return `${name}(`;
      });
      return { code: `${imports.join('\n')}\n${rewritten}`, map: null };
    },
  };
}
