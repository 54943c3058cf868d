// The client API in headless Chromium (WebGPU on SwiftShader), against a local stand-in for the hub that
// serves the tiny golden CoCa: a first load over the network and a reload from IndexedDB alone give
// OpenCLIP's embeddings and captions; a cut download resumes; a damaged cache chunk is refetched; a full
// disk, aborts, concurrent callers and a lost GPU device are all survived. Pages of one origin share the cache:
// two loading one model download it once, a tab closed mid-download or a delete during a load leaves no torn
// model, and a cached model is rechecked against the server.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import type { ClientModule } from './browser/runtime-page';
import type { Route } from 'playwright-core';
import type { CacheRecheck, CaptionResult, Coca, LoadProgress, ModelInfo } from '../src/client/types';
import { launchChromium, startViteServer } from './helpers/browser';
import { golden, goldenJson, loadTiny, SHARED, TINY, type GoldenJson } from './helpers/golden';
import { cosine, maxAbs, maxAbsDiff } from './helpers/gpu';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { weightLayout } from '../src/model/weights';
import { WAITING_DETAIL } from '../src/engine/loader';
import type { WeightDtype } from '../src/options';
import { tinyConfig } from './helpers/golden';

// golden/README.md: fp32 features within 1e-4·max(1, max|ref|); fp16 weights: cosine ≥ 0.999 with the reference.
const FEATURE_TOL = 1e-4;
const FP16_MIN_COSINE = 0.999;
/** Cache chunks of 2 MiB: the 20 MB fp32 tiny model spans ten, so resume and repair have chunks to skip. */
const CHUNK = 2 << 20;
const REPO = 'test/coca-tiny';
const WEIGHTS = 'open_clip_model.safetensors';
const SHARING_REPOS = ['test/tabs', 'test/closed-tab', 'test/deleted', 'test/recheck'] as const;
/** HttpFile's first request: the header and whatever follows it. */
const PREFETCH = 256 * 1024;

interface PageWindow {
  client: ClientModule;
  ready: boolean;
  coca?: Coca & { loseDeviceForTesting(): Promise<void> };
  log: {
    progress: LoadProgress[];
    warnings: { name: string; message: string; needed?: number; free?: number; isQuota: boolean; isDeviceLost: boolean; isModelChanged: boolean }[];
  };
}

interface GoldenRun {
  images: number[][];
  texts: number[][];
  captions: CaptionResult[];
  info: ModelInfo;
}

let server: ViteDevServer;
let viteUrl: string;
let hub: HubServer;
let browser: Browser;
let context: BrowserContext;
let info: GoldenJson;
let imageFeatures: Float32Array;
let textFeatures: Float32Array;
let weightBytes: number;
let layoutBytes: Record<WeightDtype, number>;
const weightLayoutBytes = (dtype: WeightDtype): number => layoutBytes[dtype];

beforeAll(async () => {
  ({ server, url: viteUrl } = await startViteServer());
  const file = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
  weightBytes = readFileSync(`${TINY}${WEIGHTS}`).byteLength;
  const config = await tinyConfig();
  layoutBytes = { fp16: weightLayout(config, 'fp16').byteLength, fp32: weightLayout(config, 'fp32').byteLength };
  const tiny = {
    'open_clip_config.json': file(`${TINY}open_clip_config.json`),
    [WEIGHTS]: file(`${TINY}${WEIGHTS}`),
    'bpe_simple_vocab_16e6.txt.gz': file(`${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`),
  };
  // The same model under a second name: a separate cache entry for the aborted download.
  const configBytes = tiny['open_clip_config.json'];
  hub = await startHubServer({
    [REPO]: tiny,
    'test/coca-tiny-copy': tiny,
    // More names for the same model: cache entries of their own for the tests of pages sharing the cache.
    ...Object.fromEntries(SHARING_REPOS.map((repo) => [repo, tiny])),
    'test/bad-json': { ...tiny, 'open_clip_config.json': configBytes.slice(0, configBytes.byteLength - 5) },
  });
  browser = await launchChromium();
  context = await browser.newContext();
  info = await goldenJson();
  imageFeatures = await golden('image_features');
  textFeatures = await golden('text_features');
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await hub?.close();
  await server?.close();
});

async function openPage(inContext: BrowserContext = context): Promise<Page> {
  const page = await inContext.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${viteUrl}/test/browser/runtime.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  return page;
}

