// Camera frames in headless Chromium (WebGPU on SwiftShader) with a fake camera that shows a ../shared photo
// (written as a Y4M file): the frame kernels in a module worker from bitmaps and VideoFrames against the CPU
// preprocessing of the same pixels; the demo's Camera panel and <coca-camera> on the tiny golden model (fp32),
// their probabilities against similarity() on a still of the same frames; the camera released when the panel
// closes or the element leaves the page; a denied camera named while the rest keeps working.
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile } from '../src/image/decode-node';
import type { FrameAgreement } from './browser/camera-kernel-worker';
import { writeY4m } from './browser/camera-y4m';
import { REPO_ROOT, tempDir } from './browser/faces-build';
import { launchChromium, startViteServer } from './helpers/browser';
import { SHARED, TINY } from './helpers/golden';
import { startHubServer, type HubServer } from './helpers/hub-server';

/**
 * The GPU path runs Pillow's integer arithmetic on the texels the browser copied, the CPU path on the pixels it
 * reads back from the same bitmap: equal, not merely within the golden README's one 8-bit step.
 */
const GPU_VS_CPU = 0;
/** The photo the fake camera shows: even sides, as 4:2:0 needs. */
const CAMERA_PHOTO = 'coffee.png';
const FAKE_CAMERA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];
const REPO = 'local/coca-tiny';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'camera');

let server: ViteDevServer;
let url: string;
let browser: Browser;
let hub: HubServer;
let y4mDir: string;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  y4mDir = tempDir('camera');
  const photo = await decodeImageFile(path.join(SHARED, 'images', CAMERA_PHOTO));
  const y4m = path.join(y4mDir, 'camera.y4m');
  writeY4m(y4m, { width: photo.width, height: photo.height, data: photo.data as Uint8Array, channels: 3 });
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(TINY, name)));
  [{ server, url }, browser, hub] = await Promise.all([
    startViteServer(),
    launchChromium([...FAKE_CAMERA, `--use-file-for-fake-video-capture=${y4m}`]),
    startHubServer({
      [REPO]: {
        'open_clip_config.json': file('open_clip_config.json'),
        'open_clip_model.safetensors': file('open_clip_model.safetensors'),
        'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(path.join(SHARED, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'))),
      },
    }),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  if (y4mDir) rmSync(y4mDir, { recursive: true, force: true });
});

