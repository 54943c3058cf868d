// Model picker, cache state, load with progress (phase, MB, rate, time left) and cancel.
import { createCoca, listCachedModels } from '../client';
import type { CachedModel, LoadProgress, WeightDtype } from '../client/types';
import { DEFAULT_DTYPE, isWeightDtype, resolveDtype } from '../options';
import { describeError, el, replaceChildren } from './dom';
import { describeProgress, formatBytes, formatDuration, PHASE_LABELS, progressFraction } from './format';
import {
  asBaseUrl,
  cachedSizeEstimate,
  DEFAULT_MODEL,
  devTinyModel,
  findCached,
  HUB_MODELS,
  settingsFromQuery,
  type ModelChoice,
} from './models';
import type { AppState } from './state';

const CUSTOM_URL = 'custom:url';
const LOCAL_FILES = 'custom:files';
const LAST_MODEL_KEY = 'coca-demo:last-model';
/** Screen readers hear progress at most this often (the bar itself updates on every report). */
const LIVE_PROGRESS_INTERVAL_MS = 3000;

interface RememberedModel {
  key: string;
  label: string;
  source: string;
  vocab?: string;
  revision?: string;
  dtype: WeightDtype;
}

export class ModelPanel {
  private readonly choices = new Map<string, ModelChoice>();
  private cached: CachedModel[] = [];
  private loading: AbortController | null = null;
  private loadedKey: string | null = null;
  private localFiles: File[] = [];