interface LoadArgs {
  model: string;
  dtype: WeightDtype;
  chunkBytes: number;
  cache?: boolean;
  /** Abort the load when this phase first reports progress. */
  abortOn?: string;
  recheck?: CacheRecheck;
}

/** createCoca in the page; resolves with the info, or the error's name and message. Progress and warnings go to window.log. */
function load(page: Page, args: LoadArgs): Promise<{ ok: true; info: ModelInfo } | { ok: false; name: string; message: string; isClass: boolean }> {
  return page.evaluate(async (a) => {
    const w = window as unknown as PageWindow;
    w.log = { progress: [], warnings: [] };
    const controller = new AbortController();
    try {
      w.coca = await w.client.createCoca({
        model: a.model,
        dtype: a.dtype,
        ...(a.cache === false ? { cache: false } : {}),
        ...(a.recheck ? { recheck: a.recheck } : {}),
        signal: controller.signal,
        testing: { chunkBytes: a.chunkBytes, retryDelayMs: 20 },
        onProgress: (p) => {
          w.log.progress.push(p);
          if (p.phase === a.abortOn) controller.abort();
        },
        onWarning: (e) => {
          const q = e as Error & { needed?: number; free?: number };
          w.log.warnings.push({
            name: e.name,
            message: e.message,
            needed: q.needed,
            free: q.free,
            isQuota: e instanceof w.client.QuotaExceededError,
            isDeviceLost: e instanceof w.client.DeviceLostError,
            isModelChanged: e instanceof w.client.ModelChangedError,
          });
        },
      });
      return { ok: true as const, info: w.coca.info };
    } catch (error) {
      const e = error as Error;
      const classes: Record<string, unknown> = { AbortError: w.client.AbortError, NetworkError: w.client.NetworkError };
      const Class = classes[e.name] as (new () => Error) | undefined;
      return { ok: false as const, name: e.name, message: e.message, isClass: Class !== undefined && e instanceof Class };
    }
  }, args);
}

/** Image and text features and greedy captions of the golden inputs, through the loaded model. */
function runGolden(page: Page, captions = true): Promise<GoldenRun> {
  const images = info.images.map((name) => `/@fs${SHARED}images/${name}`);
  return page.evaluate(
    async ({ images, texts, captions }) => {
      const w = window as unknown as PageWindow;
      const coca = w.coca!;
      const blobs = await Promise.all(images.map(async (url) => (await fetch(url)).blob()));
      const imageFeatures = await coca.encodeImage(blobs);
      const textFeatures = await coca.encodeText(texts);
      const caps: CaptionResult[] = [];
      if (captions) for (const blob of blobs) caps.push(await coca.caption(blob, { strategy: 'greedy', maxLength: 30, minLength: 5 }));
      return { images: imageFeatures.map((f) => [...f]), texts: textFeatures.map((f) => [...f]), captions: caps, info: coca.info };
    },
    { images, texts: info.texts, captions },
  );
}

function expectClose(got: number[][], want: Float32Array, what: string): void {
  const flat = got.flat();
  const bound = FEATURE_TOL * Math.max(1, maxAbs(want));
  expect(maxAbsDiff(flat, want), what).toBeLessThanOrEqual(bound);
}

function expectGoldenFp32(run: GoldenRun): void {
  expectClose(run.images, imageFeatures, 'image_features');
  expectClose(run.texts, textFeatures, 'text_features');
  expect(run.captions.map((c) => c.tokens)).toEqual(info.greedy.captions.map((c) => c.tokens));
  expect(run.captions.map((c) => c.text)).toEqual(info.greedy.captions.map((c) => c.text));
}

