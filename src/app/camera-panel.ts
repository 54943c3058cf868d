// The live camera: pick a camera, watch the labels' zero-shot probabilities follow it frame by frame (each frame
// preprocessed on the GPU; frames the adapter cannot keep up with are skipped, never queued), with frames per
// second and latency; caption the moment (once, or every N seconds); put a snapshot into the Images panel. The
// camera runs while the panel is open and the page visible: closing the panel or hiding the page releases it.
import type { FrameClassification } from '../client/types';
import { DEFAULT_TEMPLATE } from '../options';
import { CameraFeed, type FrameJob, type FrameRate } from '../widget/camera-feed';
import { renderScores } from '../widget/scores';
import { describeError, el, replaceChildren } from './dom';
import { formatDuration } from './format';
import { parseLabels } from './similarity-panel';
import type { AppState } from './state';

const DEFAULT_LABELS = ['person', 'cat', 'dog', 'cup', 'phone', 'book', 'plant', 'keyboard'];
/** Default and smallest interval of the automatic caption, in seconds. */
const CAPTION_EVERY_S = 10;
const MIN_CAPTION_EVERY_S = 2;

export class CameraPanel {
  private readonly details: HTMLDetailsElement;
  private readonly video: HTMLVideoElement;
  private readonly feed: CameraFeed;
  private readonly device: HTMLSelectElement;
  private readonly startButton: HTMLButtonElement;
  private readonly snapshotButton: HTMLButtonElement;
  private readonly captionButton: HTMLButtonElement;
  private readonly autoCaption: HTMLInputElement;
  private readonly captionEvery: HTMLInputElement;
  private readonly labels: HTMLTextAreaElement;
  private readonly useTemplate: HTMLInputElement;
  private readonly template: HTMLInputElement;
  private readonly results: HTMLOListElement;
  private readonly rate: HTMLElement;
  private readonly status: HTMLElement;
  private readonly error: HTMLElement;
  private readonly hint: HTMLElement;
  private readonly captionText: HTMLElement;
  private readonly captionTime: HTMLElement;
  private captioning = false;
  private captionTimer: ReturnType<typeof setInterval> | null = null;
  /** The camera ran when the page was hidden: it starts again when the page is shown. */
  private resumeWhenShown = false;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
    private readonly addSnapshot: (file: File) => Promise<void>,
  ) {
    this.video = el('video', { id: 'camera-video', class: 'camera-video', attrs: { 'aria-label': 'Camera preview', muted: true, playsinline: true } });
    this.feed = new CameraFeed(this.video);
    this.device = el('select', { id: 'camera-device', on: { change: () => void this.start(this.device.value || undefined) } }, el('option', { attrs: { value: '' } }, 'Default camera'));
    this.startButton = el('button', { id: 'camera-start', attrs: { type: 'button' }, on: { click: () => (this.feed.running ? this.stop() : void this.start(this.device.value || undefined)) } }, 'Start camera');
    this.snapshotButton = el('button', { id: 'camera-snapshot', class: 'secondary', attrs: { type: 'button' }, on: { click: () => void this.snapshot() } }, 'Snapshot');
    this.captionButton = el('button', { id: 'camera-caption-button', attrs: { type: 'button' }, on: { click: () => void this.caption() } }, 'Caption this moment');
    this.autoCaption = el('input', { id: 'camera-auto-caption', attrs: { type: 'checkbox' }, on: { change: () => this.scheduleCaptions() } });
    this.captionEvery = el('input', {
      id: 'camera-caption-every',
      class: 'number-input',
      attrs: { type: 'number', min: MIN_CAPTION_EVERY_S, step: 1, value: CAPTION_EVERY_S, 'aria-label': 'Seconds between captions' },
      on: { change: () => this.scheduleCaptions() },
    });
    this.labels = el('textarea', { id: 'camera-labels', attrs: { rows: 5, spellcheck: false, 'aria-describedby': 'camera-labels-hint' } });
    this.labels.value = DEFAULT_LABELS.join('\n');
    this.useTemplate = el('input', { id: 'camera-use-template', attrs: { type: 'checkbox', checked: true }, on: { change: () => (this.template.disabled = !this.useTemplate.checked) } });
    this.template = el('input', { id: 'camera-template', attrs: { type: 'text', value: DEFAULT_TEMPLATE } });
    this.results = el('ol', { id: 'camera-results', class: 'camera-results', attrs: { 'aria-live': 'off', 'aria-label': 'Probabilities for the current frame' } });
    this.rate = el('p', { id: 'camera-rate', class: 'meta', attrs: { 'aria-live': 'off' } });
    this.status = el('p', { id: 'camera-status', class: 'hint', attrs: { role: 'status' } });
    this.error = el('p', { id: 'camera-error', class: 'error', attrs: { role: 'alert' } });
    this.hint = el('p', { id: 'camera-hint', class: 'hint' });
    this.captionText = el('p', { id: 'camera-caption', class: 'caption-text', attrs: { 'aria-live': 'polite', 'aria-atomic': 'true' } });
    this.captionTime = el('p', { id: 'camera-caption-time', class: 'meta' });
    this.details = el(
      'details',
      { id: 'camera-details', on: { toggle: () => this.toggled() } },
      el('summary', {}, el('h2', { id: 'camera-heading' }, '5 · Camera')),
      el(
        'div',
        { class: 'camera-grid' },
        el(
          'div',
          { class: 'camera-view' },
          this.video,
          el('div', { class: 'field' }, el('label', { attrs: { for: 'camera-device' } }, 'Camera'), this.device),
          el('div', { class: 'button-row' }, this.startButton, this.snapshotButton),
          this.status,
          this.error,
        ),
        el(
          'div',
          { class: 'camera-scores' },
          el(
            'div',
            { class: 'field' },
            el('label', { attrs: { for: 'camera-labels' } }, 'Labels'),
            el('p', { class: 'hint', id: 'camera-labels-hint' }, 'One per line; the probabilities are a softmax over them, for every frame.'),
            this.labels,
          ),
          el(
            'div',
            { class: 'field checkbox-field' },
            el('label', {}, this.useTemplate, ' Put each label into the template'),
            el('label', { class: 'visually-hidden', attrs: { for: 'camera-template' } }, 'Template'),
            this.template,
          ),
          this.hint,
          this.rate,
          this.results,
          el('div', { class: 'button-row' }, this.captionButton, el('label', { class: 'inline-check' }, this.autoCaption, ' every ', this.captionEvery, ' s')),
          el('blockquote', { class: 'caption-box' }, this.captionText),
          this.captionTime,
        ),
      ),
    );
    replaceChildren(root, this.details);
    document.addEventListener('visibilitychange', () => this.visibilityChanged());
    state.on('model', () => this.modelChanged());
    this.renderState();
  }

  /** Starts the camera (a chosen one, or the browser's default) and scores its frames. */
  async start(deviceId?: string): Promise<void> {
    this.error.textContent = '';
    this.status.textContent = 'Starting the camera…';
    this.startButton.textContent = 'Stop camera';
    try {
      await this.feed.start(deviceId);
    } catch (error) {
      const { name, message } = describeError(error);
      this.error.textContent = `${name}: ${message}`;
      this.status.textContent = '';
      this.renderState();
      return;
    }
    if (!this.feed.running) return;
    const [track] = this.feed.tracks;
    const settings = track?.getSettings();
    this.status.textContent = `${track?.label || 'Camera'}${settings?.width ? ` · ${settings.width}×${settings.height}` : ''}`;
    await this.listCameras(settings?.deviceId);
    this.classify();
    this.scheduleCaptions();
    this.renderState();
  }

  /** Stops the camera and releases it (every track ended). */
  stop(): void {
    this.feed.stop();
    this.status.textContent = '';
    this.rate.textContent = '';
    this.scheduleCaptions();
    this.renderState();
  }

  private toggled(): void {
    if (this.details.open && !this.feed.running) void this.start(this.device.value || undefined);
    else if (!this.details.open) this.stop();
  }

  private visibilityChanged(): void {
    if (document.hidden && this.feed.running) {
      this.resumeWhenShown = true;
      this.stop();
      this.status.textContent = 'Camera stopped while the page was hidden.';
    } else if (!document.hidden && this.resumeWhenShown) {
      this.resumeWhenShown = false;
      if (this.details.open) void this.start(this.device.value || undefined);
    }
  }

  private modelChanged(): void {
    if (this.feed.running) this.classify();
    this.renderState();
  }

  private renderState(): void {
    const running = this.feed.running;
    this.video.hidden = !running;
    this.startButton.textContent = running ? 'Stop camera' : 'Start camera';
    this.snapshotButton.disabled = !running;
    this.captionButton.disabled = !running || !this.state.coca || this.captioning;
    this.hint.textContent = !this.state.coca ? 'Load a model to see the labels’ probabilities.' : '';
  }

  /** The cameras the browser lists, the running one selected (labels appear once access is granted). */
  private async listCameras(current: string | undefined): Promise<void> {
    const cameras = await CameraFeed.cameras();
    replaceChildren(
      this.device,
      ...cameras.map((camera, i) => el('option', { attrs: { value: camera.deviceId, selected: camera.deviceId === current } }, camera.label || `Camera ${i + 1}`)),
    );
    if (cameras.length === 0) this.device.append(el('option', { attrs: { value: '' } }, 'Default camera'));
  }

  private job(): FrameJob | null {
    const coca = this.state.coca;
    const labels = parseLabels(this.labels.value);
    if (!coca || labels.length === 0) return null;
    return { coca, labels, template: this.useTemplate.checked ? this.template.value : '{label}' };
  }

  private classify(): void {
    this.feed.classify(
      () => this.job(),
      (result, rate) => this.show(result, rate),
      (error) => {
        const { name, message } = describeError(error);
        this.error.textContent = `${name}: ${message} (scoring stopped; edit the labels or restart the camera to try again)`;
        this.labels.addEventListener('input', () => this.classify(), { once: true });
      },
    );
  }

  private show(result: FrameClassification, rate: FrameRate): void {
    renderScores(this.results, result);
    this.results.dataset.texts = JSON.stringify(result.texts);
    this.rate.textContent = `${rate.fps.toFixed(1)} frames/s · latency ${formatDuration(rate.latencyMs)}`;
    this.rate.dataset.fps = String(rate.fps);
  }

  private async caption(): Promise<void> {
    const coca = this.state.coca;
    if (!coca || !this.feed.running || this.captioning) return;
    this.captioning = true;
    this.renderState();
    this.captionText.textContent = '';
    this.captionText.setAttribute('aria-busy', 'true');
    this.root.dataset.caption = 'running';
    try {
      const result = await coca.captionFrame(this.video, {
        strategy: 'greedy',
        onToken: (token) => (this.captionText.textContent = `${this.captionText.textContent ?? ''}${token.text}`),
      });
      this.captionText.textContent = result.text;
      this.captionTime.textContent = `${new Date().toLocaleTimeString()} · ${result.tokens.length} tokens in ${formatDuration(result.ms)}`;
      this.root.dataset.caption = 'done';
    } catch (error) {
      const { name, message } = describeError(error);
      this.error.textContent = `${name}: ${message}`;
      this.root.dataset.caption = 'error';
    } finally {
      this.captionText.removeAttribute('aria-busy');
      this.captioning = false;
      this.renderState();
    }
  }

  /** A caption every N seconds while the box is ticked and the camera runs (a caption still running is not repeated). */
  private scheduleCaptions(): void {
    if (this.captionTimer !== null) clearInterval(this.captionTimer);
    this.captionTimer = null;
    if (!this.autoCaption.checked || !this.feed.running) return;
    const seconds = Math.max(MIN_CAPTION_EVERY_S, Number(this.captionEvery.value) || CAPTION_EVERY_S);
    this.captionTimer = setInterval(() => void this.caption(), seconds * 1000);
    void this.caption();
  }

  /** The frame now showing, as a PNG in the Images panel. */
  private async snapshot(): Promise<void> {
    if (!this.feed.running || this.video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
    const canvas = el('canvas');
    canvas.width = this.video.videoWidth;
    canvas.height = this.video.videoHeight;
    canvas.getContext('2d')?.drawImage(this.video, 0, 0);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) {
      this.error.textContent = 'The snapshot could not be made (the browser gave no image).';
      return;
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    await this.addSnapshot(new File([blob], `camera-${stamp}.png`, { type: 'image/png' }));
  }
}
