// The page the UI tests drive: the demo's images and similarity panels with the demo's stylesheet (laid out as
// the demo lays them out), the widget's elements, and the client API, on window for page.evaluate.
import '../../src/app/styles.css';
import * as client from '../../src/client/index';
import { ImagesPanel } from '../../src/app/images-panel';
import { SimilarityPanel } from '../../src/app/similarity-panel';
import { AppState } from '../../src/app/state';
import '../../src/widget/index';

const state = new AppState();
const ui = {
  client,
  state,
  images: new ImagesPanel(document.getElementById('images-section')!, state),
  similarity: new SimilarityPanel(document.getElementById('similarity-section')!, state),
};

export type UiPage = typeof ui;

declare global {
  interface Window {
    ui: UiPage;
    ready: boolean;
  }
}

window.ui = ui;
window.ready = true;
