// <coca-similarity src="photo.jpg" labels="cat, dog, car"></coca-similarity>: zero-shot scores for the labels,
// as bars with probabilities, the best one marked.
import type { Coca } from '../client/types';
import { CocaElement, part, type CocaBaseEventMap } from './base-element';
import { DEFAULT_TEMPLATE, labelTexts, parseLabelList } from '../client/labels';
import { renderScores, SCORES_STYLES } from './scores';

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
    this.mount(figure, SCORES_STYLES);
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
    renderScores(this.list, this.last);
    this.emit<CocaResultEventDetail>('coca-result', this.last);
  }
}