async function open(context: BrowserContext, pagePath: string, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${url}${pagePath}`);
  return page;
}

describe('frame kernels in Chromium (module worker, copyExternalImageToTexture)', () => {
  it('preprocess bitmaps of photos, awkward sizes and camera VideoFrames as the CPU path does from the same pixels', async () => {
    const context = await browser.newContext();
    const errors: string[] = [];
    const page = await open(context, '/test/browser/camera-kernels.html', errors);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const photos = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'].map((name) => `/@fs${path.join(SHARED, 'images', name)}`);
    for (const size of [64, 224]) {
      const { adapter, results } = (await page.evaluate(([urls, s]) => (window as unknown as { compareFrames: (u: string[], s: number) => Promise<unknown> }).compareFrames(urls, s), [photos, size] as const)) as {
        adapter: string;
        results: FrameAgreement[];
      };
      expect(adapter.toLowerCase()).toContain('swiftshader');
      expect(results.map((r) => r.name)).toEqual([...photos.map((p) => path.basename(p)), 'noise 1×1', 'noise 7×3', 'noise 301×17', 'noise 640×480', 'noise 225×224', 'camera VideoFrame', 'camera <video> bitmap']);
      for (const r of results) {
        expect(r.values, r.name).toBe(3 * size * size);
        expect(r.maxDiff, `${r.name} → ${size}`).toBe(GPU_VS_CPU);
        expect(r.exactFraction, `${r.name} → ${size}`).toBe(1);
      }
      const camera = results.find((r) => r.name === 'camera VideoFrame')!;
      expect([camera.width, camera.height]).toEqual([600, 400]);
    }
    expect(errors).toEqual([]);
    await context.close();
  });
});

/** Records every stream the page's getUserMedia gives, so a test can check that their tracks were released. */
async function watchCameraStreams(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const w = window as unknown as { cameraStreams: MediaStream[] };
    w.cameraStreams = [];
    const devices = navigator.mediaDevices;
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      const stream = await getUserMedia(constraints);
      w.cameraStreams.push(stream);
      return stream;
    };
  });
}

/** Per stream the page got, whether every track is still live. */
function liveStreams(page: Page): Promise<boolean[]> {
  return page.evaluate(() => (window as unknown as { cameraStreams: MediaStream[] }).cameraStreams.map((s) => s.getTracks().some((t) => t.readyState === 'live')));
}

/** Pretends the page was hidden (or shown again), as switching tabs does. */
async function setHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((value) => {
    Object.defineProperty(document, 'hidden', { value, configurable: true });
    Object.defineProperty(document, 'visibilityState', { value: value ? 'hidden' : 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

function maxDiff(a: readonly number[], b: readonly number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

/** fp32 weights, and the frame and its still preprocessed to the same pixels (bit-exact): rounding alone. */
const PROB_TOLERANCE = 1e-5;
const LABELS = ['cup of coffee', 'cat', 'rocket', 'astronaut'];
/** The committed README screenshot is only rewritten on request, so test runs leave the work tree clean. */
const UPDATE_README_SCREENSHOT = process.env.UPDATE_README_SCREENSHOT === '1';
const README_SCREENSHOT_MAX_BYTES = 300_000;

function demoPath(): string {
  return `/src/app/index.html?model=${encodeURIComponent(hub.baseUrl(REPO))}&dtype=fp32`;
}

async function loadModel(page: Page): Promise<void> {
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#load-model');
  await page.waitForFunction(
    () => /^Loaded /.test(document.getElementById('load-progress-text')?.textContent ?? '') || (document.getElementById('model-error')?.textContent ?? '') !== '',
    undefined,
    { timeout: 90_000 },
  );
  expect(await page.textContent('#model-error')).toBe('');
}

describe("the demo's Camera panel (fake camera, tiny golden model in fp32)", () => {
  it('shows live probabilities equal to similarity() on a snapshot, fps > 0, captions the moment (once and every N s), and releases the camera when closed or hidden', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    await watchCameraStreams(context);
    const errors: string[] = [];
    const page = await open(context, demoPath(), errors);
    await loadModel(page);
    await page.click('#camera-details > summary');
    await page.fill('#camera-labels', LABELS.join('\n'));
    // Labels appear, and frames keep coming: the rate is measured over at least two answers.
    await page.waitForFunction((n) => document.querySelectorAll('#camera-results li').length === n && Number(document.getElementById('camera-rate')?.dataset.fps) > 0, LABELS.length, { timeout: 90_000 });
    expect(await page.textContent('#camera-rate')).toMatch(/^\d+\.\d frames\/s · latency \d+/);
    expect(await page.textContent('#camera-error')).toBe('');
    expect(await page.textContent('#camera-status')).toMatch(/600×400/);
    const live = await page.$$eval('#camera-results li', (items) => items.map((li) => ({ label: li.querySelector('.label')?.textContent ?? '', prob: Number((li as HTMLElement).dataset.prob) })));
    expect(live.map((r) => r.label)).toEqual(LABELS);

    // The frame as a still: Snapshot puts it into the Images panel; Similarity scores it there (CPU preprocessing).
    await page.click('#camera-snapshot');
    await page.waitForFunction(() => document.querySelectorAll('.image-item canvas.model-view-canvas').length === 1);
    expect(await page.textContent('.image-item .image-name')).toMatch(/^camera-.*\.png$/);
    await page.fill('#similarity-texts', LABELS.join('\n'));
    await page.click('#similarity-button');
    await page.waitForSelector('#similarity-section[data-state="done"], #similarity-section[data-state="error"]', { timeout: 90_000 });
    expect(await page.textContent('#similarity-error')).toBe('');
    const still = await page.$$eval('table.similarity-table tbody tr', (rows) => rows.map((r) => Number((r as HTMLElement).dataset.prob)));
    expect(maxDiff(live.map((r) => r.prob), still)).toBeLessThanOrEqual(PROB_TOLERANCE);
    // The latest frame scores the same too (the fake camera shows one picture).
    const latest = await page.$$eval('#camera-results li', (items) => items.map((li) => Number((li as HTMLElement).dataset.prob)));
    expect(maxDiff(latest, still)).toBeLessThanOrEqual(PROB_TOLERANCE);

    // Caption this moment = the Caption panel's caption of the snapshot.
    await page.click('#camera-caption-button');
    await page.waitForSelector('#camera-section[data-caption="done"], #camera-section[data-caption="error"]', { timeout: 90_000 });
    const momentCaption = await page.textContent('#camera-caption');
    await page.click('#caption-button');
    await page.waitForSelector('#caption-section[data-state="done"], #caption-section[data-state="error"]', { timeout: 90_000 });
    expect(momentCaption).toBe(await page.textContent('#caption-text'));
    expect(momentCaption).not.toBe('');
    // Every N seconds: captions keep coming (each stamped with its time) while the box is ticked.
    const stamp = (): Promise<string> => page.textContent('#camera-caption-time').then((t) => t ?? '');
    for (let i = 0; i < 2; i++) {
      const before = await stamp();
      if (i === 0) {
        await page.fill('#camera-caption-every', '2');
        await page.check('#camera-auto-caption');
      }
      await page.waitForFunction((previous) => {
        const time = document.getElementById('camera-caption-time')?.textContent ?? '';
        return time !== previous && document.getElementById('camera-section')?.dataset.caption === 'done';
      }, before, { timeout: 90_000 });
      expect(await page.textContent('#camera-caption')).toBe(momentCaption);
    }
    await page.uncheck('#camera-auto-caption');

    await page.locator('#camera-section').screenshot({ path: path.join(ARTIFACTS, 'camera-panel.png') });
    if (UPDATE_README_SCREENSHOT) {
      const shot = path.join(REPO_ROOT, 'public', 'camera.jpg');
      await page.locator('#camera-section').screenshot({ path: shot, scale: 'css', type: 'jpeg', quality: 85 });
      expect(statSync(shot).size).toBeLessThan(README_SCREENSHOT_MAX_BYTES);
    }

    // Closing the panel releases the camera.
    expect(await liveStreams(page)).toEqual([true]);
    await page.click('#camera-details > summary');
    await page.waitForFunction(() => (window as unknown as { cameraStreams: MediaStream[] }).cameraStreams.every((s) => s.getTracks().every((t) => t.readyState === 'ended')));
    expect(await page.evaluate(() => (document.getElementById('camera-video') as HTMLVideoElement).srcObject)).toBeNull();

    // Hiding the page releases it too; showing it again takes it again.
    const started = (): Promise<unknown> => page.waitForFunction(() => /600×400/.test(document.getElementById('camera-status')?.textContent ?? ''));
    await page.click('#camera-details > summary');
    await started();
    expect(await liveStreams(page)).toEqual([false, true]);
    await setHidden(page, true);
    expect(await liveStreams(page)).toEqual([false, false]);
    expect(await page.textContent('#camera-status')).toMatch(/hidden/);
    await setHidden(page, false);
    await started();
    expect(await liveStreams(page)).toEqual([false, false, true]);
    await page.click('#camera-start');
    expect(await liveStreams(page)).toEqual([false, false, false]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('<coca-camera> (fake camera, the shared model)', () => {
  it('sends coca-result per frame equal to similarity() on a still of the frame, shows the rate, follows its styling hooks, and releases the camera when removed', async () => {
    const context = await browser.newContext();
    await watchCameraStreams(context);
    const errors: string[] = [];
    const page = await open(context, `/test/browser/camera-widget.html?autostart=1&dtype=fp32&model=${encodeURIComponent(hub.baseUrl(REPO))}`, errors);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    type Events = { type: string; detail: { labels?: string[]; texts?: string[]; probs?: number[]; best?: number; fps?: number; latencyMs?: number; name?: string; message?: string } }[];
    await page.waitForFunction(
      () => {
        const events = (window as unknown as { cocaEvents: Events }).cocaEvents;
        return events.some((e) => e.type === 'coca-error') || events.filter((e) => e.type === 'coca-result' && (e.detail.fps ?? 0) > 0).length > 0;
      },
      undefined,
      { timeout: 90_000 },
    );
    const events = (await page.evaluate(() => (window as unknown as { cocaEvents: Events }).cocaEvents)) as Events;
    expect(events.filter((e) => e.type === 'coca-error')).toEqual([]);
    const result = events.filter((e) => e.type === 'coca-result').pop()!.detail;
    expect(result.labels).toEqual(LABELS);
    expect(result.texts).toEqual(LABELS);
    expect(result.latencyMs).toBeGreaterThan(0);
    // similarity() of the shared model on a bitmap of the element's own video (the same picture as every frame).
    const still = (await page.evaluate(async (texts) => {
      const element = document.getElementById('camera') as HTMLElement & { modelRequest: unknown };
      const video = element.shadowRoot!.querySelector('video')!;
      const w = window as unknown as { widget: { sharedCoca: (r: unknown) => Promise<{ similarity: (i: ImageBitmap, t: string[]) => Promise<{ probs: number[][] }> }>; sharedModelStats: () => { modelLoads: number } } };
      const coca = await w.widget.sharedCoca(element.modelRequest);
      const bitmap = await createImageBitmap(video);
      return { probs: (await coca.similarity(bitmap, texts)).probs[0], loads: w.widget.sharedModelStats().modelLoads };
    }, LABELS)) as { probs: number[]; loads: number };
    expect(maxDiff(result.probs!, still.probs)).toBeLessThanOrEqual(PROB_TOLERANCE);
    expect(result.best).toBe(still.probs.indexOf(Math.max(...still.probs)));
    expect(still.loads).toBe(1);
    // What it shows: the labels, the best one marked, the rate; styled from outside through a custom property and a part.
    const shown = await page.$eval('#camera', (element) => {
      const root = element.shadowRoot!;
      return {
        labels: [...root.querySelectorAll('[part~="label"]')].map((e) => e.textContent),
        best: root.querySelector('li.best [part~="label"]')?.textContent,
        rate: root.querySelector('[part~="rate"]')?.textContent ?? '',
        rateColor: getComputedStyle(root.querySelector('[part~="rate"]')!).color,
        fill: getComputedStyle(root.querySelector('li .fill')!).backgroundColor,
      };
    });
    expect(shown.labels).toEqual(LABELS);
    expect(shown.best).toBe(LABELS[result.best!]);
    expect(shown.rate).toMatch(/frames\/s/);
    expect(shown.rateColor).toBe('rgb(4, 5, 6)');
    expect(shown.fill).toBe('rgb(1, 2, 3)');
    await page.screenshot({ path: path.join(ARTIFACTS, 'camera-widget.png') });

    expect(await liveStreams(page)).toEqual([true]);
    await page.evaluate(() => document.getElementById('camera')!.remove());
    expect(await liveStreams(page)).toEqual([false]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a denied camera (Chromium without the fake permission prompt)', () => {
  it('is named in the Camera panel and by <coca-camera>, and the rest keeps working', async () => {
    const denying = await launchChromium(['--use-fake-device-for-media-stream']);
    try {
      const context = await denying.newContext({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      const page = await open(context, demoPath(), errors);
      await loadModel(page);
      await page.click('#camera-details > summary');
      await page.waitForFunction(() => (document.getElementById('camera-error')?.textContent ?? '') !== '');
      expect(await page.textContent('#camera-error')).toMatch(/^CameraError: camera access was denied \(NotAllowedError\)\. Allow the camera/);
      expect(await page.textContent('#camera-start')).toBe('Start camera');
      // The rest of the page works: an image is added and scored.
      await page.setInputFiles('#image-files', path.join(SHARED, 'images', CAMERA_PHOTO));
      await page.waitForFunction(() => document.querySelectorAll('.image-item canvas.model-view-canvas').length === 1);
      await page.fill('#similarity-texts', LABELS.join('\n'));
      await page.click('#similarity-button');
      await page.waitForSelector('#similarity-section[data-state="done"]', { timeout: 90_000 });
      expect(await page.locator('table.similarity-table tbody tr').count()).toBe(LABELS.length);
      await page.locator('#camera-section').screenshot({ path: path.join(ARTIFACTS, 'camera-denied.png') });

      const widget = await open(context, `/test/browser/camera-widget.html?autostart=1&dtype=fp32&model=${encodeURIComponent(hub.baseUrl(REPO))}`, errors);
      await widget.waitForFunction(() => (window as unknown as { cocaEvents: { type: string }[] }).cocaEvents.some((e) => e.type === 'coca-error'));
      const error = await widget.evaluate(() => (window as unknown as { cocaEvents: { type: string; detail: { name: string; message: string } }[] }).cocaEvents.find((e) => e.type === 'coca-error')!.detail);
      expect(error.name).toBe('CameraError');
      expect(error.message).toMatch(/denied/);
      expect(await widget.$eval('#camera', (e) => e.shadowRoot!.querySelector('[part~="status"]')?.textContent ?? '')).toContain('CameraError: camera access was denied');
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await denying.close();
    }
  });
});
