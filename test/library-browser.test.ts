// The library API in headless Chromium (WebGPU on SwiftShader, IndexedDB), with the golden tiny CoCa from
// a local hub: a picked folder of 44 photos made from ../shared/images is indexed; search and
// more-like-this rank exactly as the cosine of embeddings computed independently through
// coca.encodeImage / coca.encodeText; re-adding submits no GPU work; thumbnails, export and persistence
// are checked against the stored entries.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import type { ClientModule } from './browser/runtime-page';
import type { Coca, IndexProgress } from '../src/index';
import { decodeImageBytes } from '../src/image/decode-node';
import { THUMBNAIL_SIZE } from '../src/library/thumbnail';
import { launchChromium, startViteServer } from './helpers/browser';
import { cosine, maxAbsDiff } from './helpers/gpu';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { tempDir } from './browser/faces-build';
import { generatePhotos, tinyHubRepo, writePhotos, type GeneratedPhoto } from './browser/library-fixtures';

/** One photo encoded in a batch of 8 and alone: the same kernels on the same rows, rounding apart. */
const BATCH_TOL = 1e-5;
const REPO = 'test/coca-tiny';
const LIBRARY = 'browser-test';
const QUERY = 'a photo of a cat';
const LABELS = ['cat', 'cup of coffee', 'astronaut', 'rocket'];

interface PageWindow {
  client: ClientModule;
  coca?: Coca;
}

interface StoredEntry {
  id: string;
  path: string;
  name: string;
  size: number;
  type: string;
  embedding: number[];
  thumbnail: { type: string; width: number; height: number } | null;
}

let server: ViteDevServer;
let viteUrl: string;
let hub: HubServer;
let browser: Browser;
let context: BrowserContext;
let photos: GeneratedPhoto[];
let folder: string;

beforeAll(async () => {
  [{ server, url: viteUrl }, hub, browser, photos] = await Promise.all([
    startViteServer(),
    startHubServer({ [REPO]: tinyHubRepo() }),
    launchChromium(),
    generatePhotos(),
  ]);
  folder = path.join(tempDir('library'), 'photos');
  writePhotos(folder, photos);
  context = await browser.newContext();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await hub?.close();
  await server?.close();
  if (folder) rmSync(path.dirname(folder), { recursive: true, force: true });
});

/** The client page with a folder picker, and a model loaded from the local hub. */
async function openWithModel(dtype: 'fp16' | 'fp32'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${viteUrl}/test/browser/runtime.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  await page.evaluate(
    async ({ model, dtype }) => {
      const input = Object.assign(document.createElement('input'), { type: 'file', id: 'folder', webkitdirectory: true, multiple: true });
      document.body.append(input);
      const w = window as unknown as PageWindow;
      w.coca = await w.client.createCoca({ model, dtype });
    },
    { model: hub.baseUrl(REPO), dtype },
  );
  return page;
}

/** The library's entries as plain data, with each thumbnail's decoded size. */
function storedEntries(page: Page, name = LIBRARY): Promise<StoredEntry[]> {
  return page.evaluate(async (name) => {
    const w = window as unknown as PageWindow;
    const lib = await w.client.createLibrary(w.coca!, { name });
    const out: StoredEntry[] = [];
    for (const e of lib.list()) {
      let thumbnail: StoredEntry['thumbnail'] = null;
      if (e.thumbnail) {
        const bitmap = await createImageBitmap(e.thumbnail);
        thumbnail = { type: e.thumbnail.type, width: bitmap.width, height: bitmap.height };
        bitmap.close();
      }
      out.push({ id: e.id, path: e.path, name: e.name, size: e.size, type: e.type, embedding: [...e.embedding], thumbnail });
    }
    return out;
  }, name);
}

/** The path a folder pick gives: the picked folder's name, then the path inside it. */
const picked = (photo: GeneratedPhoto): string => `photos/${photo.path}`;

