// Layout and input faults of the faces, measured in headless Chromium: <coca-similarity> keeps its bars whatever
// the labels' length, the demo's similarity tables keep their columns aligned with long texts, and the demo's
// image-URL box takes a URL with a stray '%' without failing. The tiny golden model runs from a local hub.
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import type { UiPage } from './browser/ui-page';
import { launchChromium, startViteServer } from './helpers/browser';
import { SHARED, TINY } from './helpers/golden';
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
