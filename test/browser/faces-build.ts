// Builds the demo site and the npm package exactly as `npm run build` / `npm run build:lib` do (same config
// file and modes), into folders the faces tests choose, so the tests run against built output.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));
const CONFIG_FILE = path.join(REPO_ROOT, 'vite.config.ts');

export function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `coca-${name}-`));
}

/**
 * Vitest sets NODE_ENV=test, and Vite keeps a NODE_ENV it finds: the build would be a development build
 * (import.meta.env.DEV, no service worker). `npm run build` runs with NODE_ENV unset, i.e. production.
 */
async function asProductionBuild(run: () => Promise<unknown>): Promise<void> {
  const saved = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await run();
  } finally {
    process.env.NODE_ENV = saved;
  }
}

/** `npm run build` into `outDir` (with `base`: `npm run build -- --base=/sub/path/`). */
export async function buildSite(outDir: string, base?: string): Promise<void> {
  await asProductionBuild(() => build({ configFile: CONFIG_FILE, mode: 'production', logLevel: 'warn', ...(base ? { base } : {}), build: { outDir, emptyOutDir: true } }));
}

/** The JavaScript half of `npm run build:lib` into `outDir` (the .d.ts files come from tsc and are not needed here). */
export async function buildLib(outDir: string): Promise<void> {
  await asProductionBuild(() => build({ configFile: CONFIG_FILE, mode: 'lib', logLevel: 'warn', build: { outDir, emptyOutDir: true } }));
}