describe('the library API in Chromium (IndexedDB, SwiftShader, tiny golden model)', () => {
  let first: StoredEntry[];

  it('indexes a picked folder of 44 photos; search and more-like-this rank as cosine through encodeImage/encodeText; re-adding submits nothing', async () => {
    const page = await openWithModel('fp32');
    await page.setInputFiles('#folder', folder);
    const run = await page.evaluate(
      async ({ name, query, labels, seedPath }) => {
        const w = window as unknown as PageWindow;
        const coca = w.coca!;
        const files = [...(document.getElementById('folder') as HTMLInputElement).files!];
        const lib = await w.client.createLibrary(coca, { name });
        const progress: IndexProgress[] = [];
        const result = await lib.add(files, { onProgress: (p) => progress.push({ ...p }) });
        const submits = coca.info.counts.submits;
        const again = await lib.add(files);
        const submitsAfterReadd = coca.info.counts.submits;
        // The independent reference: each photo alone through encodeImage, the query through encodeText.
        const alone: Record<string, number[]> = {};
        for (const file of files) alone[file.webkitRelativePath] = [...(await coca.encodeImage(file))[0]!];
        const [text] = await coca.encodeText([query]);
        const labelTexts = await coca.encodeText(labels.map((l) => `a photo of a ${l}`));
        const hits = await lib.search(query, { k: files.length });
        const seed = lib.list().find((e) => e.path === seedPath)!;
        const similar = await lib.similar(seed.id, { k: 10 });
        return {
          result,
          again,
          submits,
          submitsAfterReadd,
          progress,
          alone,
          text: [...text!],
          labelTexts: labelTexts.map((t) => [...t]),
          hits: hits.map((h) => ({ path: h.entry.path, score: h.score })),
          similar: similar.map((h) => h.entry.path),
          jsonl: await lib.export('jsonl', { labels }),
          csv: await lib.export('csv', { labels }),
          databases: (await indexedDB.databases()).map((d) => d.name).sort(),
        };
      },
      { name: LIBRARY, query: QUERY, labels: LABELS, seedPath: picked(photos.find((p) => p.path === 'rocket/original.jpg')!) },
    );

    expect(run.result).toEqual({ added: 44, known: 0, failed: [] });
    expect(run.again).toEqual({ added: 0, known: 44, failed: [] });
    expect(run.submitsAfterReadd).toBe(run.submits);
    const indexing = run.progress.filter((p) => p.phase === 'indexing');
    expect(indexing.at(-1)).toMatchObject({ done: 44, total: 44, failed: 0 });
    expect(indexing.at(-1)!.imagesPerSecond).toBeGreaterThan(0);
    // The weights and the library are separate databases.
    expect(run.databases).toEqual(['coca-webgpu', 'coca-webgpu-library']);

    first = await storedEntries(page);
    expect(first.map((e) => e.path).sort()).toEqual(photos.map(picked).sort());
    let worst = 0;
    for (const entry of first) worst = Math.max(worst, maxAbsDiff(entry.embedding, run.alone[entry.path]!));
    expect(worst).toBeLessThanOrEqual(BATCH_TOL);

    const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const want = Object.entries(run.alone)
      .map(([p, e]) => ({ path: p, score: dot(e, run.text) }))
      .sort((a, b) => b.score - a.score);
    expect(run.hits.map((h) => h.path)).toEqual(want.map((w) => w.path));
    for (const [i, hit] of run.hits.entries()) expect(Math.abs(hit.score - want[i]!.score)).toBeLessThanOrEqual(BATCH_TOL);
    const seedPath = picked(photos.find((p) => p.path === 'rocket/original.jpg')!);
    const wantSimilar = Object.entries(run.alone)
      .filter(([p]) => p !== seedPath)
      .map(([p, e]) => ({ path: p, score: cosine(e, run.alone[seedPath]!) }))
      .sort((a, b) => b.score - a.score);
    expect(run.similar).toEqual(wantSimilar.slice(0, 10).map((s) => s.path));

    // Thumbnails: JPEGs whose longest side is THUMBNAIL_SIZE, in the photo's proportions.
    for (const entry of first) {
      const photo = photos.find((p) => picked(p) === entry.path)!;
      const { width, height } = await decodeImageBytes(photo.bytes);
      const scale = THUMBNAIL_SIZE / Math.max(width, height);
      expect(entry.thumbnail).toEqual({ type: 'image/jpeg', width: Math.round(width * scale), height: Math.round(height * scale) });
      expect(entry.size).toBe(photo.bytes.byteLength);
      expect(entry.type).toBe(photo.type);
    }

    // Export: one line/row per stored entry, in list order, with the best labels by cosine.
    const lines = run.jsonl.trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256: string; size: number; caption: string; labels: { label: string; score: number }[] });
    expect(lines.map((l) => l.sha256).sort()).toEqual(first.map((e) => e.id).sort());
    for (const line of lines) {
      const entry = first.find((e) => e.id === line.sha256)!;
      expect({ path: line.path, size: line.size, caption: line.caption }).toEqual({ path: entry.path, size: entry.size, caption: '' });
      const best = LABELS.map((label, j) => ({ label, score: cosine(entry.embedding, run.labelTexts[j]!) })).sort((a, b) => b.score - a.score);
      expect(line.labels.map((l) => l.label)).toEqual(best.slice(0, 3).map((b) => b.label));
      for (const [j, l] of line.labels.entries()) expect(Math.abs(l.score - best[j]!.score)).toBeLessThanOrEqual(BATCH_TOL);
    }
    const rows = run.csv.trim().split('\r\n');
    expect(rows[0]).toBe('path,name,sha256,size,caption,best_labels,best_label_scores');
    expect(rows.slice(1).map((r) => r.split(',')[2]).sort()).toEqual(first.map((e) => e.id).sort());
    expect(rows.slice(1).map((r) => r.split(',')[5])).toEqual(lines.map((l) => l.labels.map((x) => x.label).join('; ')));
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());
    await page.close();
  });

  it('a new page (model from the cache) finds the same entries; another dtype has its own index; clear() leaves the weights alone', async () => {
    const page = await openWithModel('fp32');
    const again = await storedEntries(page);
    expect(again).toEqual(first);
    const after = await page.evaluate(async (name) => {
      const w = window as unknown as PageWindow;
      const coca16 = await w.client.createCoca({ model: w.coca!.info.id, dtype: 'fp16' });
      const other = await w.client.createLibrary(coca16, { name });
      const otherSize = other.size;
      await coca16.dispose();
      const lib = await w.client.createLibrary(w.coca!, { name });
      const removed = await lib.remove(lib.list()[0]!.id);
      const sizeAfterRemove = (await w.client.createLibrary(w.coca!, { name })).size;
      await lib.clear();
      return { otherSize, removed, sizeAfterRemove, sizeAfterClear: (await w.client.createLibrary(w.coca!, { name })).size, models: (await w.client.listCachedModels()).length };
    }, LIBRARY);
    expect(after).toEqual({ otherSize: 0, removed: true, sizeAfterRemove: 43, sizeAfterClear: 0, models: 2 });
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());
    await page.close();
  });
});