function expectGoldenFp16(run: GoldenRun): void {
  const D = 48;
  run.images.forEach((f, i) => expect(cosine(f, imageFeatures.subarray(i * D, (i + 1) * D))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
  run.texts.forEach((f, i) => expect(cosine(f, textFeatures.subarray(i * D, (i + 1) * D))).toBeGreaterThanOrEqual(FP16_MIN_COSINE));
}

async function progressLog(page: Page): Promise<PageWindow['log']> {
  return page.evaluate(() => (window as unknown as PageWindow).log);
}

async function dispose(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());
  await page.close();
}

describe('the browser runtime (Chromium, WebGPU on SwiftShader, local hub)', () => {
  it('loads over the network, then from IndexedDB alone with the network blocked, matching OpenCLIP', async () => {
    hub.resetLog();
    const first = await openPage();
    const loaded = await load(first, { model: hub.baseUrl(REPO), dtype: 'fp32', chunkBytes: CHUNK });
    expect(loaded).toMatchObject({ ok: true, info: { fromCache: false, cached: true, dtype: 'fp32', id: hub.baseUrl(REPO) } });
    const log = await progressLog(first);
    const phases = new Set(log.progress.map((p) => p.phase));
    expect([...phases].sort()).toEqual(['cache-write', 'compile', 'convert', 'download', 'upload']);
    const download = log.progress.filter((p) => p.phase === 'download');
    expect(download.at(-1)!.bytesDone).toBe(download.at(-1)!.bytesTotal);
    expect(download.length).toBeGreaterThan(10);
    expect(hub.bytesSent(WEIGHTS)).toBeLessThanOrEqual(weightBytes + 256 * 1024);
    const run = await runGolden(first);
    expectGoldenFp32(run);
    expect(run.info.adapter.toLowerCase()).toContain('swiftshader');
    expect(run.info.gpuBytes).toBeGreaterThan(weightBytes * 0.9);
    // A second round of the same calls creates no GPU object: pipelines, buffers and bind groups are reused.
    const counts = run.info.counts;
    const again = await runGolden(first, false);
    expect(again.info.counts).toMatchObject({ pipelines: counts.pipelines, buffers: counts.buffers, bindGroups: counts.bindGroups });
    expect(again.info.counts.submits).toBeGreaterThan(counts.submits);
    const listed = await first.evaluate(async () => {
      const c = (window as unknown as PageWindow).client;
      return { models: await c.listCachedModels(), usage: await c.cacheUsage() };
    });
    expect(listed.models).toEqual([expect.objectContaining({ id: hub.baseUrl(REPO), revision: 'main', dtype: 'fp32' })]);
    expect(listed.usage.bytes).toBe(listed.models[0]!.bytes);
    await dispose(first);

    // A new page in the same profile, with every request to the hub refused.
    hub.resetLog();
    const second = await openPage();
    const blocked: string[] = [];
    await second.route(`${hub.url}/**`, (route) => {
      blocked.push(`${route.request().url()} ${route.request().headers().range}`);
      return route.abort();
    });
    const reloaded = await load(second, { model: hub.baseUrl(REPO), dtype: 'fp32', chunkBytes: CHUNK });
    expect(reloaded).toMatchObject({ ok: true, info: { fromCache: true } });
    const phases2 = new Set((await progressLog(second)).progress.map((p) => p.phase));
    expect([...phases2].sort()).toEqual(['cache-read', 'compile', 'upload']);
    expectGoldenFp32(await runGolden(second));
    // The other caption strategies through the worker give what the same model gives in Node (fp32 on both).
    const strategies = [
      { strategy: 'beam', numBeams: 3, maxLength: 12 },
      { strategy: 'beam-openclip', maxLength: 12 },
      { strategy: 'sample', seed: 7, topK: 10, temperature: 0.7, repetitionPenalty: 1.3, maxLength: 12 },
    ] as const;
    const browserCaptions = await second.evaluate(
      async ({ image, strategies }) => {
        const coca = (window as unknown as PageWindow).coca!;
        const blob = await (await fetch(image)).blob();
        const out: number[][] = [];
        for (const options of strategies) out.push((await coca.caption(blob, options)).tokens);
        return out;
      },
      { image: `/@fs${SHARED}images/${info.images[0]}`, strategies },
    );
    const nodeModel = await loadTiny('open_clip_model.safetensors', 'fp32');
    const pixels = (await golden('pixel_values')).slice(0, 3 * 64 * 64);
    for (const [i, options] of strategies.entries()) expect(browserCaptions[i], options.strategy).toEqual(await nodeModel.caption(pixels, options));
    nodeModel.dispose();
    // Only the background recheck asked (one byte of the weights), and its failure went unreported.
    expect(blocked).toEqual([`${hub.baseUrl(REPO)}${WEIGHTS} bytes=0-0`]);
    expect((await progressLog(second)).warnings).toEqual([]);
    expect(hub.requests).toEqual([]);
    await dispose(second);
  });

  it('resumes a download cut half-way, and refetches a damaged cached chunk instead of using it (fp16)', async () => {
    const page = await openPage();
    const model = hub.baseUrl(REPO);
    hub.resetLog();
    hub.cutAfter(weightBytes / 2, { file: WEIGHTS });
    const cut = await load(page, { model, dtype: 'fp16', chunkBytes: CHUNK / 2 });
    expect(cut).toMatchObject({ ok: false, name: 'NetworkError', isClass: true });
    const firstBytes = hub.bytesSent(WEIGHTS);
    expect(firstBytes).toBeLessThanOrEqual(weightBytes / 2 + 1);

    hub.clearFaults();
    hub.resetLog();
    const resumed = await load(page, { model, dtype: 'fp16', chunkBytes: CHUNK / 2 });
    expect(resumed).toMatchObject({ ok: true, info: { fromCache: false, cached: true } });
    // The second load fetched only what the stored chunks lacked.
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes * 0.8);
    expect(hub.requests.filter((r) => r.file === WEIGHTS).every((r) => r.range !== null)).toBe(true);
    expectGoldenFp16(await runGolden(page, false));
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());

    // Flip one byte of a stored chunk, as a failing disk would.
    await page.evaluate(async (id) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open('coca-webgpu');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const key = ['chunk', id, 'main', 'fp16', 'https://huggingface.co', 'default', 1];
      const store = (mode: IDBTransactionMode): IDBObjectStore => db.transaction('weights', mode).objectStore('weights');
      const bytes = await new Promise<ArrayBuffer>((resolve) => {
        const get = store('readonly').get(key);
        get.onsuccess = () => resolve(get.result as ArrayBuffer);
      });
      const flipped = new Uint8Array(bytes.slice(0));
      flipped[1000] ^= 0x10;
      await new Promise((resolve) => {
        const tx = db.transaction('weights', 'readwrite');
        tx.objectStore('weights').put(flipped.buffer, key);
        tx.oncomplete = resolve;
      });
      db.close();
    }, model);
    hub.resetLog();
    const repaired = await load(page, { model, dtype: 'fp16', chunkBytes: CHUNK / 2 });
    expect(repaired).toMatchObject({ ok: true, info: { fromCache: false, cached: true } });
    const warnings = (await progressLog(page)).warnings;
    expect(warnings.map((w) => w.message)).toEqual([expect.stringMatching(/chunk 1 .*checksum.*fetching it again/)]);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(0);
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes / 2);
    expectGoldenFp16(await runGolden(page, false));
    await dispose(page);
  });

  it('aborts a load and a caption promptly, queues concurrent callers in order, and recovers from a lost device', async () => {
    const page = await openPage();
    // A download stopped at its first progress event: AbortError, and the transfer really stops.
    hub.resetLog();
    const aborted = await load(page, { model: hub.baseUrl(REPO).replace(REPO, 'test/coca-tiny-copy'), dtype: 'fp32', chunkBytes: CHUNK, abortOn: 'download' });
    expect(aborted).toMatchObject({ ok: false, name: 'AbortError', isClass: true });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes / 2);

    // The cached fp32 model from the first test, loaded fine afterwards.
    const loaded = await load(page, { model: hub.baseUrl(REPO), dtype: 'fp32', chunkBytes: CHUNK });
    expect(loaded).toMatchObject({ ok: true, info: { fromCache: true } });
    const images = info.images.map((name) => `/@fs${SHARED}images/${name}`);
    const result = await page.evaluate(
      async ({ images, texts }) => {
        const w = window as unknown as PageWindow;
        const coca = w.coca!;
        const blobs = await Promise.all(images.map(async (url) => (await fetch(url)).blob()));
        // A caption aborted after its third token.
        const controller = new AbortController();
        const streamed: number[] = [];
        let abortError: { name: string; isAbort: boolean } | null = null;
        try {
          await coca.caption(blobs[0]!, {
            signal: controller.signal,
            onToken: (t) => {
              streamed.push(t.id);
              if (streamed.length === 3) controller.abort();
            },
          });
        } catch (error) {
          abortError = { name: (error as Error).name, isAbort: error instanceof w.client.AbortError };
        }
        // Two callers at once, each with several calls in flight: answers come back in call order.
        const order: string[] = [];
        const track = <T>(name: string, p: Promise<T>): Promise<T> => p.then((v) => (order.push(name), v));
        const tokens: number[] = [];
        const callerA = Promise.all([
          track('a.caption', coca.caption(blobs[1]!, { onToken: (t) => void tokens.push(t.id) })),
          track('a.text', coca.encodeText(texts)),
        ]);
        const callerB = Promise.all([
          track('b.image', coca.encodeImage(blobs)),
          track('b.similarity', coca.similarity(blobs, texts)),
          track('b.short', coca.caption(blobs[2]!, { strategy: 'greedy', maxLength: 8 })),
        ]);
        const [[caption, text], [image, similarity, short]] = await Promise.all([callerA, callerB]);
        return {
          abortError,
          streamed,
          order,
          tokens,
          caption,
          text: text.map((f) => [...f]),
          image: image.map((f) => [...f]),
          similarity,
          short: short.tokens,
        };
      },
      { images, texts: info.texts },
    );
    expect(result.abortError).toEqual({ name: 'AbortError', isAbort: true });
    expect(result.streamed.length).toBeGreaterThanOrEqual(3);
    expect(result.streamed.length).toBeLessThan(info.greedy.captions[0]!.tokens.length - 1);
    expect(result.order).toEqual(['a.caption', 'a.text', 'b.image', 'b.similarity', 'b.short']);
    // Options reach the decoder: at maxLength 8 the end token is forced after seven tokens.
    expect(result.short).toEqual([...info.greedy.captions[2]!.tokens.slice(0, 7), 49407]);
    expect(result.caption.tokens).toEqual(info.greedy.captions[1]!.tokens);
    expect(result.tokens).toEqual(info.greedy.captions[1]!.tokens.slice(1));
    expectClose(result.text, textFeatures, 'text_features');
    expectClose(result.image, imageFeatures, 'image_features');
    const logits = await golden('similarity_logits');
    // golden/README.md: logits within 1e-3·max(1, max|ref|).
    expect(maxAbsDiff(result.similarity.logits.flat(), logits)).toBeLessThanOrEqual(1e-3 * Math.max(1, maxAbs(logits)));
    expect(maxAbsDiff(result.similarity.probs.flat(), await golden('similarity_probs'))).toBeLessThanOrEqual(FEATURE_TOL);
    const D = 48;
    const wantCosine = Float32Array.from({ length: 12 }, (_, k) => {
      const [i, j] = [Math.floor(k / 4), k % 4];
      return cosine(imageFeatures.subarray(i * D, (i + 1) * D), textFeatures.subarray(j * D, (j + 1) * D));
    });
    expectClose(result.similarity.cosine, wantCosine, 'cosine');

    // The GPU device goes away: reported at once, replaced on the next call from the cache (no network).
    hub.resetLog();
    const lost = await page.evaluate(async (texts) => {
      const w = window as unknown as PageWindow;
      await w.coca!.loseDeviceForTesting();
      for (let i = 0; i < 50 && !w.log.warnings.some((x) => x.isDeviceLost); i++) await new Promise((r) => setTimeout(r, 20));
      const reported = w.log.warnings.filter((x) => x.isDeviceLost).map((x) => x.name);
      const features = await w.coca!.encodeText(texts);
      return { reported, features: features.map((f) => [...f]), info: w.coca!.info };
    }, info.texts);
    expect(lost.reported).toEqual(['DeviceLostError']);
    expectClose(lost.features, textFeatures, 'text_features after device loss');
    expect(lost.info).toMatchObject({ deviceLosses: 1, fromCache: true });
    expect(hub.requests).toEqual([]);
    await dispose(page);
  });

  it('loads from local files, and names what is wrong with a bad source', async () => {
    const page = await openPage();
    const urls = ['open_clip_config.json', WEIGHTS, 'bpe_simple_vocab_16e6.txt.gz'].map((f) => `${hub.baseUrl(REPO)}${f}`);
    const result = await page.evaluate(
      async ({ urls, texts, missing, badConfig, image }) => {
        const w = window as unknown as PageWindow;
        const files = await Promise.all(urls.map(async (url) => new File([await (await fetch(url)).blob()], url.slice(url.lastIndexOf('/') + 1))));
        const coca = await w.client.createCoca({ model: files, dtype: 'fp32', cache: false });
        const features = await coca.encodeText(texts);
        // One image in every input form the API takes.
        const blob = await (await fetch(image)).blob();
        const element = new Image();
        element.src = image;
        await element.decode();
        const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(bitmap, 0, 0);
        const imageData = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
        const forms = await coca.encodeImage([blob, element, bitmap, imageData]);
        const bitmapStillUsable = bitmap.width > 0;
        const view = await coca.modelView(blob);
        const id = coca.info.id;
        const fromCache = coca.info.fromCache;
        await coca.dispose();
        let disposedError = '';
        await coca.encodeText(texts).catch((e: Error) => (disposedError = e.name));
        let missingError = '';
        await w.client.createCoca({ model: missing }).catch((e: Error) => (missingError = `${e.name}: ${e.message}`));
        let badConfigError = '';
        await w.client.createCoca({ model: badConfig, cache: false }).catch((e: Error) => (badConfigError = `${e.name}: ${e.message}`));
        return {
          features: features.map((f) => [...f]),
          forms: forms.map((f) => [...f]),
          bitmapStillUsable,
          view: { width: view.width, height: view.height, data: [...view.data] },
          id,
          fromCache,
          disposedError,
          missingError,
          badConfigError,
        };
      },
      { urls, texts: info.texts, missing: `${hub.url}/nobody/nothing/resolve/main/`, badConfig: hub.baseUrl('test/bad-json'), image: `/@fs${SHARED}images/${info.images[0]}` },
    );
    const first = imageFeatures.subarray(0, 48);
    result.forms.forEach((f, i) => expectClose([f], first, `image_features from input form ${i}`));
    expect(result.bitmapStillUsable).toBe(true);
    // The model's view, normalized as the preprocessing does, is OpenCLIP's pixel_values for that image.
    const S = 64;
    expect([result.view.width, result.view.height]).toEqual([S, S]);
    const pixels = (await golden('pixel_values')).subarray(0, 3 * S * S);
    const mean = [0.48145466, 0.4578275, 0.40821073];
    const std = [0.26862954, 0.26130258, 0.27577711];
    const normalized = Array.from({ length: 3 * S * S }, (_, k) => {
      const [c, i] = [Math.floor(k / (S * S)), k % (S * S)];
      return (result.view.data[i * 4 + c]! / 255 - mean[c]!) / std[c]!;
    });
    // float32 rounding of (v/255 − mean)/std, values up to ~2.1.
    expect(maxAbsDiff(normalized, pixels)).toBeLessThanOrEqual(1e-5);
    expectClose(result.features, textFeatures, 'text_features from local files');
    expect(result.id).toBe(`file:${WEIGHTS}`);
    expect(result.fromCache).toBe(false);
    expect(result.disposedError).toBe('DisposedError');
    // A URL with no files at all is "no model files", not a config problem.
    expect(result.missingError).toMatch(/^NetworkError: .*nobody\/nothing\/resolve\/main\/ has no model files: none of open_clip_config\.json/);
    // A malformed config is a ModelConfigError naming the file, not a bare SyntaxError.
    expect(result.badConfigError).toMatch(new RegExp(`^ModelConfigError: ${hub.baseUrl('test/bad-json')}open_clip_config\\.json is not valid JSON`));
    await page.close();
  });

  it('keeps working without caching when the storage quota is exhausted, and says how much was needed', async () => {
    // A fresh profile whose storage is first touched after the quota is set (an IndexedDB backend already
    // running for the origin keeps the quota it started with).
    const fresh = await browser.newContext();
    const cdp = await fresh.newCDPSession(await fresh.newPage());
    // A real IndexedDB quota, far below the 20 MB model: its writes fail with the browser's QuotaExceededError.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: viteUrl, quotaSize: 4 << 20 });
    const page = await openPage(fresh);
    try {
      const loaded = await load(page, { model: hub.baseUrl(REPO), dtype: 'fp32', chunkBytes: CHUNK });
      expect(loaded).toMatchObject({ ok: true, info: { fromCache: false, cached: false } });
      const { warnings } = await progressLog(page);
      expect(warnings).toHaveLength(1);
      const [quota] = warnings;
      expect(quota).toMatchObject({ name: 'QuotaExceededError', isQuota: true, needed: weightLayoutBytes('fp32') });
      expect(typeof quota!.free).toBe('number');
      expect(quota!.message).toMatch(/needed.*free/);
      const run = await runGolden(page, false);
      expectClose(run.images, imageFeatures, 'image_features');
      expect(run.info.warnings).toEqual([expect.objectContaining({ name: 'QuotaExceededError' })]);
      const after = await page.evaluate(async () => {
        const c = (window as unknown as PageWindow).client;
        return { models: await c.listCachedModels(), usage: await c.cacheUsage() };
      });
      expect(after.models).toEqual([]);
      expect(after.usage.bytes).toBe(0);
    } finally {
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: viteUrl });
      await dispose(page);
      await fresh.close();
    }
  });
});

