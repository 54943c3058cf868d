// The demo page and the offline PWA, built as `npm run build` builds them, served by a local static server,
// with the golden tiny model on the local hub, in headless Chromium (WebGPU on SwiftShader).
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser';
import { golden, goldenJson, SHARED, TINY, type GoldenJson } from './helpers/golden';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { buildSite, REPO_ROOT, tempDir } from './browser/faces-build';
import { startStaticServer, type StaticServer } from './browser/faces-server';

/** fp32 weights compute what OpenCLIP computes up to rounding (golden/README.md: features within 1e-4). */
const PROB_TOLERANCE = 1e-4;
const COSINE_TOLERANCE = 1e-4;
const REPO = 'local/coca-tiny';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'faces');
/** The committed README screenshot is only rewritten on request, so test runs leave the work tree clean. */
const UPDATE_README_SCREENSHOT = process.env.UPDATE_README_SCREENSHOT === '1';
const README_SCREENSHOT_MAX_BYTES = 300_000;

let browser: Browser;
let hub: HubServer;
let site: StaticServer;
let siteDir: string;
let reference: GoldenJson;

const image = (name: string): string => path.join(SHARED, 'images', name);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  siteDir = tempDir('site');
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(TINY, name)));
  [, hub, reference, browser] = await Promise.all([
    buildSite(siteDir),
    startHubServer({
      [REPO]: {
        'open_clip_config.json': file('open_clip_config.json'),
        'open_clip_model.safetensors': file('open_clip_model.safetensors'),
        'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(path.join(SHARED, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'))),
      },
    }),
    goldenJson(),
    launchChromium(),
  ]);
  site = await startStaticServer({ '/': siteDir });
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await hub?.close();
  if (siteDir) rmSync(siteDir, { recursive: true, force: true });
});

/** The demo with the tiny model preselected through ?model= (and fp32, so numbers match the golden files exactly). */
function demoUrl(): string {
  return `${site.url}/?model=${encodeURIComponent(hub.baseUrl(REPO))}&dtype=fp32`;
}

