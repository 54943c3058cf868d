// Renders public/icons/icon.svg to the PNG icons the web app manifest lists (192, 512, and a maskable 512
// whose artwork sits inside the central 80% safe zone on a full-bleed tile). Run after editing the SVG:
//   npx tsx src/app/build/render-icons-node.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../../test/helpers/browser';

const iconsDir = fileURLToPath(new URL('../../../public/icons/', import.meta.url));
const svg = readFileSync(`${iconsDir}icon.svg`, 'utf8');
const dataUrl = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

/** Maskable icons are cropped to a circle or squircle by the OS: keep the artwork within 80% (W3C safe zone). */
const MASKABLE_SCALE = 0.8;

const targets = [
  { file: 'icon-192.png', size: 192, maskable: false },
  { file: 'icon-512.png', size: 512, maskable: false },
  { file: 'icon-maskable-512.png', size: 512, maskable: true },
];

const browser = await launchChromium();
try {
  for (const { file, size, maskable } of targets) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 });
    const inner = maskable ? Math.round(size * MASKABLE_SCALE) : size;
    await page.setContent(
      `<html><body style="margin:0;width:${size}px;height:${size}px;display:grid;place-items:center;background:${maskable ? '#1f1b4d' : 'transparent'}">` +
        `<img src="${dataUrl}" width="${inner}" height="${inner}"></body></html>`,
    );
    await page.waitForFunction(() => document.images[0]?.complete);
    writeFileSync(`${iconsDir}${file}`, await page.screenshot({ omitBackground: !maskable, type: 'png' }));
    await page.close();
  }
} finally {
  await browser.close();
}