/** Image and text features of the golden inputs match OpenCLIP's (fp32). */
function expectGoldenFeatures(run: GoldenRun): void {
  expectClose(run.images, imageFeatures, 'image_features');
  expectClose(run.texts, textFeatures, 'text_features');
}

/** A page's requests for the weights that start at or past `offset` are held (a download stalled mid-way, holding its lock) until released. */
async function stallWeights(page: Page, offset: number): Promise<{ held: () => number; release: () => Promise<void> }> {
  const held: Route[] = [];
  let released = false;
  await page.route(`${hub.url}/**/${WEIGHTS}`, (route) => {
    const start = Number(/^bytes=(\d+)-/.exec(route.request().headers().range ?? '')?.[1] ?? 0);
    if (start >= offset && !released) held.push(route);
    else return route.continue();
  });
  return {
    held: () => held.length,
    release: async () => {
      released = true;
      for (const route of held) await route.continue();
    },
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many records of each kind the IndexedDB cache holds for a model id (read raw, as another tool would). */
function storedRecords(page: Page, id: string): Promise<Record<string, number>> {
  return page.evaluate(async (id) => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('coca-webgpu');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const keys = await new Promise<IDBValidKey[]>((resolve) => {
      const request = db.transaction('weights', 'readonly').objectStore('weights').getAllKeys();
      request.onsuccess = () => resolve(request.result);
    });
    db.close();
    const counts: Record<string, number> = { manifest: 0, partial: 0, chunk: 0, vocab: 0 };
    for (const key of keys as unknown[][]) if (key[1] === id) counts[String(key[0])] = (counts[String(key[0])] ?? 0) + 1;
    return counts;
  }, id);
}

describe('pages of one origin sharing the cache (Web Locks)', () => {
  const args = (repo: (typeof SHARING_REPOS)[number], more: Partial<LoadArgs> = {}): LoadArgs => ({ model: hub.baseUrl(repo), dtype: 'fp32', chunkBytes: CHUNK, ...more });

  it('two pages loading one model at once download it once; the second waits, then reads the whole model from the cache', async () => {
    const [a, b] = [await openPage(), await openPage()];
    hub.resetLog();
    const [ra, rb] = await Promise.all([load(a, args('test/tabs')), load(b, args('test/tabs'))]);
    expect([ra.ok, rb.ok]).toEqual([true, true]);
    const fromCache = [ra, rb].map((r) => r.ok && r.info.fromCache);
    expect([...fromCache].sort()).toEqual([false, true]);
    // The checkpoint once in all (plus the prefetched header), and the reader's one-byte recheck.
    expect(hub.bytesSent(WEIGHTS)).toBeLessThanOrEqual(weightBytes + PREFETCH + 1);
    const waited = await Promise.all([a, b].map(async (page) => (await progressLog(page)).progress.some((p) => p.detail === WAITING_DETAIL)));
    // The page that read the cache said it was waiting for the other.
    expect(waited[fromCache.indexOf(true)]).toBe(true);
    for (const page of [a, b]) expectGoldenFeatures(await runGolden(page, false));
    expect(await storedRecords(a, hub.baseUrl('test/tabs'))).toEqual({ manifest: 1, partial: 0, chunk: Math.ceil(weightLayoutBytes('fp32') / CHUNK), vocab: 1 });
    await Promise.all([dispose(a), dispose(b)]);
  });

  it('a tab closed in the middle of a download leaves no torn model: another tab resumes from its chunks', async () => {
    const a = await openPage();
    const stall = await stallWeights(a, weightBytes / 2);
    const loading = load(a, args('test/closed-tab')).catch((error: Error) => error);
    await until(() => stall.held() > 0, 'the download to reach the middle of the file');
    await a.close();
    await loading;
    const b = await openPage();
    const id = hub.baseUrl('test/closed-tab');
    // No manifest (so nothing takes it for a whole model), and the partial record of what was stored.
    const stored = await storedRecords(b, id);
    expect(stored).toMatchObject({ manifest: 0, partial: 1 });
    expect(stored.chunk).toBeGreaterThan(1);
    expect(await b.evaluate(async (id) => (await (window as unknown as PageWindow).client.listCachedModels()).filter((m) => m.id === id), id)).toEqual([]);
    hub.resetLog();
    // The closed tab's lock went with it: this load neither waits for it nor downloads what it stored.
    const resumed = await load(b, args('test/closed-tab'));
    expect(resumed).toMatchObject({ ok: true, info: { fromCache: false, cached: true } });
    expect((await progressLog(b)).progress.some((p) => p.detail === WAITING_DETAIL)).toBe(false);
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes - (stored.chunk! - 1) * CHUNK);
    expectGoldenFeatures(await runGolden(b, false));
    await dispose(b);
  });

  it('a delete during another tab\'s download waits for it, then removes the whole model; the next load downloads it again', async () => {
    const [a, b] = [await openPage(), await openPage()];
    const id = hub.baseUrl('test/deleted');
    const stall = await stallWeights(a, weightBytes / 2);
    const loading = load(a, args('test/deleted'));
    await until(() => stall.held() > 0, 'the download to reach the middle of the file');
    let deleted: number | null = null;
    const deleting = b.evaluate((id) => (window as unknown as PageWindow).client.deleteCachedModel(id), id).then((n) => (deleted = n));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The download holds the model's lock: the delete waits for it.
    expect(deleted).toBeNull();
    await stall.release();
    expect(await loading).toMatchObject({ ok: true, info: { fromCache: false } });
    expect(await deleting).toBe(1);
    expect(await storedRecords(b, id)).toEqual({ manifest: 0, partial: 0, chunk: 0, vocab: 0 });
    // The page that loaded it keeps working (its weights are on its GPU).
    expectGoldenFeatures(await runGolden(a, false));
    hub.resetLog();
    expect(await load(b, args('test/deleted'))).toMatchObject({ ok: true, info: { fromCache: false, cached: true } });
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes * 0.9);
    expectGoldenFeatures(await runGolden(b, false));
    await Promise.all([dispose(a), dispose(b)]);
  });

  it('rechecks a cached model with one byte, warns when the file changed on the server, and downloads it again with before-load', async () => {
    const page = await openPage();
    const weightRequests = (): string[] => hub.requests.filter((r) => r.file === WEIGHTS).map((r) => `${r.method} ${r.range?.join('-') ?? 'whole'}`);
    const modelChanged = async (): Promise<PageWindow['log']['warnings']> => (await progressLog(page)).warnings.filter((w) => w.isModelChanged);
    expect(await load(page, args('test/recheck'))).toMatchObject({ ok: true, info: { fromCache: false } });
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());

    hub.resetLog();
    expect(await load(page, args('test/recheck'))).toMatchObject({ ok: true, info: { fromCache: true } });
    await until(() => weightRequests().length > 0, 'the recheck');
    expect(weightRequests()).toEqual(['GET 0-0']);
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());

    hub.changeEtag('test/recheck', WEIGHTS);
    expect(await load(page, args('test/recheck'))).toMatchObject({ ok: true, info: { fromCache: true } });
    const deadline = Date.now() + 30_000;
    while ((await modelChanged()).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const [changed] = await modelChanged();
    expect(changed?.message).toMatch(/changed on the server since it was cached .*recheck: 'before-load'/);
    // The cached copy stays in use meanwhile, and the warning is in the model's info after the next call.
    const stale = await runGolden(page, false);
    expectGoldenFeatures(stale);
    expect(stale.info.warnings).toEqual([expect.objectContaining({ name: 'ModelChangedError' })]);
    await page.evaluate(() => (window as unknown as PageWindow).coca?.dispose());

    hub.resetLog();
    expect(await load(page, args('test/recheck', { recheck: 'before-load' }))).toMatchObject({ ok: true, info: { fromCache: false, cached: true } });
    expect((await modelChanged()).map((w) => w.message)).toEqual([expect.stringMatching(/changed on the server since it was cached .*downloading it again/)]);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes * 0.9);
    expectGoldenFeatures(await runGolden(page, false));
    // A value the option does not know is refused by name before anything starts.
    const refused = await page.evaluate(
      (model) =>
        (window as unknown as PageWindow).client
          .createCoca({ model, recheck: 'sometimes' as CacheRecheck })
          .then(() => 'loaded', (e: Error) => `${e.name}: ${e.message}`),
      hub.baseUrl('test/recheck'),
    );
    expect(refused).toBe("OptionsError: recheck must be 'background', 'before-load', 'never' (got 'sometimes')");
    await dispose(page);
  });
});
