// Zero-shot similarity: a list of texts (optionally through the "a photo of a {label}" template) scored
// against every image. One table per image: probability bars and cosine scores, best match highlighted.
import type { SimilarityResult } from '../client/types';
import { describeError, el, replaceChildren } from './dom';
import { formatDuration, formatPercent } from './format';
import type { AppState, ImageEntry } from './state';
import { DEFAULT_TEMPLATE, labelTexts } from '../client/labels';
const DEFAULT_LABELS = ['cat', 'dog', 'cup of coffee', 'astronaut', 'rocket', 'car'];

/** Splits the editor's text into labels: one per line (commas also separate), blanks dropped. */
export function parseLabels(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
}

export class SimilarityPanel {
  private readonly labels: HTMLTextAreaElement;
  private readonly useTemplate: HTMLInputElement;
  private readonly template: HTMLInputElement;
  private readonly button: HTMLButtonElement;
  private readonly results: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly error: HTMLElement;
  private readonly hint: HTMLElement;
  private running = false;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
  ) {
    this.labels = el('textarea', { id: 'similarity-texts', attrs: { rows: 6, spellcheck: false, 'aria-describedby': 'similarity-texts-hint' } });
    this.labels.value = DEFAULT_LABELS.join('\n');
    this.useTemplate = el('input', { id: 'use-template', attrs: { type: 'checkbox', checked: true }, on: { change: () => (this.template.disabled = !this.useTemplate.checked) } });
    this.template = el('input', { id: 'template', attrs: { type: 'text', value: DEFAULT_TEMPLATE, 'aria-describedby': 'template-hint' } });
    this.button = el('button', { id: 'similarity-button', attrs: { type: 'button' }, on: { click: () => void this.score() } }, 'Score all images');
    this.hint = el('p', { class: 'hint' });
    this.results = el('div', { id: 'similarity-results', class: 'similarity-results', attrs: { 'aria-live': 'polite' } });
    this.meta = el('p', { id: 'similarity-time', class: 'meta' });
    this.error = el('p', { id: 'similarity-error', class: 'error', attrs: { role: 'alert' } });
    replaceChildren(
      root,
      el('h2', { id: 'similarity-heading' }, '4 · Similarity'),
      el(
        'div',
        { class: 'field' },
        el('label', { attrs: { for: 'similarity-texts' } }, 'Texts or labels'),
        el('p', { class: 'hint', id: 'similarity-texts-hint' }, 'One per line. Probabilities are a softmax over these, for each image.'),
        this.labels,
      ),
      el(
        'div',
        { class: 'field checkbox-field' },
        el('label', {}, this.useTemplate, ' Zero-shot labels: put each line into the template'),
        el('label', { class: 'visually-hidden', attrs: { for: 'template' } }, 'Template'),
        this.template,
        el('p', { class: 'hint', id: 'template-hint' }, '{label} is replaced by each line.'),
      ),
      el('div', { class: 'button-row' }, this.button),
      this.hint,
      this.error,
      this.meta,
      this.results,
    );
    for (const event of ['model', 'images'] as const) state.on(event, () => this.renderState());
    this.renderState();
  }

  private renderState(): void {
    const count = this.state.images.length;
    this.button.disabled = this.running || !this.state.coca || count === 0;
    this.button.textContent = count > 1 ? `Score all ${count} images` : 'Score the image';
    this.hint.textContent = !this.state.coca ? 'Load a model first.' : count === 0 ? 'Add an image first.' : '';
  }

  /** The texts sent to the model, from the editor and the template. */
  texts(): { labels: string[]; texts: string[] } {
    const labels = parseLabels(this.labels.value);
    const texts = this.useTemplate.checked ? labelTexts(labels, this.template.value) : labels;
    return { labels, texts };
  }

  async score(): Promise<void> {
    const coca = this.state.coca;
    const images = [...this.state.images];
    const { labels, texts } = this.texts();
    if (!coca || images.length === 0 || this.running) return;
    if (texts.length === 0) {
      this.error.textContent = 'Enter at least one text.';
      return;
    }
    this.running = true;
    this.renderState();
    this.error.textContent = '';
    this.root.dataset.state = 'running';
    this.results.setAttribute('aria-busy', 'true');
    const started = performance.now();
    try {
      const result = await coca.similarity(
        images.map((i) => i.blob),
        texts,
      );
      const ms = performance.now() - started;
      this.meta.textContent = `${images.length} image${images.length > 1 ? 's' : ''} × ${texts.length} texts in ${formatDuration(ms)}`;
      this.state.recordTiming('similarity', `similarity (${images.length}×${texts.length})`, ms);
      this.renderResults(images, labels, texts, result);
      this.root.dataset.state = 'done';
    } catch (error) {
      const { name, message } = describeError(error);
      this.error.textContent = `${name}: ${message}`;
      this.root.dataset.state = 'error';
    } finally {
      this.results.removeAttribute('aria-busy');
      this.running = false;
      this.renderState();
    }
  }

  private renderResults(images: ImageEntry[], labels: string[], texts: string[], result: SimilarityResult): void {
    replaceChildren(
      this.results,
      ...images.map((image, i) => {
        const probs = result.probs[i] ?? [];
        const cosine = result.cosine[i] ?? [];
        const best = probs.indexOf(Math.max(...probs));
        return el(
          'table',
          { class: 'similarity-table', dataset: { imageIndex: i } },
          el('caption', {}, el('img', { class: 'table-thumb', attrs: { src: image.objectUrl, alt: '' } }), image.name, ' — best: ', el('strong', {}, labels[best] ?? texts[best] ?? '')),
          // Fixed column widths (the table's layout is fixed): long texts wrap inside theirs, every table lines up.
          el('colgroup', {}, el('col', { class: 'col-text' }), el('col', { class: 'col-prob' }), el('col', { class: 'col-cosine' })),
          el('thead', {}, el('tr', {}, el('th', { attrs: { scope: 'col' } }, 'Text'), el('th', { attrs: { scope: 'col' } }, 'Probability'), el('th', { attrs: { scope: 'col' } }, 'Cosine'))),
          el(
            'tbody',
            {},
            ...texts.map((text, j) => {
              const p = probs[j] ?? 0;
              const c = cosine[j] ?? 0;
              return el(
                'tr',
                { class: j === best ? 'best' : '', dataset: { textIndex: j, prob: p, cosine: c, logit: result.logits[i]?.[j] ?? 0 } },
                el('th', { attrs: { scope: 'row' } }, text, j === best ? el('span', { class: 'visually-hidden' }, ' (best match)') : null),
                el(
                  'td',
                  { class: 'prob-cell' },
                  // The cell stays a table cell; the bar and the number are laid out inside it.
                  el(
                    'div',
                    { class: 'prob' },
                    el('span', { class: 'bar', attrs: { 'aria-hidden': 'true' } }, el('span', { class: 'bar-fill', attrs: { style: `width: ${(p * 100).toFixed(2)}%` } })),
                    el('span', { class: 'prob-value' }, formatPercent(p)),
                  ),
                ),
                el('td', { class: 'cosine-value' }, c.toFixed(4)),
              );
            }),
          ),
        );
      }),
    );
  }
}
