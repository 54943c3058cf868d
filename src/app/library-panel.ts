// The Library view: photos from this device indexed by the loaded model (in batches, with progress, pause,
// resume and cancel; optionally captioned), then searched as you type, browsed by "more like this",
// filtered by caption words, exported, deleted. The index lives in this browser per model (src/library).
import { createLibrary, type Library } from '../library/library';
import type { AddResult, CaptionSettings, IndexProgress, LibraryEntry, SearchHit } from '../library/types';
import type { CaptionStrategy } from '../client/types';
import { parseLabelList } from '../client/labels';
import { STRATEGIES } from './caption-panel';
import { describeError, el, replaceChildren } from './dom';
import { formatDuration, formatPercent } from './format';
import { canPickDirectory, fromDrop, fromFileList, itemsOfDrop, pickDirectory, type PickedPhotos } from './library-files';
import type { AppState } from './state';

/** The app keeps one library per model under this name. */
const APP_LIBRARY_NAME = 'photos';
/** Thumbnails shown at once: search results, or the newest photos when there is no query. */
const RESULTS_SHOWN = 60;
/** Typing pauses this long before a query is encoded (each keystroke would otherwise queue a text encode). */
const SEARCH_DEBOUNCE_MS = 200;
/** Screen readers hear indexing progress at most this often. */
const LIVE_PROGRESS_INTERVAL_MS = 5000;
const DEFAULT_EXPORT_LABELS = 'cat, dog, person, car, food, flower, building, landscape';

type View = { kind: 'all' } | { kind: 'text'; query: string } | { kind: 'similar'; id: string };

export class LibraryPanel {
  private library: Library | null = null;
  private running: AbortController | null = null;
  private view: View = { kind: 'all' };
  /** Bumped by every new search, so a slow answer to an old one is dropped. */
  private searchSerial = 0;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private thumbnailUrls: string[] = [];
  private lastLive = 0;

