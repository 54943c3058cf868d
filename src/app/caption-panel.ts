// Caption the selected image, streaming tokens as the decoder produces them.
import type { CaptionStrategy } from '../client/types';
import { resolveStrategy } from '../options';
import { describeError, el, replaceChildren } from './dom';
import { formatDuration } from './format';
import type { AppState } from './state';

export const STRATEGIES: readonly { value: CaptionStrategy; label: string }[] = [
  { value: 'greedy', label: 'Greedy (deterministic)' },
  { value: 'beam-openclip', label: 'Beam search (OpenCLIP’s default)' },
  { value: 'beam', label: 'Beam search' },
  { value: 'sample', label: 'Sampling (varied)' },
];

export class CaptionPanel {
  private readonly button: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly strategy: HTMLSelectElement;
  private readonly text: HTMLElement;
  private readonly time: HTMLElement;
  private readonly error: HTMLElement;
  private readonly hint: HTMLElement;
  private running: AbortController | null = null;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
  ) {
    this.strategy = el('select', { id: 'caption-strategy' }, ...STRATEGIES.map((s) => el('option', { attrs: { value: s.value } }, s.label)));
    this.button = el('button', { id: 'caption-button', attrs: { type: 'button' }, on: { click: () => void this.caption() } }, 'Caption the selected image');
    this.stopButton = el('button', { id: 'caption-stop', class: 'secondary', attrs: { type: 'button', hidden: true }, on: { click: () => this.running?.abort() } }, 'Stop');
    this.hint = el('p', { class: 'hint', id: 'caption-hint' });
    // The caption is a live region: screen readers read the finished caption (aria-busy holds it while streaming).
    this.text = el('p', { id: 'caption-text', class: 'caption-text', attrs: { 'aria-live': 'polite', 'aria-atomic': 'true' } });
    this.time = el('p', { id: 'caption-time', class: 'meta' });
    this.error = el('p', { id: 'caption-error', class: 'error', attrs: { role: 'alert' } });
    replaceChildren(
      root,
      el('h2', { id: 'caption-heading' }, '3 · Caption'),
      el('div', { class: 'field' }, el('label', { attrs: { for: 'caption-strategy' } }, 'Decoding'), this.strategy),
      el('div', { class: 'button-row' }, this.button, this.stopButton),
      this.hint,
      el('blockquote', { class: 'caption-box' }, this.text),
      this.time,
      this.error,
    );
    for (const event of ['model', 'images', 'selection'] as const) state.on(event, () => this.renderState());
    this.renderState();
  }

  private renderState(): void {
    const ready = this.state.coca !== null && this.state.selectedImage !== undefined;
    this.button.disabled = !ready || this.running !== null;
    this.hint.textContent = !this.state.coca ? 'Load a model first.' : !this.state.selectedImage ? 'Add an image first.' : `Image: ${this.state.selectedImage.name}`;
  }

  async caption(): Promise<void> {
    const coca = this.state.coca;
    const image = this.state.selectedImage;
    if (!coca || !image || this.running) return;
    this.running = new AbortController();
    this.renderState();
    this.stopButton.hidden = false;
    this.error.textContent = '';
    this.time.textContent = '';
    this.text.textContent = '';
    this.text.setAttribute('aria-busy', 'true');
    this.root.dataset.state = 'running';
    let tokens = 0;
    const started = performance.now();
    try {
      const result = await coca.caption(image.blob, {
        strategy: resolveStrategy(this.strategy.value),
        signal: this.running.signal,
        onToken: (token) => {
          tokens++;
          // Pieces arrive as decoded text; the finished caption below replaces them with the exact decode.
          this.text.textContent = `${this.text.textContent ?? ''}${token.text}`;
          this.time.textContent = `${tokens} tokens · ${formatDuration(performance.now() - started)}`;
        },
      });
      this.text.textContent = result.text;
      const steps = Math.max(1, result.tokens.length - 1);
      this.time.textContent = `${result.tokens.length} tokens in ${formatDuration(result.ms)} (${formatDuration(result.ms / steps)} per token) · ${image.name}`;
      this.root.dataset.state = 'done';
      this.state.recordTiming('caption', `caption (${result.tokens.length} tokens)`, result.ms);
      this.state.recordTiming('token', 'per token', result.ms / steps);
    } catch (error) {
      const { name, message } = describeError(error);
      const aborted = this.running.signal.aborted || name === 'AbortError';
      this.root.dataset.state = aborted ? 'stopped' : 'error';
      if (aborted) this.time.textContent = 'Stopped.';
      else this.error.textContent = `${name}: ${message}`;
    } finally {
      this.text.removeAttribute('aria-busy');
      this.running = null;
      this.stopButton.hidden = true;
      this.renderState();
    }
  }
}
