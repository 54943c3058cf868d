// <coca-caption src="photo.jpg"></coca-caption>: the image and its caption, streamed as it is written.
import type { CaptionResult, Coca } from '../client/types';
import { resolveStrategy } from '../options';
import { CocaElement, part, type CocaBaseEventMap } from './base-element';

export type CocaCaptionEventDetail = CaptionResult;

export interface CocaCaptionEventMap extends CocaBaseEventMap {
  'coca-caption': CustomEvent<CocaCaptionEventDetail>;
}

export class CocaCaptionElement extends CocaElement {
  static override get observedAttributes(): string[] {
    return [...super.observedAttributes, 'strategy', 'max-length'];
  }

  private readonly img = part('img', 'image');
  private readonly captionText = part('figcaption', 'caption');
  private result: CaptionResult | null = null;

  constructor() {
    super();
    this.img.alt = '';
    this.captionText.setAttribute('aria-live', 'polite');
    const figure = part('figure', 'figure');
    figure.append(this.img, this.captionText);
    this.mount(
      figure,
      `figcaption { line-height: 1.4; min-height: 1.4em; }
figcaption:empty { display: none; }`,
    );
  }

  /** The last caption, or null before the first one is finished. */
  get caption(): string | null {
    return this.result?.text ?? null;
  }

  protected showImage(url: string | null): void {
    if (url === null) this.img.removeAttribute('src');
    else if (this.img.src !== url) this.img.src = url;
    this.img.alt = '';
    this.captionText.textContent = '';
    this.result = null;
  }

  protected async run(coca: Coca, image: Blob, signal: AbortSignal): Promise<void> {
    // A bad attribute is an OptionsError, reported as coca-error like any other failure.
    const strategy = resolveStrategy(this.getAttribute('strategy') ?? undefined, 'the strategy attribute');
    const maxLength = this.getAttribute('max-length');
    let streamed = '';
    this.captionText.setAttribute('aria-busy', 'true');
    try {
      const result = await coca.caption(image, {
        strategy,
        ...(maxLength !== null ? { maxLength: Number(maxLength) } : {}),
        signal,
        onToken: (token) => {
          if (signal.aborted) return;
          streamed += token.text;
          this.captionText.textContent = streamed;
        },
      });
      if (signal.aborted) return;
      this.result = result;
      this.captionText.textContent = result.text;
      // The caption doubles as the image's text alternative.
      this.img.alt = result.text;
      this.emit<CocaCaptionEventDetail>('coca-caption', result);
    } finally {
      this.captionText.removeAttribute('aria-busy');
    }
  }
}