  private readonly dropZone: HTMLElement;
  private readonly fileInput: HTMLInputElement;
  private readonly folderInput: HTMLInputElement;
  private readonly pickButton: HTMLButtonElement;
  private readonly captionBox: HTMLInputElement;
  private readonly strategy: HTMLSelectElement;
  private readonly progressBox: HTMLElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressText: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly status: HTMLElement;
  private readonly error: HTMLElement;
  private readonly live: HTMLElement;
  private readonly query: HTMLInputElement;
  private readonly captionFilter: HTMLInputElement;
  private readonly labels: HTMLInputElement;
  private readonly exportButtons: HTMLButtonElement[];
  private readonly clearButton: HTMLButtonElement;
  private readonly resultsMeta: HTMLElement;
  private readonly backButton: HTMLButtonElement;
  private readonly results: HTMLUListElement;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
  ) {
    this.fileInput = el('input', {
      id: 'library-files',
      class: 'visually-hidden-file',
      attrs: { type: 'file', accept: 'image/*', multiple: true },
      on: { change: () => this.onInput(this.fileInput) },
    });
    this.folderInput = el('input', {
      id: 'library-folder',
      class: 'visually-hidden-file',
      attrs: { type: 'file', webkitdirectory: true, multiple: true },
      on: { change: () => this.onInput(this.folderInput) },
    });
    this.pickButton = el(
      'button',
      { id: 'library-pick-folder', class: 'secondary', attrs: { type: 'button', hidden: !canPickDirectory() }, on: { click: () => void this.onPickDirectory() } },
      'Open a folder…',
    );
    this.dropZone = el(
      'div',
      { class: 'drop-zone', id: 'library-drop-zone' },
      el(
        'div',
        { class: 'button-row centered' },
        el('label', { class: 'button', attrs: { for: 'library-files' } }, 'Add photos…'),
        this.fileInput,
        el('label', { class: 'button secondary', attrs: { for: 'library-folder' } }, 'Add a folder…'),
        this.folderInput,
        this.pickButton,
      ),
      el('p', { class: 'hint' }, 'or drop photos or whole folders here. Sub-folders are included; other files are skipped.'),
    );
    this.captionBox = el('input', { id: 'library-caption', attrs: { type: 'checkbox' }, on: { change: () => (this.strategy.disabled = !this.captionBox.checked) } });
    this.strategy = el('select', { id: 'library-caption-strategy', attrs: { disabled: true, 'aria-label': 'Caption decoding' } }, ...STRATEGIES.map((s) => el('option', { attrs: { value: s.value } }, s.label)));
    this.progress = el('progress', { id: 'library-progress', attrs: { max: 1, 'aria-labelledby': 'library-progress-text' } });
    this.progressText = el('p', { id: 'library-progress-text', class: 'progress-text' });
    this.pauseButton = el('button', { id: 'library-pause', class: 'secondary small', attrs: { type: 'button' }, on: { click: () => this.togglePause() } }, 'Pause');
    this.cancelButton = el('button', { id: 'library-cancel', class: 'secondary small', attrs: { type: 'button' }, on: { click: () => void this.cancel() } }, 'Cancel');
    this.progressBox = el('div', { id: 'library-progress-box', class: 'library-progress', attrs: { hidden: true } }, this.progress, el('div', { class: 'progress-row' }, this.progressText, this.pauseButton, this.cancelButton));
    this.status = el('p', { id: 'library-status', class: 'meta' });
    this.error = el('p', { id: 'library-error', class: 'error', attrs: { role: 'alert' } });
    this.live = el('p', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
    this.query = el('input', {
      id: 'library-query',
      attrs: { type: 'search', placeholder: 'Search your photos, e.g. “a dog on the beach”', autocomplete: 'off', spellcheck: false },
      on: { input: () => this.onQueryInput() },
    });
    this.captionFilter = el('input', {
      id: 'library-caption-filter',
      attrs: { type: 'search', placeholder: 'words in the caption', autocomplete: 'off' },
      on: { input: () => this.onQueryInput() },
    });
    this.labels = el('input', { id: 'library-labels', attrs: { type: 'text', value: DEFAULT_EXPORT_LABELS, 'aria-describedby': 'library-labels-hint' } });
    this.exportButtons = (['jsonl', 'csv'] as const).map((format) =>
      el('button', { id: `library-export-${format}`, class: 'secondary small', attrs: { type: 'button' }, on: { click: () => void this.export(format) } }, `Export ${format.toUpperCase()}`),
    );
    this.clearButton = el('button', { id: 'library-clear', class: 'link-button danger', attrs: { type: 'button' }, on: { click: () => void this.clear() } }, 'Delete all photos from the index');
    // Screen readers hear what a search found (the grid itself is not a live region: it would read every photo).
    this.resultsMeta = el('p', { id: 'library-results-meta', class: 'meta', attrs: { 'aria-live': 'polite' } });
    this.backButton = el('button', { id: 'library-back', class: 'link-button', attrs: { type: 'button', hidden: true }, on: { click: () => this.showView(this.textView()) } }, 'Back');
    this.results = el('ul', { id: 'library-results', class: 'library-grid', attrs: { 'aria-label': 'Photos' } });

    replaceChildren(
      root,
      el('h2', { id: 'library-heading' }, '5 · Library'),
      el('p', { class: 'hint' }, 'Index photos from this device, then find them by what they show. Nothing is uploaded: the index (embeddings, thumbnails, captions) stays in this browser, one per model.'),
      this.dropZone,
      el(
        'div',
        { class: 'field checkbox-field inline-field' },
        el('label', {}, this.captionBox, ' Caption each photo while indexing (slower)'),
        this.strategy,
      ),
      this.progressBox,
      this.status,
      this.error,
      this.live,
      el(
        'div',
        { class: 'library-search' },
        el('div', { class: 'field grow' }, el('label', { attrs: { for: 'library-query' } }, 'Search'), this.query),
        el('div', { class: 'field' }, el('label', { attrs: { for: 'library-caption-filter' } }, 'Caption contains'), this.captionFilter),
      ),
      el('div', { class: 'results-header' }, this.resultsMeta, this.backButton),
      this.results,
      el(
        'details',
        { class: 'library-manage' },
        el('summary', { id: 'library-manage-summary' }, 'Export or delete'),
        el(
          'div',
          { class: 'field' },
          el('label', { attrs: { for: 'library-labels' } }, 'Labels for the “best labels” column'),
          this.labels,
          el('p', { class: 'hint', id: 'library-labels-hint' }, 'Comma-separated. Each photo gets the three whose text (“a photo of a …”) is closest to it.'),
        ),
        el('div', { class: 'button-row' }, ...this.exportButtons, this.clearButton),
      ),
    );

    this.listenForDrops();
    state.on('model', () => void this.open());
    this.renderControls();
    void this.refresh();
  }

  // ---------------------------------------------------------------- the library of the loaded model

  private async open(): Promise<void> {
    this.running?.abort();
    this.library = null;
    this.view = this.textView();
    this.error.textContent = '';
    const coca = this.state.coca;
    if (coca) {
      try {
        this.library = await createLibrary(coca, { name: APP_LIBRARY_NAME });
      } catch (error) {
        this.showError('The library could not be opened', error);
      }
    }
    this.renderControls();
    await this.refresh();
    // An indexing interrupted by a reload (or a closed tab) continues where it stopped.
    if (this.library && this.library.pendingCount > 0) {
      this.live.textContent = `${this.library.pendingCount} photos were still waiting to be indexed; continuing.`;
      await this.index(null);
    }
  }

  private onInput(input: HTMLInputElement): void {
    const picked = fromFileList(input.files ?? []);
    input.value = '';
    void this.index(picked);
  }

  private async onPickDirectory(): Promise<void> {
    try {
      const picked = await pickDirectory();
      if (picked) await this.index(picked);
    } catch (error) {
      this.showError('The folder could not be read', error);
    }
  }

  private listenForDrops(): void {
    const zone = this.dropZone;
    zone.addEventListener('dragover', (event) => {
      if (![...(event.dataTransfer?.types ?? [])].includes('Files')) return;
      event.preventDefault();
      zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (event) => {
      if (!event.dataTransfer) return;
      // Taken here, not by the Images panel's page-wide drop handler.
      event.preventDefault();
      zone.classList.remove('dragging');
      void fromDrop(itemsOfDrop(event.dataTransfer)).then(
        (picked) => this.index(picked),
        (error: unknown) => this.showError('The dropped files could not be read', error),
      );
    });
  }

  /** Adds `picked` (or, with null, continues the queue) with the progress UI; one run at a time. */
  private async index(picked: PickedPhotos | null): Promise<void> {
    const library = this.library;
    if (!library) {
      this.error.textContent = 'Load a model first: the index is made by the model.';
      return;
    }
    if (picked && picked.photos.length === 0) {
      this.error.textContent = picked.skipped > 0 ? `None of the ${picked.skipped} files is a photo this browser can read (JPEG, PNG, WebP, GIF, BMP, AVIF).` : 'No files were chosen.';
      return;
    }
    if (this.running) {
      // Indexing is under way: these photos join its queue.
      if (picked) void this.addWhileRunning(library, picked);
      return;
    }
    this.running = new AbortController();
    const { signal } = this.running;
    this.error.textContent = '';
    this.root.dataset.state = 'indexing';
    this.renderControls();
    const started = performance.now();
    let result: AddResult | null = null;
    try {
      const options = { signal, onProgress: (p: IndexProgress) => this.showProgress(p) };
      result = picked ? await library.add(picked.photos, { ...options, caption: this.captionSettings() }) : await library.indexPending(options);
      this.root.dataset.state = 'done';
      this.progressText.textContent = describeResult(result, picked?.skipped ?? 0, performance.now() - started);
      this.progress.value = 1;
    } catch (error) {
      const stopped = signal.aborted || describeError(error).name === 'AbortError';
      this.root.dataset.state = stopped ? 'stopped' : 'error';
      if (stopped) this.progressText.textContent = `Stopped. ${library.size} photos are in the library.`;
      else this.showError('Indexing failed (the photos not yet indexed stay queued; add any photo to retry)', error);
    } finally {
      if (this.running?.signal === signal) this.running = null;
      this.live.textContent = this.progressText.textContent;
      this.renderControls();
      await this.refresh();
    }
  }

  private async addWhileRunning(library: Library, picked: PickedPhotos): Promise<void> {
    try {
      const result = await library.add(picked.photos, { caption: this.captionSettings() });
      if (result.known > 0) this.live.textContent = `${result.known} of the added photos were already in the library.`;
    } catch (error) {
      if (describeError(error).name !== 'AbortError') this.showError('Adding photos failed', error);
    }
  }

  private captionSettings(): CaptionSettings | false {
    return this.captionBox.checked ? { strategy: this.strategy.value as CaptionStrategy } : false;
  }

  private togglePause(): void {
    const library = this.library;
    if (!library) return;
    if (library.paused) {
      library.resume();
      this.root.dataset.state = 'indexing';
    } else {
      library.pause();
      this.progressText.textContent = `Pausing after this batch… ${this.progressText.textContent ?? ''}`;
    }
    this.renderControls();
  }

  /** Stops indexing and forgets what was not indexed yet. */
  private async cancel(): Promise<void> {
    const library = this.library;
    if (!library) return;
    this.running?.abort();
    await library.discardPending();
    library.resume();
    this.renderControls();
  }

  private showProgress(p: IndexProgress): void {
    this.progressBox.hidden = false;
    this.progress.dataset.done = String(p.done);
    this.progress.dataset.total = String(p.total);
    if (p.phase === 'reading') {
      this.progress.value = p.toRead > 0 ? p.read / p.toRead : 0;
      this.progressText.textContent = `Reading ${p.read} of ${p.toRead} files${p.known > 0 ? ` (${p.known} already in the library)` : ''}…`;
    } else {
      this.progress.value = p.total > 0 ? p.done / p.total : 1;
      const parts = [`${p.phase === 'paused' ? 'Paused at' : 'Indexed'} ${p.done} of ${p.total}`];
      if (p.imagesPerSecond > 0) parts.push(`${p.imagesPerSecond.toFixed(p.imagesPerSecond < 10 ? 1 : 0)} photos/s`);
      if (p.secondsLeft !== undefined && p.phase === 'indexing' && p.done < p.total) parts.push(`about ${formatDuration(p.secondsLeft * 1000)} left`);
      if (p.failed > 0) parts.push(`${p.failed} could not be read`);
      this.progressText.textContent = parts.join(' · ');
      if (p.phase !== 'done') this.root.dataset.state = p.phase === 'paused' ? 'paused' : 'indexing';
    }
    const now = performance.now();
    if (now - this.lastLive > LIVE_PROGRESS_INTERVAL_MS || p.phase === 'paused') {
      this.live.textContent = this.progressText.textContent;
      this.lastLive = now;
    }
    this.renderControls();
    // New photos show up as their batches land, when no search is narrowing the view.
    if (p.phase === 'indexing' && this.view.kind === 'all') void this.refresh();
  }

  // ---------------------------------------------------------------- search, more like this, export, delete

  private textView(): View {
    const query = this.query.value.trim();
    return query ? { kind: 'text', query } : { kind: 'all' };
  }

  private onQueryInput(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.showView(this.textView()), SEARCH_DEBOUNCE_MS);
  }

  private showView(view: View): void {
    this.view = view;
    void this.refresh();
  }

  /** Redraws the status line and the results for the current view. */
  async refresh(): Promise<void> {
    const library = this.library;
    const serial = ++this.searchSerial;
    this.renderStatus();
    if (!library) {
      this.renderResults([], '');
      return;
    }
    const captionContains = this.captionFilter.value.trim();
    const filterNote = captionContains ? ` with “${captionContains}” in the caption` : '';
    const view = this.view;
    try {
      const started = performance.now();
      let hits: SearchHit[];
      let meta: string;
      if (view.kind === 'text') {
        hits = await library.search(view.query, { k: RESULTS_SHOWN, captionContains });
        meta = `Best matches for “${view.query}”${filterNote} · ${formatDuration(performance.now() - started)}`;
      } else if (view.kind === 'similar') {
        const seed = library.get(view.id);
        hits = seed ? await library.similar(view.id, { k: RESULTS_SHOWN, captionContains }) : [];
        meta = seed ? `Photos like ${seed.name}${filterNote}` : 'That photo was deleted.';
      } else {
        const all = library.list({ captionContains });
        hits = all.reverse().slice(0, RESULTS_SHOWN).map((entry) => ({ entry, score: NaN }));
        meta = all.length === 0 ? '' : `${all.length > RESULTS_SHOWN ? `The newest ${RESULTS_SHOWN} of ${all.length}` : `All ${all.length}`} photos${filterNote}, newest first. Type to search.`;
      }
      if (serial !== this.searchSerial) return;
      this.renderResults(hits, meta);
    } catch (error) {
      if (serial === this.searchSerial) this.showError('Search failed', error);
    }
  }

  private async export(format: 'jsonl' | 'csv'): Promise<void> {
    const library = this.library;
    if (!library) return;
    this.error.textContent = '';
    try {
      const text = await library.export(format, { labels: parseLabelList(this.labels.value) });
      const url = URL.createObjectURL(new Blob([text], { type: format === 'csv' ? 'text/csv' : 'application/x-ndjson' }));
      const link = el('a', { attrs: { href: url, download: `coca-library.${format}` } });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      this.showError('Export failed', error);
    }
  }

  private async remove(entry: LibraryEntry): Promise<void> {
    try {
      await this.library?.remove(entry.id);
      this.live.textContent = `Deleted ${entry.name} from the index.`;
    } catch (error) {
      this.showError(`Could not delete ${entry.name}`, error);
    }
    await this.refresh();
  }

  private async clear(): Promise<void> {
    const library = this.library;
    if (!library || !confirm(`Delete all ${library.size} photos from this model’s index? The photo files themselves are not touched.`)) return;
    try {
      this.running?.abort();
      await library.clear();
      library.resume();
      this.progressBox.hidden = true;
      this.live.textContent = 'The library is empty.';
    } catch (error) {
      this.showError('Could not clear the library', error);
    }
    this.renderControls();
    await this.refresh();
  }

  // ---------------------------------------------------------------- rendering

  private renderControls(): void {
    const library = this.library;
    const running = this.running !== null;
    for (const input of [this.fileInput, this.folderInput]) input.disabled = !library;
    this.pickButton.disabled = !library;
    this.dropZone.classList.toggle('disabled', !library);
    this.pauseButton.hidden = !running;
    this.cancelButton.hidden = !running;
    this.pauseButton.textContent = library?.paused ? 'Resume' : 'Pause';
    this.pauseButton.setAttribute('aria-pressed', String(library?.paused ?? false));
    this.query.disabled = !library;
    this.captionFilter.disabled = !library;
    for (const button of this.exportButtons) button.disabled = !library || library.size === 0;
    this.clearButton.disabled = !library || (library.size === 0 && library.pendingCount === 0);
  }

  private renderStatus(): void {
    const library = this.library;
    if (!library) {
      this.status.textContent = this.state.coca ? '' : 'Load a model first: each model keeps its own index.';
      return;
    }
    const captioned = library.list().filter((e) => e.caption !== undefined).length;
    const parts = [`${library.size} photo${library.size === 1 ? '' : 's'} in this model’s library`];
    if (captioned > 0) parts.push(`${captioned} captioned`);
    if (library.pendingCount > 0) parts.push(`${library.pendingCount} waiting to be indexed`);
    this.status.textContent = `${parts.join(' · ')}.`;
    this.status.dataset.size = String(library.size);
  }

  private renderResults(hits: SearchHit[], meta: string): void {
    for (const url of this.thumbnailUrls) URL.revokeObjectURL(url);
    this.thumbnailUrls = [];
    this.resultsMeta.textContent = meta;
    this.backButton.hidden = this.view.kind !== 'similar';
    const best = hits.length > 0 && this.view.kind !== 'all' ? hits[0]!.score : NaN;
    replaceChildren(
      this.results,
      ...hits.map(({ entry, score }, rank) => {
        const url = entry.thumbnail ? URL.createObjectURL(entry.thumbnail) : '';
        if (url) this.thumbnailUrls.push(url);
        const scored = !Number.isNaN(score);
        return el(
          'li',
          { class: 'library-item', dataset: { id: entry.id, path: entry.path, ...(scored ? { score, rank } : {}) } },
          el(
            'figure',
            {},
            url ? el('img', { attrs: { src: url, alt: entry.caption ?? entry.name, loading: 'lazy', width: 160, height: 160 } }) : el('div', { class: 'no-thumb' }, entry.name),
            scored ? el('span', { class: 'score', attrs: { title: 'cosine similarity' } }, score.toFixed(3), el('span', { class: 'score-bar', attrs: { style: `width: ${barWidth(score, best)}` } })) : null,
            el(
              'figcaption',
              {},
              el('span', { class: 'library-name', attrs: { title: entry.path } }, entry.name),
              entry.path !== entry.name ? el('span', { class: 'library-folder' }, entry.path.slice(0, -entry.name.length - 1)) : null,
              entry.caption ? el('span', { class: 'library-caption' }, entry.caption) : null,
            ),
          ),
          el(
            'div',
            { class: 'library-actions' },
            el('button', { class: 'link-button more-like-this', attrs: { type: 'button' }, on: { click: () => this.showView({ kind: 'similar', id: entry.id }) } }, 'More like this'),
            el('button', { class: 'link-button danger delete', attrs: { type: 'button', 'aria-label': `Delete ${entry.name} from the index` }, on: { click: () => void this.remove(entry) } }, 'Delete'),
          ),
        );
      }),
    );
    if (hits.length === 0 && this.library) {
      this.results.append(el('li', { class: 'empty hint' }, this.library.size === 0 ? 'No photos yet: add some above.' : 'No photo matches.'));
    }
  }

  private showError(what: string, error: unknown): void {
    const { name, message } = describeError(error);
    this.error.textContent = `${what} (${name}): ${message}`;
  }
}

/** A short bar under each score, relative to the best one shown (cosines of one query sit close together). */
function barWidth(score: number, best: number): string {
  if (!(best > 0)) return '0%';
  return formatPercent(Math.max(0, Math.min(1, score / best))).replace(' ', '');
}

function describeResult(result: AddResult, skipped: number, ms: number): string {
  const parts = [`Indexed ${result.added} new photo${result.added === 1 ? '' : 's'} in ${formatDuration(ms)}`];
  if (result.known > 0) parts.push(`${result.known} already in the library`);
  if (skipped > 0) parts.push(`${skipped} other file${skipped === 1 ? '' : 's'} skipped`);
  if (result.failed.length > 0) parts.push(`${result.failed.length} could not be read: ${result.failed.map((f) => f.path).join(', ')}`);
  return `${parts.join(' · ')}.`;
}