async function openDemo(context: BrowserContext, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(demoUrl());
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Waits for the load to finish; fails with the page's own error text when it does not. */
async function waitForModel(page: Page): Promise<string> {
  await page.waitForFunction(
    () => /^Loaded /.test(document.getElementById('load-progress-text')?.textContent ?? '') || (document.getElementById('model-error')?.textContent ?? '') !== '',
    undefined,
    { timeout: 90_000 },
  );
  expect(await page.textContent('#model-error')).toBe('');
  return (await page.textContent('#load-progress-text')) ?? '';
}

async function addImages(page: Page, names: string[]): Promise<void> {
  const before = await page.locator('.image-item').count();
  await page.setInputFiles('#image-files', names.map(image));
  await page.waitForFunction((n) => document.querySelectorAll('.image-item canvas.model-view-canvas').length === n, before + names.length);
}

async function captionSelected(page: Page): Promise<string> {
  await page.click('#caption-button');
  await page.waitForSelector('#caption-section[data-state="done"], #caption-section[data-state="error"]', { timeout: 90_000 });
  expect(await page.textContent('#caption-error')).toBe('');
  return (await page.textContent('#caption-text')) ?? '';
}

describe('demo page (built site, tiny golden model from the local hub)', () => {
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await openDemo(context, errors);
  });

  afterAll(async () => {
    await context?.close();
  });

  it('loads the model with progress and captions chelsea.png with the golden greedy caption', async () => {
    const phases: string[] = [];
    await page.exposeFunction('recordPhase', (phase: string) => phases.push(phase));
    await page.evaluate(() => {
      const bar = document.getElementById('load-progress')!;
      new MutationObserver(() => (window as unknown as { recordPhase: (p: string) => void }).recordPhase(bar.dataset.phase ?? '')).observe(bar, {
        attributes: true,
        attributeFilter: ['data-phase'],
      });
    });
    await page.click('#load-model');
    expect(await waitForModel(page)).toMatch(/over the network/);
    // The first load went through the network phases the progress bar names.
    expect(phases).toContain('download');
    expect(await page.textContent('#runtime-info [data-fact="Weights"]')).toBe('fp32');
    expect(await page.textContent('#runtime-info [data-fact="Adapter"]')).toMatch(/swiftshader/i);

    await addImages(page, ['chelsea.png']);
    // The thumbnail of what the model sees is the 64×64 center crop of the tiny model.
    expect(await page.$eval('.image-item canvas.model-view-canvas', (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height])).toEqual([64, 64]);
    const want = reference.greedy.captions.find((c) => c.image === 'chelsea.png')!;
    expect(await captionSelected(page)).toBe(want.text);
    expect(await page.textContent('#caption-time')).toMatch(new RegExp(`^${want.tokens.length} tokens in `));
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-caption.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('similarity table matches golden similarity_probs and cosines for the golden images and texts', async () => {
    const others = reference.images.filter((name) => name !== 'chelsea.png');
    await addImages(page, others);
    await page.fill('#similarity-texts', reference.texts.join('\n'));
    await page.uncheck('#use-template');
    await page.click('#similarity-button');
    await page.waitForSelector('#similarity-section[data-state="done"], #similarity-section[data-state="error"]', { timeout: 90_000 });
    expect(await page.textContent('#similarity-error')).toBe('');

    const table = await page.$$eval('table.similarity-table', (tables) =>
      tables.map((t) => ({
        caption: t.querySelector('caption')?.textContent ?? '',
        rows: [...t.querySelectorAll('tbody tr')].map((r) => ({
          text: r.querySelector('th')?.textContent ?? '',
          prob: Number((r as HTMLElement).dataset.prob),
          cosine: Number((r as HTMLElement).dataset.cosine),
          best: r.classList.contains('best'),
        })),
      })),
    );
    const probs = await golden('similarity_probs');
    const logits = await golden('similarity_logits');
    const scale = (await golden('logit_scale'))[0]!;
    const nTexts = reference.texts.length;
    // The page lists images in the order they were added: chelsea first, then the others as golden.json has them.
    const order = ['chelsea.png', ...others].map((name) => reference.images.indexOf(name));
    expect(table).toHaveLength(order.length);
    let maxProbError = 0;
    let maxCosineError = 0;
    table.forEach((shown, row) => {
      const i = order[row]!;
      expect(shown.caption).toContain(reference.images[i]!);
      const wantRow = [...probs.subarray(i * nTexts, (i + 1) * nTexts)];
      expect(shown.rows.map((r) => r.text.replace(' (best match)', ''))).toEqual(reference.texts);
      shown.rows.forEach((r, j) => {
        maxProbError = Math.max(maxProbError, Math.abs(r.prob - wantRow[j]!));
        maxCosineError = Math.max(maxCosineError, Math.abs(r.cosine - logits[i * nTexts + j]! / scale));
      });
      // The highlighted row is the golden argmax.
      expect(shown.rows.findIndex((r) => r.best)).toBe(wantRow.indexOf(Math.max(...wantRow)));
    });
    expect(maxProbError).toBeLessThanOrEqual(PROB_TOLERANCE);
    expect(maxCosineError).toBeLessThanOrEqual(COSINE_TOLERANCE);

    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-similarity.png'), fullPage: true });
    if (UPDATE_README_SCREENSHOT) {
      const shot = path.join(REPO_ROOT, 'public', 'screenshot.png');
      await page.setViewportSize({ width: 1200, height: 1000 });
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: shot, fullPage: false, scale: 'css' });
      expect(statSync(shot).size).toBeLessThan(README_SCREENSHOT_MAX_BYTES);
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    expect(errors).toEqual([]);
  });

  it('an invalid image file shows an error, is not added, and a valid image still captions after it', async () => {
    const count = await page.locator('.image-item').count();
    await page.setInputFiles('#image-files', { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('these are my notes, not a picture\n') });
    await page.waitForFunction(() => (document.getElementById('image-error')?.textContent ?? '') !== '');
    const message = (await page.textContent('#image-error')) ?? '';
    expect(message).toContain('“notes.png” is not an image');
    expect(message).toContain('74 68 65 73'); // the leading bytes, "thes"
    expect(await page.locator('.image-item').count()).toBe(count);
    await page.screenshot({ path: path.join(ARTIFACTS, 'demo-invalid-file.png'), fullPage: true });

    // The page keeps working: pick coffee.png and caption it.
    const coffee = page.locator('.image-item', { hasText: 'coffee.png' });
    await coffee.locator('input[type=radio]').check();
    const want = reference.greedy.captions.find((c) => c.image === 'coffee.png')!;
    expect(await captionSelected(page)).toBe(want.text);
    expect(errors).toEqual([]);
  });
});

describe('without WebGPU', () => {
  const cases = [
    { name: 'no navigator.gpu', script: () => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }), text: 'navigator.gpu is missing' },
    {
      name: 'no adapter',
      script: () => {
        const gpu = (navigator as Navigator & { gpu?: { requestAdapter: () => Promise<unknown> } }).gpu;
        if (gpu) gpu.requestAdapter = async () => null;
      },
      text: 'offered no GPU adapter',
    },
  ];
  for (const { name, script, text } of cases) {
    it(`explains which browsers work (${name}) instead of a blank page`, async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      await context.addInitScript(script);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(demoUrl());
      await page.waitForSelector('#no-webgpu');
      expect(await page.textContent('#no-webgpu-heading')).toBe('This browser cannot run the model');
      expect(await page.textContent('#no-webgpu [role=alert]')).toContain(text);
      const browsers = await page.$$eval('#no-webgpu li', (items) => items.map((li) => li.textContent ?? ''));
      expect(browsers.some((b) => b.startsWith('Chrome or Edge 113'))).toBe(true);
      expect(browsers.some((b) => b.startsWith('Safari 26'))).toBe(true);
      // Nothing of the demo itself is shown.
      expect(await page.locator('#model-section').count()).toBe(0);
      await page.screenshot({ path: path.join(ARTIFACTS, `no-webgpu-${name.replaceAll(' ', '-').replace('.', '')}.png`), fullPage: true });
      expect(errors).toEqual([]);
      await context.close();
    });
  }
});

