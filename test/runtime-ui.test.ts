// The faces in headless Chromium: <coca-similarity> keeps its bars whatever the labels' length, the demo's
// similarity tables keep their columns aligned with long texts, the demo's image-URL box takes a URL with a stray
// '%' without failing, and the built widget works under the Content-Security-Policy the README gives, each
// source in it shown to be needed. The tiny golden model runs from a local hub.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import type { UiPage } from './browser/ui-page';
import { launchChromium, startViteServer } from './helpers/browser';
import { golden, goldenJson, SHARED, TINY } from './helpers/golden';
import { buildLib, SHARED_DIR, tempDir } from './browser/faces-build';
import { startStaticServer, type StaticServer } from './browser/faces-server';
import { startHubServer, type HubServer } from './helpers/hub-server';

const REPO = 'test/coca-tiny';
/** Screenshots of what the layout tests measured, for a person to look at. */
const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/ui/', import.meta.url));
/** Labels of every length: short, past the ~35 characters that used to squeeze the bars out, and one unbroken word. */
const LABELS = [
  'cat',
  'a photograph of a small tabby cat sitting on a wooden chair by the window',
  'supercalifragilisticexpialidocious-and-then-some-more-without-any-spaces',
];
/** A bar narrower than this (4rem at 16px) no longer shows a probability at a glance. */
const MIN_BAR_PX = 64;
/** On a phone-sized screen (390 px wide) the demo's bars may be narrower, but not less than 2.5rem. */
const MIN_BAR_PHONE_PX = 40;
/** Layout positions are fractional CSS pixels; two edges within this are the same edge. */
const EDGE_PX = 0.5;
/** A fill is its probability times the bar, rounded to layout units (1/64 px) at each edge. */
const FILL_PX = 1;
/** fp32 weights compute what OpenCLIP computes up to rounding (golden/README.md: probabilities within 1e-4). */
const PROB_TOLERANCE = 1e-4;

interface Box {
  left: number;
  right: number;
  width: number;
  top: number;
  bottom: number;
}

let server: ViteDevServer;
let viteUrl: string;
let hub: HubServer;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ server, url: viteUrl } = await startViteServer());
  const file = (path: string): Uint8Array => new Uint8Array(readFileSync(path));
  hub = await startHubServer({
    [REPO]: {
      'open_clip_config.json': file(`${TINY}open_clip_config.json`),
      'open_clip_model.safetensors': file(`${TINY}open_clip_model.safetensors`),
      'bpe_simple_vocab_16e6.txt.gz': file(`${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`),
    },
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await hub?.close();
  await server?.close();
});

async function openUi(errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${viteUrl}/test/browser/ui.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  return page;
}

const imageUrl = (name: string): string => `/@fs${SHARED}images/${name}`;

