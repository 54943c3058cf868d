// The app's Library view, built for a sub-path (`base: /apps/coca-photos/`) and served only under it, with
// the golden tiny model on the local hub, in headless Chromium: a picked folder of 44 photos is indexed with
// progress; leaving the page mid-run and coming back resumes the queue (indexed photos stay, the rest are
// finished, none stored twice); the golden photos, captioned while indexing, get OpenCLIP's greedy captions;
// photos dropped on the view are indexed;
// search as you type, more like this, the caption filter, export and delete are checked against the stored
// entries and a Node reference (the same model on lavapipe); with the network off and both servers gone, the
// installed app loads the model from the cache and search still works.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser';
import { goldenJson, loadTiny, SHARED, tokenizer } from './helpers/golden';
import { cosine } from './helpers/gpu';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { buildSite, REPO_ROOT, tempDir } from './browser/faces-build';
import { startStaticServer, type StaticServer } from './browser/faces-server';
import { generatePhotos, SAMPLE_PHOTOS, tinyHubRepo, writePhotos, type GeneratedPhoto } from './browser/library-fixtures';
import { NodeLibraryModel } from '../src/library/model-node';
import { labelTexts } from '../src/client/labels';

/** Chromium (SwiftShader) against Node (lavapipe), both fp32: golden/README.md's feature tolerance. */
const ADAPTER_TOL = 1e-4;
const BASE = '/apps/coca-photos/';
const REPO = 'local/coca-tiny';
const QUERY = 'a photo of a cat';
const DEFAULT_LABELS = ['cat', 'dog', 'person', 'car', 'food', 'flower', 'building', 'landscape'];
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'library');
/** The committed README screenshot is only rewritten on request, so test runs leave the work tree clean. */
const UPDATE_README_SCREENSHOT = process.env.UPDATE_README_SCREENSHOT === '1';
const README_SCREENSHOT_MAX_BYTES = 500_000;

interface StoredEntry {
  id: string;
  path: string;
  addedAt: number;
  caption?: string;
  embedding: number[];
}

let browser: Browser;
let hub: HubServer;
let site: StaticServer;
let siteDir: string;
let folder: string;
let photos: GeneratedPhoto[];
let reference: NodeLibraryModel;
let context: BrowserContext;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  siteDir = tempDir('library-site');
  const [, hubServer, chromium, generated, model, tok] = await Promise.all([
    buildSite(siteDir, BASE),
    startHubServer({ [REPO]: tinyHubRepo() }),
    launchChromium(),
    generatePhotos(),
    loadTiny('open_clip_model.safetensors', 'fp32'),
    tokenizer(),
  ]);
  [hub, browser, photos] = [hubServer, chromium, generated];
  reference = new NodeLibraryModel(model, tok, { id: REPO, revision: 'main', dtype: 'fp32' });
  folder = path.join(tempDir('library-photos'), 'holiday');
  writePhotos(folder, photos);
  site = await startStaticServer({ [BASE]: siteDir });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await site?.close();
  await hub?.close();
  if (siteDir) rmSync(siteDir, { recursive: true, force: true });
  if (folder) rmSync(path.dirname(folder), { recursive: true, force: true });
});

const appUrl = (): string => `${site.url}${BASE}?model=${encodeURIComponent(hub.baseUrl(REPO))}&dtype=fp32`;

async function waitForModel(): Promise<string> {
  await page.locator('#load-progress-text:text-matches("^Loaded "), #model-error:not(:empty)').first().waitFor({ timeout: 90_000 });
  expect(await page.textContent('#model-error')).toBe('');
  return (await page.textContent('#load-progress-text')) ?? '';
}

/** The library's IndexedDB records, read directly (not through the app): entries and queue length. */
function readDatabase(target: Page): Promise<{ entries: StoredEntry[]; pending: number }> {
  return target.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('coca-webgpu-library');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const all = <T>(store: string): Promise<T[]> =>
      new Promise((resolve, reject) => {
        const request = db.transaction(store, 'readonly').objectStore(store).getAll();
        request.onsuccess = () => resolve(request.result as T[]);
        request.onerror = () => reject(request.error);
      });
    const entries = (await all<{ id: string; path: string; addedAt: number; caption?: string; embedding: Float32Array }>('entries')).map((e) => ({
      id: e.id,
      path: e.path,
      addedAt: e.addedAt,
      ...(e.caption !== undefined ? { caption: e.caption } : {}),
      embedding: [...e.embedding],
    }));
    const pending = (await all('pending')).length;
    db.close();
    return { entries, pending };
  });
}