describe('offline PWA', () => {
  it('precaches every built file in its service worker', () => {
    const sw = readFileSync(path.join(siteDir, 'sw.js'), 'utf8');
    const listed = new Set(JSON.parse(/"files":(\[[^\]]*\])/.exec(sw)![1]!) as string[]);
    const walk = (dir: string, prefix = ''): string[] =>
      readdirSync(dir).flatMap((name) => (statSync(path.join(dir, name)).isDirectory() ? walk(path.join(dir, name), `${prefix}${name}/`) : [`${prefix}${name}`]));
    const built = walk(siteDir).filter((f) => f !== 'sw.js' && f !== 'screenshot.png' && f !== 'library.png' && !f.endsWith('.map'));
    expect([...listed].sort()).toEqual(['./', ...built.map((f) => `./${f}`)].sort());
    const manifest = JSON.parse(readFileSync(path.join(siteDir, 'manifest.webmanifest'), 'utf8')) as { icons: { src: string; sizes: string; purpose: string }[]; display: string };
    expect(manifest.display).toBe('standalone');
    // Installable in Chromium: 192 and 512 px PNG icons, plus a maskable one; every listed icon exists.
    expect(manifest.icons.map((i) => `${i.sizes}:${i.purpose}`)).toEqual(expect.arrayContaining(['192x192:any', '512x512:any', '512x512:maskable']));
    for (const icon of manifest.icons) expect(listed.has(`./${icon.src}`)).toBe(true);
  });

  it('offers an update when a new version is deployed, and reloads into it when asked', async () => {
    const context = await browser.newContext();
    const errors: string[] = [];
    const page = await openDemo(context, errors);
    const activeVersion = (): Promise<string> =>
      page.evaluate(async () => {
        const worker = (await navigator.serviceWorker.ready).active!;
        if (worker.state !== 'activated') await new Promise((resolve) => worker.addEventListener('statechange', () => worker.state === 'activated' && resolve(null)));
        const channel = new MessageChannel();
        const answer = new Promise<string>((resolve) => (channel.port1.onmessage = (event) => resolve((event.data as { version: string }).version)));
        worker.postMessage({ type: 'VERSION' }, [channel.port2]);
        return answer;
      });
    const first = await activeVersion();
    // Reload so that the service worker controls the page (a first visit is not controlled).
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
    expect(await page.isVisible('#update-banner')).toBe(false);

    // "Deploy" a new version: a service worker with another content version, then let the page check.
    const swPath = path.join(siteDir, 'sw.js');
    const deployed = readFileSync(swPath, 'utf8').replace(`"version":"${first}"`, '"version":"next-version"');
    expect(deployed).toContain('next-version');
    writeFileSync(swPath, deployed);
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    await page.waitForSelector('#update-banner', { state: 'visible' });
    expect(await page.textContent('#update-banner')).toContain('A new version of this app is ready.');
    await page.screenshot({ path: path.join(ARTIFACTS, 'pwa-update-prompt.png') });

    // Until asked, the old version keeps running; "Reload to update" switches and reloads.
    expect(await activeVersion()).toBe(first);
    await Promise.all([page.waitForEvent('load'), page.click('#update-reload')]);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await activeVersion()).toBe('next-version');
    expect(await page.isVisible('#update-banner')).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('after a first visit with the model loaded, the app starts, loads the model and captions with the network off', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const page = await openDemo(context, errors);
    // `ready` resolves once there is an active worker, which may still be activating.
    const swState = await page.evaluate(async () => {
      const worker = (await navigator.serviceWorker.ready).active!;
      if (worker.state !== 'activated') await new Promise((resolve) => worker.addEventListener('statechange', () => worker.state === 'activated' && resolve(null)));
      return worker.state;
    });
    expect(swState).toBe('activated');
    await page.click('#load-model');
    await waitForModel(page);
    const want = reference.greedy.captions.find((c) => c.image === 'chelsea.png')!;
    await addImages(page, ['chelsea.png']);
    expect(await captionSelected(page)).toBe(want.text);

    // Off the network: the context is offline, and since the browser's own service worker update checks
    // ignore that emulation, both servers are shut down too (this is the file's last test).
    hub.resetLog();
    await context.setOffline(true);
    await Promise.all([site.close(), hub.close()]);
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    // A cached model loads by itself on start.
    expect(await waitForModel(page)).toMatch(/from this browser’s storage/);
    await addImages(page, ['chelsea.png']);
    expect(await captionSelected(page)).toBe(want.text);
    expect(hub.requests).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'pwa-offline-caption.png'), fullPage: true });
    expect(errors).toEqual([]);
    await context.close();
  });
});
