// coca-webgpu/widget: custom elements for any page. Importing this module defines <coca-caption> and
// <coca-similarity>; every element on the page shares one worker and one model per model id.
//
//   <script type="module">import 'coca-webgpu/widget';</script>
//   <coca-caption src="photo.jpg"></coca-caption>
//   <coca-similarity src="photo.jpg" labels="cat, dog, car"></coca-similarity>
import type { CocaBaseEventMap } from './base-element';
import { CocaCaptionElement, type CocaCaptionEventMap } from './caption-element';
import { CocaSimilarityElement, type CocaSimilarityEventMap } from './similarity-element';

export { CocaElement, type CocaBaseEventMap, type CocaErrorDetail } from './base-element';
export { CocaCaptionElement, type CocaCaptionEventDetail, type CocaCaptionEventMap } from './caption-element';
export { CocaSimilarityElement, type CocaResultEventDetail, type CocaSimilarityEventMap } from './similarity-element';
export { DEFAULT_TEMPLATE, labelTexts, parseLabelList } from '../client/labels';
export { DEFAULT_MODEL, modelKey, releaseSharedModels, sharedCoca, sharedModelStats, type ModelRequest } from './shared-model';

/** Defines the elements (idempotent: a second copy of the package on the page does not throw). */
export function defineCocaElements(): void {
  if (!customElements.get('coca-caption')) customElements.define('coca-caption', CocaCaptionElement);
  if (!customElements.get('coca-similarity')) customElements.define('coca-similarity', CocaSimilarityElement);
}

defineCocaElements();

declare global {
  interface HTMLElementTagNameMap {
    'coca-caption': CocaCaptionElement;
    'coca-similarity': CocaSimilarityElement;
  }
  interface HTMLElementEventMap extends CocaBaseEventMap, Omit<CocaCaptionEventMap, keyof CocaBaseEventMap>, Omit<CocaSimilarityEventMap, keyof CocaBaseEventMap> {}
}
