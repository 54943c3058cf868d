// The demo page: checks WebGPU, then builds the panels around one shared AppState.
import { CameraPanel } from './camera-panel';
import { CaptionPanel } from './caption-panel';
import { byId, describeError, el, replaceChildren } from './dom';
import { ImagesPanel } from './images-panel';
import { LibraryPanel } from './library-panel';
import { ModelPanel } from './model-panel';
import { renderNoWebGpu } from './no-webgpu';
import { registerServiceWorker, setUpInstallButton } from './pwa';
import { RuntimePanel } from './runtime-panel';
import { SimilarityPanel } from './similarity-panel';
import { AppState } from './state';
import { checkWebGpu } from './webgpu-check';

function section(id: string, heading: string, extraClass = ''): HTMLElement {
  return el('section', { id, class: `panel ${extraClass}`.trim(), attrs: { 'aria-labelledby': heading } });
}

async function start(): Promise<void> {
  const main = byId<HTMLElement>('main');
  setUpInstallButton();
  registerServiceWorker().catch((error: unknown) => console.warn('service worker not registered:', describeError(error).message));

  const support = await checkWebGpu();
  if (!support.ok) {
    renderNoWebGpu(main, support);
    return;
  }
  const state = new AppState();
  const modelSection = section('model-section', 'model-heading');
  const imagesSection = section('images-section', 'images-heading');
  const captionSection = section('caption-section', 'caption-heading');
  const similaritySection = section('similarity-section', 'similarity-heading');
  const librarySection = section('library-section', 'library-heading', 'wide');
  const cameraSection = section('camera-section', 'camera-heading', 'wide');
  const runtimeSection = section('runtime-section', 'runtime-heading', 'wide');
  // Inputs on the left, outputs on the right; one column on narrow screens. DOM order is the reading order.
  replaceChildren(
    main,
    el('div', { class: 'layout' }, el('div', { class: 'column' }, modelSection, imagesSection), el('div', { class: 'column' }, captionSection, similaritySection)),
    librarySection,
    cameraSection,
    runtimeSection,
  );

  const modelPanel = new ModelPanel(modelSection, state);
  const imagesPanel = new ImagesPanel(imagesSection, state);
  new CaptionPanel(captionSection, state);
  new SimilarityPanel(similaritySection, state);
  new LibraryPanel(librarySection, state);
  new CameraPanel(cameraSection, state, (file) => imagesPanel.addFiles([file]));
  new RuntimePanel(runtimeSection, state, support.adapterDescription);
  state.on('cache', () => void modelPanel.refreshCached());
  document.body.dataset.ready = 'true';
  await modelPanel.autoLoad();
}

start().catch((error: unknown) => {
  // Last resort: never leave a blank page.
  const { name, message } = describeError(error);
  const main = document.getElementById('main');
  if (main) replaceChildren(main, el('p', { class: 'notice error', attrs: { role: 'alert' } }, `The demo failed to start (${name}): ${message}`));
});