/** What the results grid shows: ids and scores in order. */
function shownResults(): Promise<{ id: string; path: string; score: number }[]> {
  return page.$$eval('#library-results .library-item', (items) =>
    items.map((item) => {
      const d = (item as HTMLElement).dataset;
      return { id: d.id!, path: d.path!, score: Number(d.score) };
    }),
  );
}

async function search(query: string): Promise<void> {
  await page.fill('#library-query', query);
  await page.waitForFunction((q) => (document.getElementById('library-results-meta')?.textContent ?? '').startsWith(`Best matches for “${q}”`), query, { timeout: 60_000 });
}

/** Order and scores agree with a reference ranking: scores within `tol`, and never out of order by more than `tol`. */
function expectRanking(shown: { id: string; score: number }[], want: Map<string, number>, tol: number): void {
  for (const [i, hit] of shown.entries()) {
    expect(Math.abs(hit.score - want.get(hit.id)!)).toBeLessThanOrEqual(tol);
    if (i > 0) expect(want.get(shown[i - 1]!.id)! - want.get(hit.id)!).toBeGreaterThanOrEqual(-tol);
  }
  // Nothing better was left out.
  const worstShown = Math.min(...shown.map((h) => want.get(h.id)!));
  const shownIds = new Set(shown.map((h) => h.id));
  for (const [id, score] of want) if (!shownIds.has(id)) expect(score).toBeLessThanOrEqual(worstShown + tol);
}

