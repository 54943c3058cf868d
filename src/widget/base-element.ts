// What the elements share: attributes naming the model, loading the page's shared model with progress, the
// status line, events and errors (CocaModelElement); and for the image elements the image (src or the `image`
// property) and one run at a time, a new src cancelling the old run (CocaElement).
import type { Coca, LoadProgress } from '../client/types';
import { DEFAULT_MODEL, sharedCoca, type ModelRequest } from './shared-model';
import { BASE_STYLES } from './styles';

export interface CocaErrorDetail {
  name: string;
  message: string;
}

/** Events every element sends; all bubble and cross the shadow boundary. */
export interface CocaBaseEventMap {
  'coca-progress': CustomEvent<LoadProgress>;
  'coca-error': CustomEvent<CocaErrorDetail>;
}

const MODEL_ATTRIBUTES = ['model', 'dtype', 'vocab', 'revision'] as const;

/** An element that uses the page's shared model: its attributes, its load with progress, a status line, events. */
export abstract class CocaModelElement extends HTMLElement {
  /** The model elements use when they have no `model` attribute. Set it once before the elements connect. */
  static defaultModel = DEFAULT_MODEL;

  static get observedAttributes(): string[] {
    return [...MODEL_ATTRIBUTES];
  }

  protected readonly root: ShadowRoot;
  protected readonly statusText: HTMLElement;
  protected readonly progressBar: HTMLProgressElement;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.progressBar = document.createElement('progress');
    this.progressBar.setAttribute('part', 'progress');
    this.progressBar.max = 1;
    this.progressBar.hidden = true;
    this.statusText = document.createElement('span');
    this.statusText.className = 'status-text';
    const status = document.createElement('div');
    status.className = 'status';
    status.setAttribute('part', 'status');
    status.setAttribute('role', 'status');
    status.append(this.progressBar, this.statusText);
    this.root.append(status);
  }

  /**
   * Puts the element's own markup above the status line, with its CSS after the shared rules. Subclasses call
   * it from their constructor (their fields exist only after super() returns).
   */
  protected mount(body: Node, css: string): void {
    const style = document.createElement('style');
    style.textContent = BASE_STYLES + css;
    this.root.prepend(style, body);
  }

  get modelRequest(): ModelRequest {
    const dtype = this.getAttribute('dtype');
    const request: ModelRequest = { model: this.getAttribute('model')?.trim() || (this.constructor as typeof CocaModelElement).defaultModel };
    if (dtype !== null) request.dtype = dtype;
    const vocab = this.getAttribute('vocab');
    if (vocab) request.vocab = new URL(vocab, document.baseURI).href;
    const revision = this.getAttribute('revision');
    if (revision) request.revision = revision;
    // Base URLs are resolved against the page, since the worker resolves them against its own (blob) URL.
    if (/^(\.|\/|https?:)/.test(request.model)) request.model = new URL(request.model, document.baseURI).href;
    return request;
  }

  /** The page's shared model for this element's attributes, with its load's progress on the status line. */
  protected async loadModel(signal: AbortSignal): Promise<Coca> {
    const request = this.modelRequest;
    let reported = false;
    const coca = await sharedCoca(request, (progress) => {
      if (signal.aborted) return;
      reported = true;
      this.progressBar.hidden = false;
      if (progress.bytesTotal > 0) this.progressBar.value = Math.min(1, progress.bytesDone / progress.bytesTotal);
      else this.progressBar.removeAttribute('value');
      this.setStatus(`Loading the model: ${progress.phase}${progress.bytesTotal > 0 ? ` ${Math.round((100 * progress.bytesDone) / progress.bytesTotal)}%` : ''}`);
      this.emit('coca-progress', progress);
    });
    if (reported) this.progressBar.hidden = true;
    return coca;
  }

  protected setStatus(text: string, isError = false): void {
    this.statusText.textContent = text;
    this.statusText.classList.toggle('error', isError);
    this.statusText.setAttribute('part', isError ? 'status-text error' : 'status-text');
  }

  /** Shows the error on the status line and sends it as `coca-error`. */
  protected reportError(error: unknown): void {
    const detail = errorDetail(error);
    this.setStatus(`${detail.name}: ${detail.message}`, true);
    this.emit('coca-error', detail);
  }

  protected emit<T>(type: string, detail: T): void {
    this.dispatchEvent(new CustomEvent<T>(type, { detail, bubbles: true, composed: true }));
  }
}

/** An element that runs the model on one image (`src` or the `image` property), again whenever either changes. */
export abstract class CocaElement extends CocaModelElement {
  static override get observedAttributes(): string[] {
    return ['src', ...super.observedAttributes];
  }

  private current: AbortController | null = null;
  private scheduled = false;
  private imageBlob: Blob | null = null;
  private objectUrl: string | null = null;

  /** Runs the model on the image; called again whenever an attribute or the image changes. */
  protected abstract run(coca: Coca, image: Blob, signal: AbortSignal): Promise<void>;
  /** Shows the image (or clears it when null). */
  protected abstract showImage(url: string | null): void;

  /** An image given directly (File, Blob) instead of `src`; it wins over the attribute. */
  get image(): Blob | null {
    return this.imageBlob;
  }

  set image(blob: Blob | null) {
    this.imageBlob = blob;
    this.schedule();
  }

  connectedCallback(): void {
    this.schedule();
  }

  disconnectedCallback(): void {
    this.current?.abort();
    this.current = null;
  }

  attributeChangedCallback(_name: string, oldValue: string | null, newValue: string | null): void {
    if (oldValue !== newValue && this.isConnected) this.schedule();
  }

  /** Coalesces several attribute changes in one task into one run. */
  protected schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.isConnected) void this.update();
    });
  }

  private async update(): Promise<void> {
    this.current?.abort();
    const controller = new AbortController();
    this.current = controller;
    const { signal } = controller;
    const src = this.getAttribute('src');
    if (!this.imageBlob && !src) {
      this.showImage(null);
      this.setStatus('');
      return;
    }
    this.setAttribute('aria-busy', 'true');
    try {
      const [image, coca] = await Promise.all([this.loadImage(src, signal), this.loadModel(signal)]);
      if (signal.aborted) return;
      this.setStatus('Working…');
      await this.run(coca, image, signal);
      if (!signal.aborted) this.setStatus('');
    } catch (error) {
      if (signal.aborted) return;
      this.reportError(error);
    } finally {
      if (this.current === controller) {
        this.current = null;
        this.removeAttribute('aria-busy');
        this.progressBar.hidden = true;
      }
    }
  }

  private async loadImage(src: string | null, signal: AbortSignal): Promise<Blob> {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
    if (this.imageBlob) {
      this.objectUrl = URL.createObjectURL(this.imageBlob);
      this.showImage(this.objectUrl);
      return this.imageBlob;
    }
    const url = new URL(src!, document.baseURI).href;
    this.showImage(url);
    let response: Response;
    try {
      response = await fetch(url, { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw namedError('NetworkError', `could not fetch the image ${url} (offline, or the server does not allow cross-origin reads)`);
    }
    if (!response.ok) throw namedError('NetworkError', `the image ${url} answered ${response.status} ${response.statusText}`);
    return response.blob();
  }

}

/** An element of the shadow tree with its `part` name, so pages can style it with ::part(). */
export function part<K extends keyof HTMLElementTagNameMap>(tag: K, name: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  element.setAttribute('part', name);
  return element;
}

function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

function errorDetail(error: unknown): CocaErrorDetail {
  if (error instanceof Error) return { name: error.name || 'Error', message: error.message };
  return { name: 'Error', message: String(error) };
}
