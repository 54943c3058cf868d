// The widget as a consumer gets it: the package built by `npm run build:lib` (dist/lib), used by the example
// page src/widget/example/index.html, with the golden tiny model on the local hub, in headless Chromium.
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './helpers/browser';
import { golden, goldenJson, SHARED, TINY, type GoldenJson } from './helpers/golden';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { buildLib, REPO_ROOT, SHARED_DIR, tempDir } from './browser/faces-build';
import { startStaticServer, type StaticServer } from './browser/faces-server';

/** fp32 weights compute what OpenCLIP computes up to rounding (golden/README.md: features within 1e-4). */
const PROB_TOLERANCE = 1e-4;
const REPO = 'local/coca-tiny';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'faces');

let browser: Browser;
let hub: HubServer;
let server: StaticServer;
let libDir: string;
const tempDirs: string[] = [];
let reference: GoldenJson;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  libDir = tempDir('lib');
  tempDirs.push(libDir);
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(TINY, name)));
  [, hub, reference, browser] = await Promise.all([
    buildLib(libDir),
    startHubServer({
      // The PyTorch .bin here (the demo test uses safetensors), as the LAION B/32 repos ship.
      [REPO]: {
        'open_clip_config.json': file('open_clip_config.json'),
        'open_clip_pytorch_model.bin': file('open_clip_pytorch_model.bin'),
        'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(path.join(SHARED, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'))),
      },
    }),
    goldenJson(),
    launchChromium(),
  ]);
  // The example imports ../../../dist/lib/widget.js and the photos from ../../../../shared/images, i.e. it
  // expects the folder above the repository to be served: mount the same layout.
  server = await startStaticServer({ '/dist/lib/': libDir, '/shared/': SHARED_DIR, '/': REPO_ROOT });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('widget package', () => {
  it('is one self-contained ES module per entry: the worker and the shaders are inside, no separate worker file', () => {
    const files = readdirSync(libDir).filter((f) => f.endsWith('.js'));
    expect(files).toEqual(expect.arrayContaining(['index.js', 'widget.js']));
    const code = files.map((f) => readFileSync(path.join(libDir, f), 'utf8')).join('\n');
    // The WGSL kernels travel inside the bundle (the matmul kernel's entry point is in the text).
    expect(code).toContain('@compute');
    expect(readdirSync(libDir).some((f) => f === 'assets')).toBe(false);
  });

  it("bundles into a consumer's Vite app with no configuration: one script, the model worker inside", async () => {
    // A consumer project whose node_modules/coca-webgpu is this package (its package.json, the built dist/lib).
    const consumer = tempDir('consumer');
    tempDirs.push(consumer);
    const installed = path.join(consumer, 'node_modules', 'coca-webgpu');
    mkdirSync(path.join(installed, 'dist'), { recursive: true });
    writeFileSync(path.join(installed, 'package.json'), readFileSync(path.join(REPO_ROOT, 'package.json')));
    symlinkSync(libDir, path.join(installed, 'dist', 'lib'), 'dir');
    writeFileSync(path.join(consumer, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script><coca-caption src="cat.jpg"></coca-caption>');
    writeFileSync(path.join(consumer, 'main.js'), "import 'coca-webgpu/widget';\nimport { listCachedModels } from 'coca-webgpu';\nlistCachedModels().then(console.log);\n");
    await build({ root: consumer, configFile: false, logLevel: 'warn', build: { outDir: path.join(consumer, 'dist') } });
    const assets = readdirSync(path.join(consumer, 'dist', 'assets'));
    expect(assets).toHaveLength(1);
    const code = readFileSync(path.join(consumer, 'dist', 'assets', assets[0]!), 'utf8');
    expect(code).toContain('coca-caption');
    expect(code).toContain('@compute');
  });

  it('renders captions from two elements that share one worker and one model load', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    // Count workers the page starts, and collect the elements' events.
    await context.addInitScript(() => {
      const w = window as unknown as { workersStarted: number; cocaEvents: { type: string; id: string; detail: unknown }[]; Worker: typeof Worker };
      w.workersStarted = 0;
      w.cocaEvents = [];
      const NativeWorker = w.Worker;
      w.Worker = class extends NativeWorker {
        constructor(url: string | URL, options?: WorkerOptions) {
          super(url, options);
          w.workersStarted++;
        }
      };
      for (const type of ['coca-progress', 'coca-caption', 'coca-result', 'coca-error']) {
        document.addEventListener(type, (event) => {
          if (type !== 'coca-progress') w.cocaEvents.push({ type, id: (event.target as HTMLElement).id, detail: (event as CustomEvent).detail });
        });
      }
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const query = `?model=${encodeURIComponent(hub.baseUrl(REPO))}&dtype=fp32`;
    await page.goto(`${server.url}/src/widget/example/index.html${query}`);

    type Events = { type: string; id: string; detail: { text?: string; name?: string; message?: string } }[];
    await page.waitForFunction(
      () => {
        const events = (window as unknown as { cocaEvents: Events }).cocaEvents;
        return events.filter((e) => e.type === 'coca-caption').length >= 2 || events.some((e) => e.type === 'coca-error');
      },
      undefined,
      { timeout: 90_000 },
    );
    const events = (await page.evaluate(() => (window as unknown as { cocaEvents: Events }).cocaEvents)) as Events;
    expect(events.filter((e) => e.type === 'coca-error')).toEqual([]);
    const captionOf = (image: string): string => reference.greedy.captions.find((c) => c.image === image)!.text;
    const captions = Object.fromEntries(events.filter((e) => e.type === 'coca-caption').map((e) => [e.id, e.detail.text]));
    expect(captions).toEqual({ cat: captionOf('chelsea.png'), coffee: captionOf('coffee.png') });
    // What the elements show (in their shadow DOM, as text) is the same caption.
    const shown = await page.$$eval('coca-caption', (elements) => elements.map((e) => e.shadowRoot?.querySelector('figcaption')?.textContent ?? ''));
    expect(shown).toEqual([captionOf('chelsea.png'), captionOf('coffee.png')]);

    // Three elements, one model: one worker started, one model load, the config fetched once.
    expect(await page.evaluate(() => (window as unknown as { workersStarted: number }).workersStarted)).toBe(1);
    // (A string, so vitest's module transform leaves the page's dynamic import alone.)
    const stats = (await page.evaluate(`import('/dist/lib/widget.js').then((widget) => widget.sharedModelStats())`)) as { modelLoads: number };
    expect(stats.modelLoads).toBe(1);
    expect(hub.requests.filter((r) => r.file === 'open_clip_config.json' && r.method === 'GET')).toHaveLength(1);

    // The similarity element follows its attributes: the golden texts as labels (template "{label}" keeps them
    // as they are) on astronaut.png give golden similarity_probs for that image.
    const astronaut = reference.images.indexOf('astronaut.png');
    await page.evaluate((texts) => {
      const element = document.getElementById('rocket')!;
      element.setAttribute('template', '{label}');
      element.setAttribute('labels', texts.join(', '));
      element.setAttribute('src', '../../../../shared/images/astronaut.png');
    }, reference.texts);
    // Wait for the result of these texts (the element's first run, on rocket.jpg, may still be reporting).
    await page.waitForFunction(
      (texts) => (window as unknown as { cocaEvents: Events }).cocaEvents.some((e) => e.type === 'coca-result' && JSON.stringify((e.detail as { texts?: string[] }).texts) === JSON.stringify(texts)),
      reference.texts,
      { timeout: 60_000 },
    );
    const results = (await page.evaluate(() => (window as unknown as { cocaEvents: Events }).cocaEvents.filter((e) => e.type === 'coca-result'))) as Events;
    // The first run (rocket.jpg with the template) either finished before the change or was cancelled by it.
    expect(results.length).toBeLessThanOrEqual(2);
    const result = results[results.length - 1]!.detail as unknown as { texts: string[]; probs: number[]; best: number };
    expect(result.texts).toEqual(reference.texts);
    const n = reference.texts.length;
    const want = [...(await golden('similarity_probs')).subarray(astronaut * n, (astronaut + 1) * n)];
    expect(Math.max(...result.probs.map((p, j) => Math.abs(p - want[j]!)))).toBeLessThanOrEqual(PROB_TOLERANCE);
    expect(result.best).toBe(want.indexOf(Math.max(...want)));
    const bestLabel = await page.$eval('#rocket', (e) => e.shadowRoot?.querySelector('li.best .label')?.textContent ?? '');
    expect(bestLabel).toBe(reference.texts[result.best]);

    await page.screenshot({ path: path.join(ARTIFACTS, 'widget-example.png'), fullPage: true });
    expect(await page.evaluate(() => (window as unknown as { workersStarted: number }).workersStarted)).toBe(1);
    expect(errors).toEqual([]);
    await context.close();
  });
});
