// What is running and what it costs: adapter, dtype, GPU memory, load and per-step timings; and the weight
// cache (size, quota, delete).
import { cacheUsage, deleteCachedModel, listCachedModels } from '../client';
import type { CachedModel, CacheUsage, LoadPhase } from '../client/types';
import { describeError, el, replaceChildren } from './dom';
import { formatBytes, formatDuration, PHASE_LABELS } from './format';
import type { AppState } from './state';

export class RuntimePanel {
  private readonly info: HTMLDListElement;
  private readonly timings: HTMLDListElement;
  private readonly usage: HTMLElement;
  private readonly cacheList: HTMLUListElement;
  private readonly cacheError: HTMLElement;
  private readonly cacheStatus: HTMLElement;

  constructor(
    readonly root: HTMLElement,
    private readonly state: AppState,
    private readonly adapterDescription: string,
  ) {
    this.info = el('dl', { id: 'runtime-info', class: 'facts' });
    this.timings = el('dl', { id: 'runtime-timings', class: 'facts' });
    this.usage = el('p', { id: 'cache-usage', class: 'meta' });
    this.cacheList = el('ul', { id: 'cache-list', class: 'cache-list', attrs: { 'aria-label': 'Cached models' } });
    this.cacheError = el('p', { id: 'cache-error', class: 'error', attrs: { role: 'alert' } });
    this.cacheStatus = el('p', { class: 'visually-hidden', attrs: { 'aria-live': 'polite' } });
    replaceChildren(
      root,
      el('h2', { id: 'runtime-heading' }, 'Runtime'),
      el('div', { class: 'runtime-grid' }, el('div', {}, el('h3', {}, 'Model and GPU'), this.info), el('div', {}, el('h3', {}, 'Timings'), this.timings)),
      el('h3', {}, 'Weights stored in this browser'),
      this.usage,
      this.cacheList,
      this.cacheError,
      this.cacheStatus,
    );
    state.on('model', () => this.renderInfo());
    state.on('timings', () => this.renderInfo());
    state.on('cache', () => void this.refreshCache());
    this.renderInfo();
    void this.refreshCache();
  }

  private renderInfo(): void {
    const coca = this.state.coca;
    const rows: [string, string][] = [['Adapter', coca?.info.adapter || this.adapterDescription]];
    if (coca) {
      const info = coca.info;
      rows.push(
        ['Model', info.id],
        ['Revision', info.revision],
        ['Weights', info.dtype],
        ['GPU memory in use', formatBytes(info.gpuBytes)],
        ['Loaded from', info.fromCache ? 'this browser’s storage' : 'the network'],
        ['Stored in this browser', info.cached === false ? 'no (see warnings)' : 'yes'],
        ['GPU objects', `${info.counts.pipelines} pipelines, ${info.counts.buffers} buffers, ${info.counts.submits} submits, ${info.counts.dispatches} dispatches`],
      );
      if (info.deviceLosses) rows.push(['GPU device losses', `${info.deviceLosses} (recovered)`]);
      for (const warning of info.warnings ?? []) rows.push(['Warning', `${warning.name}: ${warning.message}`]);
    } else {
      rows.push(['Model', 'none loaded']);
    }
    replaceChildren(this.info, ...rows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', { dataset: { fact: term } }, value)]));

    const timingRows: [string, string][] = [];
    for (const [phase, ms] of Object.entries(coca?.info.loadTimings ?? {}) as [LoadPhase, number][]) {
      timingRows.push([`load: ${PHASE_LABELS[phase] ?? phase}`, formatDuration(ms)]);
    }
    for (const { label, ms } of this.state.timings.values()) timingRows.push([label, formatDuration(ms)]);
    if (timingRows.length === 0) timingRows.push(['–', 'nothing run yet']);
    replaceChildren(this.timings, ...timingRows.flatMap(([term, value]) => [el('dt', {}, term), el('dd', {}, value)]));
  }

  async refreshCache(): Promise<void> {
    let models: CachedModel[] = [];
    try {
      models = await listCachedModels();
      const usage = await cacheUsage();
      const persisted = await navigator.storage?.persisted?.().catch(() => false);
      replaceChildren(
        this.usage,
        describeUsage(usage),
        persisted ? ' Storage is persistent (the browser will not evict it on its own).' : ' Storage may be evicted by the browser when the disk is short.',
      );
    } catch (error) {
      const { name, message } = describeError(error);
      this.cacheError.textContent = `Could not read the cache (${name}): ${message}`;
    }
    replaceChildren(
      this.cacheList,
      ...models.map((model) =>
        el(
          'li',
          { dataset: { modelId: model.id, dtype: model.dtype } },
          el('span', { class: 'cache-name' }, model.id),
          el('span', { class: 'hint' }, ` ${model.dtype} · ${formatBytes(model.bytes)} · ${new Date(model.storedAt).toLocaleString()}`),
          el(
            'button',
            { class: 'link-button danger', attrs: { type: 'button', 'aria-label': `Delete ${model.id} (${model.dtype}) from this browser` }, on: { click: () => void this.delete(model) } },
            'Delete',
          ),
        ),
      ),
    );
    if (models.length === 0) this.cacheList.append(el('li', { class: 'hint' }, 'No models stored yet.'));
  }

  private async delete(model: CachedModel): Promise<void> {
    this.cacheError.textContent = '';
    try {
      await deleteCachedModel(model.id, { revision: model.revision, dtype: model.dtype, hubUrl: model.hubUrl, vocab: model.vocab }); // this row's entry only
      this.cacheStatus.textContent = `Deleted ${model.id} from this browser.`;
    } catch (error) {
      const { name, message } = describeError(error);
      this.cacheError.textContent = `Could not delete ${model.id} (${name}): ${message}`;
    }
    this.state.emit('cache');
  }
}

function describeUsage(usage: CacheUsage): string {
  const ours = `${usage.models} model${usage.models === 1 ? '' : 's'}, ${formatBytes(usage.bytes)} in the weight cache (interrupted downloads included).`;
  if (usage.usage === undefined || !usage.quota) return ours;
  return `${ours} The whole site uses ${formatBytes(usage.usage)} of the ${formatBytes(usage.quota)} the browser allows it.`;
}
