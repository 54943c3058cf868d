// <coca-similarity src="photo.jpg" labels="cat, dog, car"></coca-similarity>: zero-shot scores for the labels,
// as bars with probabilities, the best one marked.
import type { Coca } from '../client/types';
import { CocaElement, part, type CocaBaseEventMap } from './base-element';
import { DEFAULT_TEMPLATE, labelTexts, parseLabelList } from '../client/labels';

export interface CocaResultEventDetail {
  labels: string[];
  /** The texts the model scored (labels through the template). */
  texts: string[];
  probs: number[];
  cosine: number[];
  logits: number[];
  /** Index of the most probable label. */
  best: number;
}

export interface CocaSimilarityEventMap extends CocaBaseEventMap {
  'coca-result': CustomEvent<CocaResultEventDetail>;
}

// Rows share their columns (subgrid), so every bar starts at the same place. Labels take at most 55% of the
// width and wrap within it, so a long label never squeezes the bars out: the bar column keeps at least 4rem.
const SIMILARITY_STYLES = `ol { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: fit-content(55%) minmax(4rem, 1fr) max-content; gap: 0.3rem 0.5rem; }
ol:empty { display: none; }
li { display: grid; grid-column: 1 / -1; grid-template-columns: subgrid; align-items: center; }
.label { overflow-wrap: anywhere; }
li.best .label { font-weight: 700; }
.bar { height: 0.55rem; background: var(--coca-track, #e4e2f0); border-radius: 999px; overflow: hidden; }
.fill { display: block; height: 100%; background: var(--coca-accent, #4b3fc7); }
li:not(.best) .fill { opacity: 0.55; }
.value { text-align: right; font-variant-numeric: tabular-nums; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }`;

export class CocaSimilarityElement extends CocaElement {
  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, 'labels', 'template'];
  }

  private readonly img = part('img', 'image');
  private readonly list = part('ol', 'results');
  private last: CocaResultEventDetail | null = null;

  constructor() {
    super();
    this.img.alt = '';
    this.list.setAttribute('aria-live', 'polite');
    const figure = part('figure', 'figure');
    figure.append(this.img, this.list);
    this.mount(figure, SIMILARITY_STYLES);
  }

  /** The last scores, or null before the first result. */
  get result(): CocaResultEventDetail | null {
    return this.last;
  }

  protected showImage(url: string | null): void {
    if (url === null) this.img.removeAttribute('src');
    else if (this.img.src !== url) this.img.src = url;
  }

  protected async run(coca: Coca, image: Blob, signal: AbortSignal): Promise<void> {
    const labels = parseLabelList(this.getAttribute('labels'));
    if (labels.length === 0) {
      this.list.replaceChildren();
      this.setStatus('Add labels="cat, dog, …" to score the image.');
      return;
    }
    const template = this.getAttribute('template') ?? DEFAULT_TEMPLATE;
    const texts = labelTexts(labels, template);
    const result = await coca.similarity(image, texts);
    if (signal.aborted) return;
    const probs = result.probs[0] ?? [];
    const best = probs.indexOf(Math.max(...probs));
    this.last = { labels, texts, probs, cosine: result.cosine[0] ?? [], logits: result.logits[0] ?? [], best };
    this.render(this.last);
    this.emit<CocaResultEventDetail>('coca-result', this.last);
  }

  private render(result: CocaResultEventDetail): void {
    this.list.replaceChildren(
      ...result.labels.map((label, i) => {
        const item = document.createElement('li');
        const p = result.probs[i] ?? 0;
        item.setAttribute('part', i === result.best ? 'item best' : 'item');
        item.className = i === result.best ? 'best' : '';
        const name = document.createElement('span');
        name.className = 'label';
        name.setAttribute('part', 'label');
        name.textContent = label;
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.setAttribute('part', 'bar');
        bar.setAttribute('aria-hidden', 'true');
        const fill = document.createElement('span');
        fill.className = 'fill';
        fill.style.width = `${(p * 100).toFixed(2)}%`;
        bar.append(fill);
        const value = document.createElement('span');
        value.className = 'value';
        value.setAttribute('part', 'value');
        value.textContent = `${(p * 100).toFixed(1)}%`;
        item.append(name, bar, value);
        if (i === result.best) {
          const note = document.createElement('span');
          note.className = 'sr';
          note.textContent = ' (best match)';
          item.append(note);
        }
        return item;
      }),
    );
  }
}
