// One config, four jobs:
//  - `vitest` (mode 'test'): only the `test` block below, with the repository as root;
//  - the demo app (`npm start`, `npm run build` → dist/): root src/app, a service worker generated at build time,
//    and in development /__shared/ serving ../shared (the golden tiny model and sample images) with Range;
//  - the npm package (`npm run build:lib`, mode 'lib' → dist/lib/): the client API and the widget as ES modules,
//    with the model worker inlined so that a consumer's bundler needs no worker set-up;
//  - the widget example (`npm run example`, mode 'example'): src/widget/example/ against the built dist/lib, with
//    ../shared under /shared/ as the example's relative paths expect, opened on the tiny golden model.
import { defineConfig } from 'vitest/config';
import type { UserConfig } from 'vite';
import { fileURLToPath } from 'node:url';
import { devSharedFiles, emptyOutDirExcept, inlineModelWorker, serviceWorkerPrecache } from './src/app/build/plugins-node.js';

const repoRoot = fileURLToPath(new URL('./', import.meta.url));
const sharedDir = fileURLToPath(new URL('../shared/', import.meta.url));
const appRoot = fileURLToPath(new URL('./src/app/', import.meta.url));

const test: UserConfig['test'] = {
  include: ['test/**/*.test.ts'],
  testTimeout: 120_000,
  hookTimeout: 120_000,
  // GPU tests share one software adapter; running files in parallel on 2 cores only thrashes.
  fileParallelism: false,
  reporters: ['default'],
};

function appConfig(): UserConfig {
  return {
    root: appRoot,
    // Relative URLs, so the built site works from any folder (GitHub Pages, a sub-path, file servers).
    base: './',
    publicDir: fileURLToPath(new URL('./public/', import.meta.url)),
    plugins: [
      devSharedFiles(sharedDir),
      serviceWorkerPrecache(fileURLToPath(new URL('./src/app/sw.ts', import.meta.url))),
      // dist/lib is the npm package's build: emptying dist/ must leave it.
      emptyOutDirExcept(['lib']),
    ],
    worker: { format: 'es' },
    server: { fs: { allow: [repoRoot, sharedDir] } },
    build: {
      outDir: fileURLToPath(new URL('./dist/', import.meta.url)),
      emptyOutDir: false,
      target: 'es2022',
      rolldownOptions: { input: { index: fileURLToPath(new URL('./src/app/index.html', import.meta.url)) } },
    },
  };
}

function libConfig(): UserConfig {
  return {
    root: repoRoot,
    publicDir: false,
    plugins: [inlineModelWorker()],
    worker: { format: 'es' },
    build: {
      outDir: fileURLToPath(new URL('./dist/lib/', import.meta.url)),
      emptyOutDir: true,
      target: 'es2022',
      lib: {
        entry: {
          index: fileURLToPath(new URL('./src/index.ts', import.meta.url)),
          widget: fileURLToPath(new URL('./src/widget/index.ts', import.meta.url)),
        },
        formats: ['es'],
      },
    },
  };
}

function exampleConfig(): UserConfig {
  const tiny = '?model=/shared/golden/coca-tiny/&vocab=/shared/vocab/bpe_simple_vocab_16e6.txt.gz';
  return {
    root: repoRoot,
    publicDir: false,
    plugins: [devSharedFiles(sharedDir, '/shared/')],
    server: { open: `/src/widget/example/index.html${tiny}` },
  };
}

export default defineConfig(({ mode }) => {
  if (mode === 'test') return { test };
  const config = mode === 'lib' ? libConfig() : mode === 'example' ? exampleConfig() : appConfig();
  return { ...config, test };
});