  private readonly select: HTMLSelectElement;
  private readonly dtypeSelect: HTMLSelectElement;
  private readonly urlField: HTMLElement;
  private readonly urlInput: HTMLInputElement;
  private readonly vocabInput: HTMLInputElement;
  private readonly filesField: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly loadButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressText: HTMLElement;
  private readonly liveStatus: HTMLElement;
  private readonly error: HTMLElement;
  private readonly warning: HTMLElement;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
  ) {
    this.select = el('select', { id: 'model-select', on: { change: () => this.onChoiceChange() } });
    this.dtypeSelect = el(
      'select',
      { id: 'dtype-select', on: { change: () => this.renderMeta() } },
      el('option', { attrs: { value: 'fp16' } }, 'fp16 (half the memory; the default)'),
      el('option', { attrs: { value: 'fp32' } }, 'fp32 (exact; twice the memory)'),
    );
    this.urlInput = el('input', {
      id: 'model-url',
      attrs: { type: 'url', placeholder: 'https://example.org/models/coca/', autocomplete: 'url', inputmode: 'url' },
      on: { change: () => this.renderMeta() },
    });
    this.vocabInput = el('input', { id: 'vocab-url', attrs: { type: 'url', placeholder: 'optional: …/bpe_simple_vocab_16e6.txt.gz', inputmode: 'url' } });
    this.urlField = el(
      'div',
      { class: 'field-group', attrs: { hidden: true } },
      el('div', { class: 'field' }, el('label', { attrs: { for: 'model-url' } }, 'Base URL of a folder in the hub’s layout'), this.urlInput),
      el('div', { class: 'field' }, el('label', { attrs: { for: 'vocab-url' } }, 'Vocabulary URL'), this.vocabInput),
    );
    const folderInput = el('input', {
      id: 'model-folder',
      class: 'visually-hidden-file',
      attrs: { type: 'file', webkitdirectory: true, multiple: true },
      on: { change: (event) => this.onLocalFiles((event.target as HTMLInputElement).files) },
    });
    const filesInput = el('input', {
      id: 'model-files',
      class: 'visually-hidden-file',
      attrs: { type: 'file', multiple: true, accept: '.json,.safetensors,.bin,.gz,.txt' },
      on: { change: (event) => this.onLocalFiles((event.target as HTMLInputElement).files) },
    });
    this.filesField = el(
      'div',
      { class: 'field-group', attrs: { hidden: true } },
      el(
        'p',
        { class: 'hint', id: 'model-files-hint' },
        'A folder as on the hub: open_clip_config.json and open_clip_model.safetensors or open_clip_pytorch_model.bin (and optionally the vocabulary).',
      ),
      el(
        'div',
        { class: 'button-row' },
        el('label', { class: 'button secondary', attrs: { for: 'model-folder' } }, 'Choose a folder…'),
        folderInput,
        el('label', { class: 'button secondary', attrs: { for: 'model-files' } }, 'Choose files…'),
        filesInput,
      ),
    );
    this.meta = el('p', { id: 'model-meta', class: 'meta' });
    this.loadButton = el('button', { id: 'load-model', attrs: { type: 'button' }, on: { click: () => void this.load() } }, 'Load model');
    this.cancelButton = el('button', { id: 'cancel-load', class: 'secondary', attrs: { type: 'button', hidden: true }, on: { click: () => this.loading?.abort() } }, 'Cancel');
    this.progress = el('progress', { id: 'load-progress', attrs: { max: 1, 'aria-labelledby': 'load-progress-text', hidden: true } });
    this.progressText = el('p', { id: 'load-progress-text', class: 'progress-text' });
    this.liveStatus = el('p', { id: 'load-status', class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
    this.error = el('p', { id: 'model-error', class: 'error', attrs: { role: 'alert' } });
    this.warning = el('p', { id: 'model-warning', class: 'hint', attrs: { role: 'status' } });

    replaceChildren(
      root,
      el('h2', { id: 'model-heading' }, '1 · Model'),
      el('div', { class: 'field' }, el('label', { attrs: { for: 'model-select' } }, 'Checkpoint'), this.select),
      this.urlField,
      this.filesField,
      el('div', { class: 'field' }, el('label', { attrs: { for: 'dtype-select' } }, 'Weights on the GPU'), this.dtypeSelect),
      this.meta,
      el('div', { class: 'button-row' }, this.loadButton, this.cancelButton),
      this.progress,
      this.progressText,
      this.liveStatus,
      this.error,
      this.warning,
    );
    this.fillChoices();
  }

  private fillChoices(): void {
    const hub = el('optgroup', { attrs: { label: 'Hugging Face hub' } });
    for (const choice of HUB_MODELS) this.addOption(hub, choice);
    const other = el('optgroup', { attrs: { label: 'Other' } });
    const query = settingsFromQuery(location.search, location.href);
    const remembered = query.choice ? undefined : readRemembered();
    for (const choice of [query.choice, remembered?.choice]) {
      if (choice && !this.choices.has(choice.key)) this.addOption(other, choice);
    }
    if (import.meta.env.DEV) this.addOption(other, devTinyModel(location.origin));
    other.append(el('option', { attrs: { value: CUSTOM_URL } }, 'A base URL…'), el('option', { attrs: { value: LOCAL_FILES } }, 'Files on this device…'));
    this.select.replaceChildren(hub, other);
    this.select.value = query.choice?.key ?? remembered?.choice.key ?? DEFAULT_MODEL;
    this.dtypeSelect.value = query.dtype ?? remembered?.dtype ?? DEFAULT_DTYPE;
    this.onChoiceChange();
  }

  private addOption(group: HTMLElement, choice: ModelChoice): void {
    this.choices.set(choice.key, choice);
    group.append(el('option', { attrs: { value: choice.key } }, choice.label));
  }

  private onChoiceChange(): void {
    this.urlField.hidden = this.select.value !== CUSTOM_URL;
    this.filesField.hidden = this.select.value !== LOCAL_FILES;
    this.error.textContent = '';
    this.renderMeta();
  }

  private onLocalFiles(files: FileList | null): void {
    this.localFiles = files ? [...files] : [];
    // New files are a new model, even though the picker entry is the same.
    if (this.loadedKey?.startsWith(LOCAL_FILES)) this.loadedKey = null;
    this.renderMeta();
  }

  get dtype(): WeightDtype {
    return resolveDtype(this.dtypeSelect.value);
  }

  /** The current choice, or a message saying what is still needed. */
  private currentChoice(): ModelChoice | string {
    const key = this.select.value;
    if (key === CUSTOM_URL) {
      const value = this.urlInput.value.trim();
      if (!value) return 'Enter the base URL of a model folder.';
      let base: string;
      try {
        base = asBaseUrl(value, location.href);
      } catch {
        return 'That is not a valid URL.';
      }
      const vocab = this.vocabInput.value.trim();
      return { key: `url:${base}`, label: base, source: base, ...(vocab ? { vocab: new URL(vocab, location.href).href } : {}) };
    }
    if (key === LOCAL_FILES) {
      if (this.localFiles.length === 0) return 'Choose the model’s folder or files.';
      return { key: LOCAL_FILES, label: `${this.localFiles.length} local files`, source: this.localFiles };
    }
    return this.choices.get(key) ?? this.choices.get(DEFAULT_MODEL)!;
  }

  /** Redraws size and cache state. */
  renderMeta(): void {
    const choice = this.currentChoice();
    if (typeof choice === 'string') {
      replaceChildren(this.meta, choice);
      this.loadButton.disabled = true;
      return;
    }
    const parts: (string | HTMLElement)[] = [];
    if (choice.note) parts.push(el('span', { class: 'note' }, choice.note), el('br'));
    if (Array.isArray(choice.source)) {
      const bytes = choice.source.reduce((sum, f) => sum + f.size, 0);
      parts.push(`${choice.source.length} files, ${formatBytes(bytes)}.`);
    } else {
      if (choice.downloadBytes) parts.push(`Download ${formatBytes(choice.downloadBytes)}. `);
      const hit = findCached(this.cached, choice, this.dtype);
      if (hit) {
        parts.push(el('strong', { class: 'cached', dataset: { cached: 'yes' } }, `Cached in this browser`), ` (${formatBytes(hit.bytes)}, ${hit.dtype}, saved ${new Date(hit.storedAt).toLocaleDateString()}): loads without the network.`);
      } else {
        const estimate = cachedSizeEstimate(choice, this.dtype);
        parts.push(el('span', { dataset: { cached: 'no' } }, 'Not cached yet'), estimate ? ` (about ${formatBytes(estimate)} in this browser’s storage once loaded).` : '.');
      }
    }
    replaceChildren(this.meta, ...parts);
    const loaded = this.loadedKey === choice.key + '|' + this.dtype;
    this.loadButton.textContent = loaded ? 'Load again' : !Array.isArray(choice.source) && findCached(this.cached, choice, this.dtype) ? 'Load from cache' : 'Load model';
    this.loadButton.disabled = this.loading !== null;
  }

  /** Refreshes the list of cached models (after loads and deletes). */
  async refreshCached(): Promise<void> {
    try {
      this.cached = await listCachedModels();
    } catch {
      this.cached = [];
    }
    this.renderMeta();
  }

  /** On start: a model already in the cache loads by itself (no network needed, so the app works offline). */
  async autoLoad(): Promise<void> {
    await this.refreshCached();
    const choice = this.currentChoice();
    if (typeof choice !== 'string' && !Array.isArray(choice.source) && findCached(this.cached, choice, this.dtype)) await this.load();
  }

  async load(): Promise<void> {
    const choice = this.currentChoice();
    if (typeof choice === 'string' || this.loading) return;
    const dtype = this.dtype;
    this.loading = new AbortController();
    const { signal } = this.loading;
    this.error.textContent = '';
    this.warning.textContent = '';
    this.loadButton.disabled = true;
    this.cancelButton.hidden = false;
    this.progress.hidden = false;
    this.progress.removeAttribute('value');
    this.progressText.textContent = 'Starting…';
    this.liveStatus.textContent = `Loading ${choice.label}.`;
    this.root.setAttribute('aria-busy', 'true');
    await this.state.coca?.dispose().catch(() => undefined);
    this.loadedKey = null;
    this.state.setModel(null);
    let lastPhase = '';
    let lastLive = 0;
    const started = performance.now();
    try {
      const coca = await createCoca({
        model: choice.source,
        dtype,
        signal,
        ...(choice.vocab ? { vocab: choice.vocab } : vocabAmong(choice.source)),
        ...(choice.revision ? { revision: choice.revision } : {}),
        // Problems the load survived (no room to store the weights, a damaged cache chunk refetched).
        onWarning: (warning: Error) => {
          this.warning.textContent = `${warning.name}: ${warning.message}`;
        },
        onProgress: (p: LoadProgress) => {
          const fraction = progressFraction(p);
          if (fraction === undefined) this.progress.removeAttribute('value');
          else this.progress.value = fraction;
          this.progress.dataset.phase = p.phase;
          this.progressText.textContent = describeProgress(p);
          const now = performance.now();
          if (p.phase !== lastPhase || now - lastLive > LIVE_PROGRESS_INTERVAL_MS) {
            this.liveStatus.textContent = fraction === undefined ? `${PHASE_LABELS[p.phase]}…` : `${PHASE_LABELS[p.phase]}: ${Math.round(fraction * 100)} percent.`;
            lastPhase = p.phase;
            lastLive = now;
          }
        },
      });
      const ms = performance.now() - started;
      this.loadedKey = choice.key + '|' + dtype;
      this.progress.value = 1;
      const from = coca.info.fromCache ? 'from this browser’s storage' : 'over the network';
      this.progressText.textContent = `Loaded ${choice.label} (${dtype}) ${from} in ${formatDuration(ms)}.`;
      this.liveStatus.textContent = this.progressText.textContent;
      this.state.recordTiming('load', `load (${coca.info.fromCache ? 'cache' : 'network'})`, ms);
      remember(choice, dtype);
      this.state.setModel(coca);
    } catch (error) {
      this.progress.hidden = true;
      const { name, message } = describeError(error);
      const aborted = signal.aborted || name === 'AbortError';
      this.progressText.textContent = aborted ? 'Loading cancelled.' : '';
      this.error.textContent = aborted ? '' : `${name}: ${message}`;
      this.liveStatus.textContent = aborted ? 'Loading cancelled.' : `Loading failed. ${message}`;
    } finally {
      this.loading = null;
      this.cancelButton.hidden = true;
      this.root.removeAttribute('aria-busy');
      await this.refreshCached();
      this.state.emit('cache');
    }
  }
}

/** A local folder may carry its own vocabulary file. */
function vocabAmong(source: ModelChoice['source']): { vocab?: File } {
  if (!Array.isArray(source)) return {};
  const vocab = source.find((f) => /bpe.*\.txt(\.gz)?$|vocab\.json$/i.test(f.name));
  return vocab ? { vocab } : {};
}

function remember(choice: ModelChoice, dtype: WeightDtype): void {
  if (Array.isArray(choice.source)) return;
  const value: RememberedModel = { key: choice.key, label: choice.label, source: String(choice.source), dtype };
  if (choice.vocab) value.vocab = choice.vocab;
  if (choice.revision) value.revision = choice.revision;
  try {
    localStorage.setItem(LAST_MODEL_KEY, JSON.stringify(value));
  } catch {
    // Private mode or storage disabled: the picker just starts at the default next time.
  }
}

function readRemembered(): { choice: ModelChoice; dtype: WeightDtype } | undefined {
  try {
    const raw = localStorage.getItem(LAST_MODEL_KEY);
    if (!raw) return undefined;
    const value = JSON.parse(raw) as RememberedModel;
    if (typeof value.key !== 'string' || typeof value.source !== 'string') return undefined;
    const known = HUB_MODELS.find((m) => m.key === value.key);
    const choice: ModelChoice = known ? { ...known } : { key: value.key, label: value.label, source: value.source };
    if (value.vocab) choice.vocab = value.vocab;
    if (value.revision) choice.revision = value.revision;
    return { choice, dtype: isWeightDtype(value.dtype) ? value.dtype : DEFAULT_DTYPE };
  } catch {
    return undefined;
  }
}

