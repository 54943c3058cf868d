// coca-webgpu/widget: custom elements for any page. Importing this module defines <coca-caption>,
// <coca-similarity> and <coca-camera>; every element on the page shares one worker and one model per model id.
//
//   <script type="module">import 'coca-webgpu/widget';</script>
//   <coca-caption src="photo.jpg"></coca-caption>
//   <coca-similarity src="photo.jpg" labels="cat, dog, car"></coca-similarity>
//   <coca-camera labels="cat, dog, cup"></coca-camera>
import type { CocaBaseEventMap } from './base-element';
import { CocaCameraElement } from './camera-element';
import { CocaCaptionElement, type CocaCaptionEventMap } from './caption-element';
import { CocaSimilarityElement, type CocaSimilarityEventMap } from './similarity-element';

export { CocaElement, CocaModelElement, type CocaBaseEventMap, type CocaErrorDetail } from './base-element';
export { CocaCameraElement, type CocaCameraEventDetail, type CocaCameraEventMap } from './camera-element';
export { CocaCaptionElement, type CocaCaptionEventDetail, type CocaCaptionEventMap } from './caption-element';
export { CocaSimilarityElement, type CocaResultEventDetail, type CocaSimilarityEventMap } from './similarity-element';
export { DEFAULT_TEMPLATE, labelTexts, parseLabelList } from '../client/labels';
export { DEFAULT_MODEL, modelKey, releaseSharedModels, sharedCoca, sharedModelStats, type ModelRequest } from './shared-model';

/** Defines the elements (idempotent: a second copy of the package on the page does not throw). */
export function defineCocaElements(): void {
  if (!customElements.get('coca-caption')) customElements.define('coca-caption', CocaCaptionElement);
  if (!customElements.get('coca-similarity')) customElements.define('coca-similarity', CocaSimilarityElement);
  if (!customElements.get('coca-camera')) customElements.define('coca-camera', CocaCameraElement);
}

defineCocaElements();

declare global {
  interface HTMLElementTagNameMap {
    'coca-caption': CocaCaptionElement;
    'coca-similarity': CocaSimilarityElement;
    'coca-camera': CocaCameraElement;
  }
  interface HTMLElementEventMap extends CocaBaseEventMap, Omit<CocaCaptionEventMap, keyof CocaBaseEventMap>, Omit<CocaSimilarityEventMap, keyof CocaBaseEventMap> {}
}