describe('layout of the similarity results (Chromium)', () => {
  it('<coca-similarity> gives every bar the same room, its fill the probability, whatever the labels', async () => {
    const errors: string[] = [];
    const page = await openUi(errors);
    const measured = await page.evaluate(
      async ({ model, labels, image }) => {
        const element = document.createElement('coca-similarity');
        for (const [name, value] of Object.entries({ model, dtype: 'fp32', template: '{label}', labels: labels.join(', ') })) element.setAttribute(name, value);
        element.style.width = '420px';
        const result = new Promise<{ probs: number[] } | string>((resolve) => {
          element.addEventListener('coca-result', (e) => resolve((e as CustomEvent<{ probs: number[] }>).detail));
          element.addEventListener('coca-error', (e) => resolve((e as CustomEvent<{ message: string }>).detail.message));
        });
        element.image = await (await fetch(image)).blob();
        document.body.append(element);
        const detail = await result;
        if (typeof detail === 'string') return { error: detail };
        const box = (node: Element | null | undefined): Box => {
          const r = node!.getBoundingClientRect();
          return { left: r.left, right: r.right, width: r.width, top: r.top, bottom: r.bottom };
        };
        const rows = [...element.shadowRoot!.querySelectorAll('li')].map((li) => ({
          label: box(li.querySelector('.label')),
          bar: box(li.querySelector('.bar')),
          fill: box(li.querySelector('.fill')),
          value: box(li.querySelector('.value')),
        }));
        return { probs: detail.probs, rows, host: box(element) };
      },
      { model: hub.baseUrl(REPO), labels: LABELS, image: imageUrl('chelsea.png') },
    );
    expect(measured.error).toBeUndefined();
    const { rows, probs, host } = measured as { rows: { label: Box; bar: Box; fill: Box; value: Box }[]; probs: number[]; host: Box };
    expect(rows).toHaveLength(LABELS.length);
    const [first] = rows;
    for (const [i, row] of rows.entries()) {
      expect(row.bar.width, `bar ${i}`).toBeGreaterThanOrEqual(MIN_BAR_PX);
      // One column for every bar: same start, same width.
      expect(Math.abs(row.bar.left - first!.bar.left)).toBeLessThanOrEqual(EDGE_PX);
      expect(Math.abs(row.bar.width - first!.bar.width)).toBeLessThanOrEqual(EDGE_PX);
      expect(Math.abs(row.fill.width - probs[i]! * row.bar.width), `fill ${i}`).toBeLessThanOrEqual(FILL_PX);
      // Label, bar and value side by side, inside the element.
      expect(row.label.right).toBeLessThanOrEqual(row.bar.left + EDGE_PX);
      expect(row.bar.right).toBeLessThanOrEqual(row.value.left + EDGE_PX);
      expect(row.value.right).toBeLessThanOrEqual(host.right + EDGE_PX);
    }
    await page.locator('coca-similarity').screenshot({ path: path.join(ARTIFACTS, 'widget-long-labels.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it("the demo's tables keep their columns aligned with long texts, inside the panel, bars filled to the probability", async () => {
    const errors: string[] = [];
    const page = await openUi(errors);
    const error = await page.evaluate(
      async ({ model, labels, images }) => {
        const { ui } = window as unknown as { ui: UiPage };
        ui.state.setModel(await ui.client.createCoca({ model, dtype: 'fp32' }));
        await ui.images.addFiles(await Promise.all(images.map(async (url) => new File([await (await fetch(url)).blob()], url.slice(url.lastIndexOf('/') + 1)))));
        (document.getElementById('similarity-texts') as HTMLTextAreaElement).value = labels.join('\n');
        await ui.similarity.score();
        return document.getElementById('similarity-error')!.textContent;
      },
      { model: hub.baseUrl(REPO), labels: LABELS, images: [imageUrl('chelsea.png'), imageUrl('coffee.png')] },
    );
    expect(error).toBe('');
    // The demo's two-column layout on a desktop screen, then one column on a phone.
    for (const [width, minBar] of [
      [1280, MIN_BAR_PX],
      [390, MIN_BAR_PHONE_PX],
    ] as const) {
      await page.setViewportSize({ width, height: 900 });
      const measured = await measureTables(page);
      expect(measured.tables).toHaveLength(2);
      const columns = measured.tables[0]!.header;
      expect(columns).toHaveLength(3);
      for (const [t, table] of measured.tables.entries()) {
        expect(table.rows).toHaveLength(LABELS.length);
        expect(table.overflow, `${width}px: table ${t} overflows`).toBeLessThanOrEqual(0);
        for (const [j, row] of table.rows.entries()) {
          // Every cell under its column's header, in both tables alike, and as tall as its row (its border on the row's).
          for (const [c, cell] of row.cells.entries()) {
            const where = `${width}px: table ${t} row ${j} column ${c}`;
            expect(Math.abs(cell.left - columns[c]!.left), `${where} left`).toBeLessThanOrEqual(EDGE_PX);
            expect(Math.abs(cell.right - columns[c]!.right), `${where} right`).toBeLessThanOrEqual(EDGE_PX);
            expect(Math.abs(cell.top - row.row.top), `${where} top`).toBeLessThanOrEqual(EDGE_PX);
            expect(Math.abs(cell.bottom - row.row.bottom), `${where} bottom`).toBeLessThanOrEqual(EDGE_PX);
          }
          // The bar sits in the middle of the row, level with the text and the cosine (both vertically centred).
          expect(Math.abs((row.bar.top + row.bar.bottom) / 2 - (row.row.top + row.row.bottom) / 2), `${width}px: table ${t} row ${j} bar height`).toBeLessThanOrEqual(FILL_PX);
          expect(row.bar.width, `${width}px: table ${t} row ${j} bar`).toBeGreaterThanOrEqual(minBar);
          expect(Math.abs(row.fill.width - row.prob * row.bar.width)).toBeLessThanOrEqual(FILL_PX);
        }
      }
      expect(columns.at(-1)!.right).toBeLessThanOrEqual(measured.panel.right);
      expect(measured.panelOverflow, `${width}px: the panel scrolls sideways`).toBeLessThanOrEqual(0);
      await page.locator('#similarity-section').screenshot({ path: path.join(ARTIFACTS, `demo-table-${width}px.png`) });
    }
    expect(errors).toEqual([]);
    await page.close();
  });
});

/** Where the demo's similarity tables put their header cells, row cells and bars. */
function measureTables(page: Page): Promise<{
  tables: { header: Box[]; rows: { row: Box; cells: Box[]; bar: Box; fill: Box; prob: number }[]; overflow: number }[];
  panel: Box;
  panelOverflow: number;
}> {
  return page.evaluate(() => {
    const box = (node: Element): Box => {
      const r = node.getBoundingClientRect();
      return { left: r.left, right: r.right, width: r.width, top: r.top, bottom: r.bottom };
    };
    const tables = [...document.querySelectorAll('.similarity-table')].map((table) => ({
      header: [...table.querySelectorAll('thead th')].map(box),
      rows: [...table.querySelectorAll('tbody tr')].map((tr) => ({
        row: box(tr),
        cells: [...tr.children].map(box),
        bar: box(tr.querySelector('.bar')!),
        fill: box(tr.querySelector('.bar-fill')!),
        prob: Number((tr as HTMLElement).dataset.prob),
      })),
      overflow: table.scrollWidth - table.clientWidth,
    }));
    const section = document.getElementById('similarity-section')!;
    return { tables, panel: box(section), panelOverflow: section.scrollWidth - section.clientWidth };
  });
}

describe("the demo's image-URL box", () => {
  it("takes a URL whose file name has a stray '%' and names the image as written; refuses a malformed URL by saying so", async () => {
    const errors: string[] = [];
    const page = await openUi(errors);
    const png = readFileSync(`${SHARED}images/chelsea.png`);
    // A server whose file really is called "photo%zz.png" (a '%' not followed by two hex digits).
    await page.route(
      (url) => url.pathname.endsWith('/photo%zz.png'),
      (route) => route.fulfill({ status: 200, contentType: 'image/png', body: png }),
    );
    await page.fill('#image-url', `${viteUrl}/uploads/photo%zz.png`);
    await page.click('#images-section button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('.image-item').length === 1 || (document.getElementById('image-error')?.textContent ?? '') !== '');
    expect(await page.textContent('#image-error')).toBe('');
    expect(await page.textContent('.image-item .image-name')).toBe('photo%zz.png');
    // The URL box emptied itself after the image was added.
    expect(await page.inputValue('#image-url')).toBe('');

    // A URL the page cannot parse at all is an error message, not an exception.
    const refused = await page.evaluate(async () => {
      const { ui } = window as unknown as { ui: UiPage };
      const added = await ui.images.addFromUrl('http://[not-a-host]/a.png');
      return { added, message: document.getElementById('image-error')!.textContent };
    });
    expect(refused).toEqual({ added: false, message: expect.stringMatching(/^http:\/\/\[not-a-host\]\/a\.png is not a valid URL/) });
    expect(await page.locator('.image-item').count()).toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  });
});

/**
 * The policy README.md gives for a page embedding the widget, directive by directive. `hub` is the model's origin
 * (for the hub: huggingface.co and the hosts it redirects downloads to).
 */
function readmePolicy(hub: string): Record<string, string[]> {
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'", "'wasm-unsafe-eval'"],
    'worker-src': ['blob:'],
    'img-src': ["'self'", 'blob:'],
    'style-src': ["'self'", "'unsafe-inline'"],
    'connect-src': ["'self'", hub, 'data:'],
  };
}

/** The policy as a header value, with `drop` removed (directive → source). */
function policyHeader(policy: Record<string, string[]>, drop: Record<string, string> = {}): string {
  return Object.entries(policy)
    .map(([directive, sources]) => [directive, ...sources.filter((source) => drop[directive] !== source)].join(' '))
    .join('; ');
}

/** What a page under a policy saw: the elements' events and the policy violations reported to the document. */
interface CspOutcome {
  events: { type: string; id: string; detail: { probs?: number[]; text?: string; name?: string; message?: string } }[];
  violations: string[];
  /** The caption element's image (given as a Blob, shown from a blob: URL) has pixels. */
  blobImageShown: boolean;
  /** The similarity element's shadow-root styles apply (its results list is a grid). */
  stylesApplied: boolean;
}

describe('the built widget under a Content-Security-Policy', () => {
  let libDir: string;
  let pageDir: string;
  let site: StaticServer;
  let labels: string[];
  let astronautProbs: number[];

  beforeAll(async () => {
    libDir = tempDir('csp-lib');
    pageDir = tempDir('csp-page');
    await buildLib(libDir);
    writeFileSync(path.join(pageDir, 'csp.html'), '<!doctype html>\n<meta charset="utf-8" />\n<title>coca-webgpu under a CSP</title>\n<script type="module" src="./csp-page.js"></script>\n');
    // A module, not an inline script: the policy allows scripts from 'self' only.
    writeFileSync(
      path.join(pageDir, 'csp-page.js'),
      `const w = window;
w.violations = [];
w.events = [];
document.addEventListener('securitypolicyviolation', (e) => w.violations.push(e.effectiveDirective));
for (const type of ['coca-result', 'coca-caption', 'coca-error']) {
  document.addEventListener(type, (e) => w.events.push({ type, id: e.target.id, detail: e.detail }));
}
const params = new URLSearchParams(location.search);
const similarity = document.createElement('coca-similarity');
const caption = document.createElement('coca-caption');
const model = { model: params.get('model'), dtype: 'fp32' };
for (const [name, value] of Object.entries({ id: 'similarity', ...model, template: '{label}', labels: params.get('labels'), src: '/images/astronaut.png' })) similarity.setAttribute(name, value);
for (const [name, value] of Object.entries({ id: 'caption', ...model })) caption.setAttribute(name, value);
document.body.append(similarity, caption);
await import('/lib/widget.js');
// A JPEG given as a Blob: shown from a blob: URL, decoded in the worker by the WASM JPEG decoder.
caption.image = await (await fetch('/images/rocket.jpg')).blob();
`,
    );
    // The page's policy comes in its own query (?csp=…), as a server would send it.
    const csp = (url: URL): Record<string, string> => (url.pathname === '/csp.html' && url.searchParams.has('csp') ? { 'Content-Security-Policy': url.searchParams.get('csp')! } : {});
    site = await startStaticServer({ '/lib/': libDir, '/images/': path.join(SHARED_DIR, 'images'), '/': pageDir }, csp);
    const reference = await goldenJson();
    labels = reference.texts;
    const astronaut = reference.images.indexOf('astronaut.png');
    astronautProbs = [...(await golden('similarity_probs')).subarray(astronaut * labels.length, (astronaut + 1) * labels.length)];
  });

  afterAll(async () => {
    await site?.close();
    for (const dir of [libDir, pageDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the page (with `policy` as its Content-Security-Policy header, or none) and waits until `done` holds. */
  async function runPage(inContext: BrowserContext, policy: string | null, done: (outcome: CspOutcome) => boolean): Promise<CspOutcome> {
    const page = await inContext.newPage();
    const query = new URLSearchParams({ model: hub.baseUrl(REPO), labels: labels.join(', '), ...(policy !== null ? { csp: policy } : {}) });
    await page.goto(`${site.url}/csp.html?${query}`);
    const read = (): Promise<CspOutcome> =>
      page.evaluate(() => {
        const w = window as unknown as { events?: CspOutcome['events']; violations?: string[] };
        const shadow = (id: string): ShadowRoot | null | undefined => document.getElementById(id)?.shadowRoot;
        const img = shadow('caption')?.querySelector('img');
        const list = shadow('similarity')?.querySelector('ol');
        return {
          events: w.events ?? [],
          violations: [...new Set(w.violations ?? [])].sort(),
          blobImageShown: !!img && img.src.startsWith('blob:') && img.naturalWidth > 0,
          stylesApplied: !!list && getComputedStyle(list).display === 'grid',
        };
      });
    const deadline = Date.now() + 90_000;
    let outcome = await read();
    while (!done(outcome) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      outcome = await read();
    }
    await page.close();
    return outcome;
  }

  const finished = (o: CspOutcome): boolean => ['similarity', 'caption'].every((id) => o.events.some((e) => e.id === id && e.type !== 'coca-progress'));
  const byId = (o: CspOutcome, id: string): CspOutcome['events'][number] | undefined => o.events.find((e) => e.id === id);

  it('works under the policy README.md gives, downloading the model and decoding a JPEG, with the same results as without one', async () => {
    // Without a policy first (this also fills the main context's cache for the tests below).
    const open = await runPage(context, null, finished);
    const referenceCaption = byId(open, 'caption');
    expect(referenceCaption?.type).toBe('coca-caption');

    // A fresh profile, so the model is downloaded under the policy.
    const fresh = await browser.newContext();
    try {
      const outcome = await runPage(fresh, policyHeader(readmePolicy(hub.url)), (o) => finished(o) && o.blobImageShown);
      expect(outcome.violations).toEqual([]);
      expect(outcome.events.filter((e) => e.type === 'coca-error')).toEqual([]);
      const probs = byId(outcome, 'similarity')!.detail.probs!;
      expect(Math.max(...probs.map((p, j) => Math.abs(p - astronautProbs[j]!)))).toBeLessThanOrEqual(PROB_TOLERANCE);
      expect(byId(outcome, 'caption')!.detail.text).toBe(referenceCaption!.detail.text);
      expect(outcome.blobImageShown).toBe(true);
      expect(outcome.stylesApplied).toBe(true);
    } finally {
      await fresh.close();
    }
  });

  it('needs each source the README names: without one, that part fails and the violation names its directive', async () => {
    const policy = readmePolicy(hub.url);
    const errorOf = (o: CspOutcome, id: string): string => {
      const event = byId(o, id);
      return event?.type === 'coca-error' ? `${event.detail.name}: ${event.detail.message}` : `no error (${event?.type ?? 'nothing'})`;
    };
    // worker-src blob: — the model worker starts from a Blob URL.
    const noWorker = await runPage(context, policyHeader(policy, { 'worker-src': 'blob:' }), finished);
    expect(noWorker.violations).toContain('worker-src');
    expect(errorOf(noWorker, 'similarity')).toMatch(/worker/i);

    // img-src blob: (an image given as a Blob) and style-src 'unsafe-inline' (the elements' shadow-root styles).
    const noBlobImagesOrStyles = await runPage(context, policyHeader(policy, { 'img-src': 'blob:', 'style-src': "'unsafe-inline'" }), (o) => o.violations.length >= 2);
    expect(noBlobImagesOrStyles.violations).toEqual(['img-src', 'style-src-elem']);
    expect(noBlobImagesOrStyles.blobImageShown).toBe(false);
    expect(noBlobImagesOrStyles.stylesApplied).toBe(false);

    // 'wasm-unsafe-eval' and connect-src data: — the worker's JPEG decoder is WebAssembly inlined as a data: URL.
    // (The model comes from the cache here; the PNG, decoded without WebAssembly, still works.)
    for (const drop of [{ 'script-src': "'wasm-unsafe-eval'" }, { 'connect-src': 'data:' }] as Record<string, string>[]) {
      const noWasm = await runPage(context, policyHeader(policy, drop), finished);
      expect(byId(noWasm, 'similarity')?.type, JSON.stringify(drop)).toBe('coca-result');
      expect(errorOf(noWasm, 'caption'), JSON.stringify(drop)).toMatch(/^ImageDecodeError: .*JPEG/);
    }

    // connect-src to the model's origin (a fresh profile: nothing cached to fall back on).
    const fresh = await browser.newContext();
    try {
      const noHub = await runPage(fresh, policyHeader(policy, { 'connect-src': hub.url }), finished);
      expect(errorOf(noHub, 'similarity')).toMatch(/^NetworkError: could not fetch .*open_clip_config\.json/);
    } finally {
      await fresh.close();
    }
  });
});
