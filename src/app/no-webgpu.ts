// The page an unsupported browser gets: what is missing, why the demo needs it, and which browsers work.
import { el, replaceChildren } from './dom';
import type { WebGpuSupport } from './webgpu-check';

type Unsupported = Extract<WebGpuSupport, { ok: false }>;

const WORKING_BROWSERS: readonly string[] = [
  'Chrome or Edge 113 and later on Windows, macOS and ChromeOS',
  'Chrome 121 and later on Android 12 and later (recent Qualcomm, ARM and Intel GPUs)',
  'Safari 26 on macOS, iOS and iPadOS 26',
  'Firefox 141 and later on Windows (other systems: in Firefox Nightly)',
  'Chrome on Linux: turn on chrome://flags/#enable-unsafe-webgpu (and Vulkan) while support is rolled out',
];

const HINTS: Record<Unsupported['reason'], string> = {
  'insecure-context': 'Open the page over https:// (or from localhost) and try again.',
  'no-api': 'Update your browser, or open this page in one of the browsers below.',
  'no-adapter':
    'Check that hardware acceleration is on in the browser settings and that your graphics driver is up to date; some older GPUs are blocked on purpose.',
  error: 'Reload the page; if it happens again, try another browser from the list below.',
};

export function renderNoWebGpu(main: HTMLElement, support: Unsupported): void {
  document.body.classList.add('no-webgpu');
  replaceChildren(
    main,
    el(
      'section',
      { class: 'panel no-webgpu-panel', id: 'no-webgpu', attrs: { 'aria-labelledby': 'no-webgpu-heading' } },
      el('h2', { id: 'no-webgpu-heading' }, 'This browser cannot run the model'),
      el('p', { class: 'lead', attrs: { role: 'alert' } }, support.detail),
      el('p', {}, HINTS[support.reason]),
      el('h3', {}, 'Why WebGPU?'),
      el(
        'p',
        {},
        'CoCa has about 250 million weights. This page runs them with GPU compute shaders through WebGPU, in your browser, so your ',
        'images never leave your device and nothing is sent to a server. Without WebGPU there is no GPU compute from a web page, and ',
        'running the same model on the CPU from JavaScript would be many times slower.',
      ),
      el('h3', {}, 'Browsers that work'),
      el('ul', {}, ...WORKING_BROWSERS.map((browser) => el('li', {}, browser))),
      el('p', {}, 'You can check what your browser supports at ', el('a', { attrs: { href: 'https://webgpureport.org/' } }, 'webgpureport.org'), '.'),
    ),
  );
}
