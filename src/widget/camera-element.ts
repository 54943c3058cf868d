// <coca-camera labels="cat, dog, cup"></coca-camera>: the camera, with the labels' zero-shot probabilities for
// every frame the model can take, frames per second and latency. It starts on its button (or at once with
// `autostart`), uses the page's shared model, and releases the camera when stopped, removed from the page, or
// when the page is hidden (and takes it again when the page is shown, if it was running).
import type { Coca, FrameClassification } from '../client/types';
import { CameraFeed, type FrameRate } from './camera-feed';
import { CocaModelElement, part, type CocaBaseEventMap } from './base-element';
import { DEFAULT_TEMPLATE, parseLabelList } from '../client/labels';
import { renderScores, SCORES_STYLES } from './scores';

/** A frame's scores (as <coca-similarity>'s result, plus the frame's latency) and the current frame rate. */
export interface CocaCameraEventDetail extends FrameClassification, FrameRate {}

export interface CocaCameraEventMap extends CocaBaseEventMap {
  'coca-result': CustomEvent<CocaCameraEventDetail>;
}

const CAMERA_STYLES = `${SCORES_STYLES}
video {
  display: block;
  width: 100%;
  max-height: var(--coca-image-max-height, 240px);
  object-fit: contain;
  background: var(--coca-video-background, #000);
  border-radius: var(--coca-radius, 8px);
}
video:not(.live) { display: none; }
.controls { display: flex; align-items: center; gap: 0.75rem; flex-wrap: wrap; }
button {
  font: inherit;
  color: var(--coca-button-color, #fff);
  background: var(--coca-accent, #4b3fc7);
  border: 0;
  border-radius: var(--coca-radius, 8px);
  padding: 0.35rem 0.8rem;
  cursor: pointer;
}
.rate { font-size: 0.85em; color: var(--coca-muted-color, #6b6880); font-variant-numeric: tabular-nums; }`;

export class CocaCameraElement extends CocaModelElement {
  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, 'labels', 'template'];
  }

  private readonly video = part('video', 'video');
  private readonly list = part('ol', 'results');
  private readonly button = part('button', 'button');
  private readonly rateText = part('span', 'rate');
  private readonly feed = new CameraFeed(this.video);
  /** The model, once loaded for the current model attributes. */
  private coca: Coca | null = null;
  private loading: AbortController | null = null;
  private last: CocaCameraEventDetail | null = null;
  /** The camera ran when the page was hidden: it starts again when the page is shown. */
  private resumeWhenShown = false;
  private readonly onVisibility = (): void => this.visibilityChanged();

  constructor() {
    super();
    this.video.setAttribute('aria-label', 'Camera');
    this.list.setAttribute('aria-live', 'polite');
    this.button.type = 'button';
    this.button.textContent = 'Start camera';
    this.button.addEventListener('click', () => (this.feed.running ? this.stop() : void this.start()));
    this.rateText.className = 'rate';
    const controls = document.createElement('div');
    controls.className = 'controls';
    controls.append(this.button, this.rateText);
    const figure = part('figure', 'figure');
    figure.append(this.video, controls, this.list);
    this.mount(figure, CAMERA_STYLES);
  }

  /** The last frame's scores, or null before the first. */
  get result(): CocaCameraEventDetail | null {
    return this.last;
  }

  /** Whether the camera is on. */
  get running(): boolean {
    return this.feed.running;
  }

  connectedCallback(): void {
    document.addEventListener('visibilitychange', this.onVisibility);
    if (this.hasAttribute('autostart') && !document.hidden) void this.start();
  }

  disconnectedCallback(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.resumeWhenShown = false;
    this.stop();
  }

  attributeChangedCallback(name: string, oldValue: string | null, newValue: string | null): void {
    if (oldValue === newValue || !this.feed.running) return;
    // Labels and template are read at every frame; another model is loaded and scoring resumes with it.
    if (name !== 'labels' && name !== 'template') void this.start();
  }

  /** Starts the camera and scores its frames; failures become the status line and a `coca-error` event. */
  async start(): Promise<void> {
    this.stop();
    const loading = new AbortController();
    this.loading = loading;
    this.button.textContent = 'Stop camera';
    this.setStatus('Starting the camera…');
    try {
      const [coca] = await Promise.all([this.loadModel(loading.signal), this.feed.start()]);
      if (loading.signal.aborted) return;
      this.coca = coca;
      this.video.classList.add('live');
      this.setStatus('');
      this.feed.classify(
        () => this.job(),
        (result, rate) => this.show(result, rate),
        (error) => this.reportError(error),
      );
    } catch (error) {
      if (loading.signal.aborted) return;
      this.stop();
      this.reportError(error);
    }
  }

  /** Stops the camera and releases it. */
  stop(): void {
    this.loading?.abort();
    this.loading = null;
    this.feed.stop();
    this.coca = null;
    this.video.classList.remove('live');
    this.button.textContent = 'Start camera';
    this.rateText.textContent = '';
  }

  private job(): { coca: Coca; labels: string[]; template: string } | null {
    const labels = parseLabelList(this.getAttribute('labels'));
    if (!this.coca) return null;
    if (labels.length === 0) {
      this.setStatus('Add labels="cat, dog, …" to score the frames.');
      return null;
    }
    return { coca: this.coca, labels, template: this.getAttribute('template') ?? DEFAULT_TEMPLATE };
  }

  private show(result: FrameClassification, rate: FrameRate): void {
    this.last = { ...result, ...rate };
    this.setStatus('');
    renderScores(this.list, result);
    this.rateText.textContent = `${rate.fps.toFixed(1)} frames/s · ${Math.round(rate.latencyMs)} ms`;
    this.emit<CocaCameraEventDetail>('coca-result', this.last);
  }

  private visibilityChanged(): void {
    if (document.hidden && this.feed.running) {
      this.resumeWhenShown = true;
      this.stop();
    } else if (!document.hidden && this.resumeWhenShown) {
      this.resumeWhenShown = false;
      void this.start();
    }
  }
}