describe('the Library view (built for a sub-path, tiny golden model, Chromium)', () => {
  let beforeLeaving: StoredEntry[] = [];
  let stored: StoredEntry[] = [];
  let onlineResults: { id: string; score: number }[] = [];

  it('indexes a picked folder with progress; leaving mid-run and coming back resumes the queue, each photo stored once; captions as an option', async () => {
    await page.goto(appUrl());
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.textContent('#library-status')).toBe('Load a model first: each model keeps its own index.');
    await page.click('#load-model');
    await waitForModel();
    // The service worker is active, for the offline test at the end.
    await page.evaluate(async () => {
      const worker = (await navigator.serviceWorker.ready).active!;
      if (worker.state !== 'activated') await new Promise((resolve) => worker.addEventListener('statechange', () => worker.state === 'activated' && resolve(null)));
    });
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '0');
    expect(await page.textContent('#library-status')).toBe('0 photos in this model’s library.');

    await page.setInputFiles('#library-folder', folder);
    await page.waitForFunction(() => Number(document.getElementById('library-progress')?.dataset.done) >= 8, undefined, { timeout: 120_000 });
    expect((await page.textContent('#library-progress-text')) ?? '').toMatch(/^Indexed \d+ of 44 · [\d.]+ photos\/s · about .+ left$/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'library-indexing.png'), fullPage: true });

    // Leave mid-run, for another document of the same site where none of the app runs (Pause first, so the
    // run cannot finish before the page is gone; the batch in flight dies with the page all the same).
    await page.click('#library-pause');
    await page.goto(`${site.url}${BASE}manifest.webmanifest`);
    const left = await readDatabase(page);
    beforeLeaving = left.entries;
    expect(left.entries.length).toBeGreaterThanOrEqual(8);
    expect(left.pending).toBeGreaterThan(0);
    expect(left.entries.length + left.pending).toBe(44);

    // Back: the model loads from the cache by itself and indexing continues with the queue alone.
    await page.goto(appUrl());
    await page.waitForSelector('body[data-ready="true"]');
    await waitForModel();
    await page.waitForSelector('#library-section[data-state="done"]', { timeout: 120_000 });
    expect(await page.textContent('#library-progress-text')).toMatch(new RegExp(`^Indexed ${left.pending} new photos in `));
    expect(await page.textContent('#library-status')).toBe('44 photos in this model’s library.');
    const after = await readDatabase(page);
    expect(after.pending).toBe(0);
    const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
    expect(after.entries.map((e) => e.id).sort()).toEqual(photos.map((p) => sha(p.bytes)).sort());
    expect(after.entries.map((e) => e.path).sort()).toEqual(photos.map((p) => `holiday/${p.path}`).sort());
    // The photos stored before leaving were not indexed again (the same record, written at the same time).
    for (const entry of beforeLeaving) expect(after.entries.find((e) => e.id === entry.id)).toEqual(entry);

    // Captioning while indexing: the golden photos themselves (new bytes to this library) get OpenCLIP's greedy captions.
    await page.check('#library-caption');
    await page.selectOption('#library-caption-strategy', 'greedy');
    await page.setInputFiles('#library-files', [...SAMPLE_PHOTOS].map((name) => path.join(SHARED, 'images', name)));
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '48' && document.getElementById('library-section')?.dataset.state === 'done', undefined, { timeout: 120_000 });
    expect(await page.textContent('#library-status')).toBe('48 photos in this model’s library · 4 captioned.');

    // Photos dropped on the Library's zone are indexed there (the Images panel leaves them); other files are skipped.
    await page.uncheck('#library-caption');
    const dropped = ['mode-L.png', 'mode-P.png'].map((name) => ({ name, type: 'image/png', bytes: [...readFileSync(path.join(SHARED, 'images', 'modes', name))] }));
    dropped.push({ name: 'notes.txt', type: 'text/plain', bytes: [...Buffer.from('not a photo')] });
    await page.evaluate((files) => {
      const transfer = new DataTransfer();
      for (const f of files) transfer.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.type }));
      document.getElementById('library-drop-zone')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, dropped);
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '50' && document.getElementById('library-section')?.dataset.state === 'done', undefined, { timeout: 60_000 });
    expect(await page.textContent('#library-progress-text')).toMatch(/^Indexed 2 new photos in .* · 1 other file skipped\.$/);
    expect(await page.locator('#image-list .image-item').count()).toBe(0);

    stored = (await readDatabase(page)).entries;
    const golden = await goldenJson();
    for (const want of golden.greedy.captions) expect(stored.find((e) => e.path === want.image)?.caption).toBe(want.text);
    // Embeddings equal the same model's in Node (PNG photos: the same pixels in both decoders).
    for (const entry of stored.filter((e) => e.path.endsWith('.png')).slice(0, 4)) {
      const photo = photos.find((p) => `holiday/${p.path}` === entry.path) ?? { bytes: new Uint8Array(readFileSync(path.join(SHARED, 'images', entry.path))), type: 'image/png' };
      const [want] = await reference.encodeImage([new Blob([photo.bytes as Uint8Array<ArrayBuffer>], { type: photo.type })]);
      expect(cosine(entry.embedding, want!)).toBeGreaterThan(1 - ADAPTER_TOL);
    }
    // Only the site's sub-path was requested (Chromium asks for /favicon.ico on its own for the JSON document).
    expect(site.requests.filter((p) => !p.startsWith(BASE) && p !== '/favicon.ico')).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('search as you type ranks thumbnails as cosine with the query; more like this, caption filter, export and delete match the stored entries', async () => {
    const [text] = await reference.encodeText([QUERY]);
    await search(QUERY);
    const shown = await shownResults();
    expect(shown).toHaveLength(50);
    expectRanking(shown, new Map(stored.map((e) => [e.id, cosine(e.embedding, text!)])), ADAPTER_TOL);
    onlineResults = shown;
    expect(await page.locator('#library-results .library-item img').count()).toBe(50);
    if (UPDATE_README_SCREENSHOT) {
      const shot = path.join(REPO_ROOT, 'public', 'library.png');
      await page.setViewportSize({ width: 1000, height: 1000 });
      const section = page.locator('#library-section');
      await section.evaluate((s) => s.scrollIntoView());
      // The first three rows of thumbnails, decoded (they load lazily).
      await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('#library-results img')].slice(0, 18).every((img) => img.complete && img.naturalWidth > 0));
      const box = (await section.boundingBox())!;
      await page.screenshot({ path: shot, scale: 'css', clip: { x: box.x, y: box.y, width: box.width, height: Math.min(box.height, 880) } });
      expect(statSync(shot).size).toBeLessThan(README_SCREENSHOT_MAX_BYTES);
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    await page.screenshot({ path: path.join(ARTIFACTS, 'library-search.png'), fullPage: true });

    // More like this, from the best match.
    const seed = stored.find((e) => e.id === shown[0]!.id)!;
    await page.locator(`#library-results .library-item[data-id="${seed.id}"] .more-like-this`).click();
    await page.waitForFunction(() => (document.getElementById('library-results-meta')?.textContent ?? '').startsWith('Photos like '));
    const similar = await shownResults();
    expect(similar.map((h) => h.id)).not.toContain(seed.id);
    expectRanking(similar, new Map(stored.filter((e) => e.id !== seed.id).map((e) => [e.id, cosine(e.embedding, seed.embedding)])), 1e-6);
    await page.click('#library-back');
    await page.waitForFunction((q) => (document.getElementById('library-results-meta')?.textContent ?? '').startsWith(`Best matches for “${q}”`), QUERY);

    // Caption words narrow the results to photos whose caption has them all.
    const word = 'risks';
    await page.fill('#library-caption-filter', word);
    await page.waitForFunction((w) => (document.getElementById('library-results-meta')?.textContent ?? '').includes(`with “${w}” in the caption`), word);
    const filtered = await shownResults();
    const withWord = stored.filter((e) => e.caption?.toLowerCase().includes(word));
    expect(withWord.length).toBeGreaterThan(0);
    expect(filtered.map((h) => h.id).sort()).toEqual(withWord.map((e) => e.id).sort());
    await page.fill('#library-caption-filter', '');

    // Export: JSONL and CSV downloads hold every stored entry with its caption and best labels.
    const labelEmbeddings = await reference.encodeText(labelTexts(DEFAULT_LABELS, 'a photo of a {label}'));
    await page.click('#library-manage-summary');
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.click('#library-export-jsonl')]);
    expect(jsonl.suggestedFilename()).toBe('coca-library.jsonl');
    const lines = readFileSync(await jsonl.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256: string; caption: string; labels: { label: string; score: number }[] });
    expect(lines.map((l) => l.sha256).sort()).toEqual(stored.map((e) => e.id).sort());
    for (const line of lines) {
      const entry = stored.find((e) => e.id === line.sha256)!;
      expect([line.path, line.caption]).toEqual([entry.path, entry.caption ?? '']);
      const scores = new Map(DEFAULT_LABELS.map((label, j) => [label, cosine(entry.embedding, labelEmbeddings[j]!)]));
      expectRanking(line.labels.map((l) => ({ id: l.label, score: l.score })), scores, ADAPTER_TOL);
      expect(line.labels).toHaveLength(3);
    }
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#library-export-csv')]);
    const rows = readFileSync(await csv.path(), 'utf8').trim().split('\r\n');
    expect(rows[0]).toBe('path,name,sha256,size,caption,best_labels,best_label_scores');
    expect(rows).toHaveLength(51);

    // Delete one photo.
    const gone = shown.at(-1)!;
    await page.locator(`#library-results .library-item[data-id="${gone.id}"] .delete`).click();
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '49');
    expect((await readDatabase(page)).entries.map((e) => e.id)).not.toContain(gone.id);
    stored = stored.filter((e) => e.id !== gone.id);
    onlineResults = onlineResults.filter((h) => h.id !== gone.id);
    expect(errors).toEqual([]);
  });

  it('offline (network off, both servers gone): the app starts, loads the model from the cache, and search gives the same results; clear all empties the index', async () => {
    await context.setOffline(true);
    await Promise.all([site.close(), hub.close()]);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await waitForModel()).toMatch(/from this browser’s storage/);
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '49');
    await search(QUERY);
    const shown = await shownResults();
    expect(shown.map((h) => h.id)).toEqual(onlineResults.map((h) => h.id));
    for (const [i, hit] of shown.entries()) expect(hit.score).toBeCloseTo(onlineResults[i]!.score, 6);
    await page.screenshot({ path: path.join(ARTIFACTS, 'library-offline.png'), fullPage: true });

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#library-manage-summary');
    await page.click('#library-clear');
    await page.waitForFunction(() => document.getElementById('library-status')?.dataset.size === '0');
    expect(await readDatabase(page)).toEqual({ entries: [], pending: 0 });
    expect(errors).toEqual([]);
  });
});
