// The demo's service worker: precaches the app shell (HTML, scripts with the model worker and shaders inside,
// styles, manifest, icons) so the installed app starts with the network off. Model weights are not here:
// the client keeps them in IndexedDB. Built to dist/sw.js, with the file list and a content version filled in
// at build time (src/app/build/plugins-node.ts). A new version waits until the page asks it to take over
// (the update prompt), so a running page never has its files swapped underneath it.
/// <reference lib="webworker" />
export {};

declare const self: ServiceWorkerGlobalScope;
declare const __COCA_PRECACHE_MANIFEST__: { version: string; files: string[] };

const manifest = __COCA_PRECACHE_MANIFEST__;
const CACHE_PREFIX = 'coca-app-shell-';
const cacheName = `${CACHE_PREFIX}${manifest.version}`;
const scope = new URL(self.registration.scope);
const precached = new Set(manifest.files.map((file) => new URL(file, scope).href));
const indexUrl = new URL('./index.html', scope).href;
precached.add(indexUrl);

self.addEventListener('install', (event) => {
  // cache: 'reload' skips the HTTP cache, so an update never precaches stale files.
  event.waitUntil(caches.open(cacheName).then((cache) => cache.addAll([...precached].map((url) => new Request(url, { cache: 'reload' })))));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((names) => Promise.all(names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== cacheName).map((name) => caches.delete(name)))),
  );
});

self.addEventListener('message', (event) => {
  const data = event.data as { type?: string } | null;
  if (data?.type === 'SKIP_WAITING') void self.skipWaiting();
  if (data?.type === 'VERSION') event.ports[0]?.postMessage({ version: manifest.version });
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.hash = '';
  // Navigations (with any ?model=… query) get the shell; other precached files come from the cache. Everything
  // else (model files from the hub, user images by URL) goes to the network untouched.
  const isAppNavigation = request.mode === 'navigate' && (url.pathname === scope.pathname || url.pathname === new URL(indexUrl).pathname);
  url.search = isAppNavigation ? '' : url.search;
  const key = isAppNavigation ? indexUrl : url.href;
  if (!precached.has(key)) return;
  event.respondWith(
    caches.open(cacheName).then(async (cache) => {
      const hit = await cache.match(key);
      return hit ?? fetch(request);
    }),
  );
});
