// Images in: file picker, drag and drop, paste, URL (and the sample images in development). Each image shows
// its thumbnail and, once a model is loaded, the center crop the model actually sees.
import { describeLeadingBytes } from '../image/header';
import { describeError, el, replaceChildren } from './dom';
import { DEV_SAMPLE_IMAGES } from './models';
import type { AppState, ImageEntry } from './state';

/** Largest image file accepted from the page (a 100-megapixel PNG is well under this). */
const MAX_IMAGE_FILE_BYTES = 200e6;

export class ImagesPanel {
  private readonly list: HTMLUListElement;
  private readonly error: HTMLElement;
  private readonly status: HTMLElement;
  private readonly dropZone: HTMLElement;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
  ) {
    const fileInput = el('input', {
      id: 'image-files',
      class: 'visually-hidden-file',
      attrs: { type: 'file', accept: 'image/*', multiple: true, 'aria-describedby': 'image-drop-hint' },
      on: {
        change: (event) => {
          const input = event.target as HTMLInputElement;
          void this.addFiles([...(input.files ?? [])]);
          input.value = '';
        },
      },
    });
    this.dropZone = el(
      'div',
      { class: 'drop-zone', id: 'image-drop-zone' },
      el('label', { class: 'button', attrs: { for: 'image-files' } }, 'Choose images…'),
      fileInput,
      el('p', { id: 'image-drop-hint', class: 'hint' }, 'or drop them here, or paste one (Ctrl+V / ⌘V) anywhere on the page.'),
    );
    const urlInput = el('input', { id: 'image-url', attrs: { type: 'url', placeholder: 'https://…/photo.jpg', inputmode: 'url', required: true } });
    const urlForm = el(
      'form',
      {
        class: 'inline-form',
        on: {
          submit: (event) => {
            event.preventDefault();
            const value = urlInput.value.trim();
            if (value) void this.addFromUrl(value).then((ok) => ok && (urlInput.value = ''));
          },
        },
      },
      el('label', { attrs: { for: 'image-url' } }, 'Image URL'),
      el('div', { class: 'input-with-button' }, urlInput, el('button', { attrs: { type: 'submit' }, class: 'secondary' }, 'Add')),
    );
    const samples = import.meta.env.DEV
      ? el(
          'div',
          { class: 'button-row samples' },
          el('span', { class: 'hint' }, 'dev samples:'),
          ...DEV_SAMPLE_IMAGES.map((name) =>
            el('button', { class: 'secondary small', attrs: { type: 'button' }, on: { click: () => void this.addFromUrl(`/__shared/images/${name}`) } }, name),
          ),
        )
      : null;
    this.list = el('ul', { id: 'image-list', class: 'image-list', attrs: { 'aria-label': 'Images' } });
    this.error = el('p', { id: 'image-error', class: 'error', attrs: { role: 'alert' } });
    this.status = el('p', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
    replaceChildren(root, el('h2', { id: 'images-heading' }, '2 · Images'), this.dropZone, urlForm, samples, this.error, this.list, this.status);

    this.listenForDrops();
    document.addEventListener('paste', (event) => this.onPaste(event));
    state.on('images', () => this.render());
    state.on('selection', () => this.renderSelection());
    state.on('model', () => void this.computeModelViews());
  }

  private listenForDrops(): void {
    // The whole page accepts drops (so a missed target never navigates away to the file); the zone lights up.
    let depth = 0;
    document.addEventListener('dragenter', (event) => {
      if (!hasFiles(event)) return;
      depth++;
      this.dropZone.classList.add('dragging');
    });
    document.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) this.dropZone.classList.remove('dragging');
    });
    document.addEventListener('dragover', (event) => {
      if (hasFiles(event)) event.preventDefault();
    });
    document.addEventListener('drop', (event) => {
      if (!hasFiles(event)) return;
      depth = 0;
      this.dropZone.classList.remove('dragging');
      // The Library view takes drops on its own zone.
      if (event.defaultPrevented) return;
      event.preventDefault();
      void this.addFiles([...(event.dataTransfer?.files ?? [])]);
    });
  }

  private onPaste(event: ClipboardEvent): void {
    const target = event.target as HTMLElement | null;
    const files = [...(event.clipboardData?.files ?? [])];
    // Text pasted into a field stays text; an image pasted anywhere becomes an image.
    if (files.length === 0 || (target && /^(INPUT|TEXTAREA)$/.test(target.tagName) && files.every((f) => !f.type.startsWith('image/')))) return;
    event.preventDefault();
    void this.addFiles(files.map((f, i) => (f.name && f.name !== 'image.png' ? f : new File([f], `pasted-${Date.now()}-${i}.png`, { type: f.type }))));
  }

  async addFiles(files: File[]): Promise<void> {
    this.error.textContent = '';
    for (const file of files) await this.addBlob(file, file.name || 'image');
  }

  async addFromUrl(url: string): Promise<boolean> {
    this.error.textContent = '';
    let parsed: URL;
    try {
      parsed = new URL(url, location.href);
    } catch {
      this.error.textContent = `${url} is not a valid URL: give the image's full address, like https://example.com/photo.jpg.`;
      return false;
    }
    const name = fileNameOf(parsed);
    let response: Response;
    try {
      response = await fetch(url, { mode: 'cors' });
    } catch {
      this.error.textContent = `Could not fetch ${url}: the server is unreachable or does not allow other sites to read its images (CORS). Download the image and choose the file instead.`;
      return false;
    }
    if (!response.ok) {
      this.error.textContent = `Could not fetch ${url}: the server answered ${response.status} ${response.statusText}.`;
      return false;
    }
    return this.addBlob(await response.blob(), name);
  }

  /** Checks that the browser can decode the blob before it joins the list; a bad file leaves the page as it was. */
  private async addBlob(blob: Blob, name: string): Promise<boolean> {
    if (blob.size > MAX_IMAGE_FILE_BYTES) {
      this.error.textContent = `“${name}” is too large (${Math.round(blob.size / 1e6)} MB); images up to ${MAX_IMAGE_FILE_BYTES / 1e6} MB are accepted.`;
      return false;
    }
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(blob);
    } catch {
      const head = new Uint8Array(await blob.slice(0, 8).arrayBuffer());
      this.error.textContent =
        blob.size === 0
          ? `“${name}” is empty.`
          : `“${name}” is not an image this browser can decode (it starts with ${describeLeadingBytes(head)}). Try a PNG, JPEG, WebP or GIF file.`;
      return false;
    }
    const { width, height } = bitmap;
    bitmap.close();
    const image = this.state.addImage({ name, blob, objectUrl: URL.createObjectURL(blob), width, height });
    this.status.textContent = `Added ${name}, ${width} by ${height} pixels.`;
    await this.computeModelView(image);
    return true;
  }

  private async computeModelViews(): Promise<void> {
    for (const image of [...this.state.images]) {
      image.modelView = undefined;
      await this.computeModelView(image);
    }
    this.render();
  }

  private async computeModelView(image: ImageEntry): Promise<void> {
    const coca = this.state.coca;
    if (!coca) return;
    try {
      const started = performance.now();
      image.modelView = await coca.modelView(image.blob);
      this.state.recordTiming('modelView', 'preprocess (center crop)', performance.now() - started);
      this.render();
    } catch (error) {
      const { name, message } = describeError(error);
      this.error.textContent = `“${image.name}” could not be read by the model (${name}): ${message}`;
      this.state.removeImage(image.id);
    }
  }

  private render(): void {
    const coca = this.state.coca;
    const size = modelImageSize(coca?.info.config);
    replaceChildren(
      this.list,
      ...this.state.images.map((image) => {
        const radio = el('input', {
          id: `select-image-${image.id}`,
          attrs: { type: 'radio', name: 'selected-image', value: image.id, checked: image.id === this.state.selectedImageId },
          on: { change: () => this.state.select(image.id) },
        });
        const view = image.modelView ? imageDataCanvas(image.modelView, `What the model sees: the ${image.modelView.width} by ${image.modelView.height} center crop of ${image.name}`) : null;
        return el(
          'li',
          { class: 'image-item', dataset: { imageId: image.id } },
          el(
            'figure',
            { class: 'thumbs' },
            el('img', { class: 'thumb', attrs: { src: image.objectUrl, alt: image.name, loading: 'lazy' } }),
            view ? el('div', { class: 'model-view' }, view, el('span', { class: 'badge' }, `model sees ${image.modelView!.width}²`)) : null,
          ),
          el(
            'div',
            { class: 'image-meta' },
            el('label', { attrs: { for: `select-image-${image.id}` } }, radio, el('span', { class: 'image-name' }, image.name)),
            el('span', { class: 'hint' }, `${image.width}×${image.height}${size ? ` → ${size}×${size}` : ''}`),
            el('button', { class: 'link-button', attrs: { type: 'button', 'aria-label': `Remove ${image.name}` }, on: { click: () => this.state.removeImage(image.id) } }, 'Remove'),
          ),
        );
      }),
    );
    if (this.state.images.length === 0) this.list.append(el('li', { class: 'empty hint' }, 'No images yet.'));
  }

  private renderSelection(): void {
    for (const radio of this.list.querySelectorAll<HTMLInputElement>('input[type=radio]')) radio.checked = Number(radio.value) === this.state.selectedImageId;
  }
}

/** The URL's last path segment, percent-decoded where that is valid ('photo%zz.png' stays as written). */
function fileNameOf(url: URL): string {
  const segment = url.pathname.split('/').pop() || 'image';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function hasFiles(event: DragEvent): boolean {
  return [...(event.dataTransfer?.types ?? [])].includes('Files');
}

function imageDataCanvas(image: ImageData, label: string): HTMLCanvasElement {
  const canvas = el('canvas', { class: 'model-view-canvas', attrs: { role: 'img', 'aria-label': label } });
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d')?.putImageData(image, 0, 0);
  return canvas;
}

/** The model's input size from its config (open_clip_config.json layout), when present. */
function modelImageSize(config: unknown): number | undefined {
  const c = config as { vision?: { imageSize?: number }; model_cfg?: { vision_cfg?: { image_size?: number } } } | undefined;
  return c?.vision?.imageSize ?? c?.model_cfg?.vision_cfg?.image_size;
}
