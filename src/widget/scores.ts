// Zero-shot scores as a list of labels with probability bars, the best one marked: how <coca-similarity> and
// <coca-camera> show their results (parts: item, label, bar, value).

// Rows share their columns (subgrid), so every bar starts at the same place. Labels take at most 55% of the
// width and wrap within it, so a long label never squeezes the bars out: the bar column keeps at least 4rem.
export const SCORES_STYLES = `ol { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: fit-content(55%) minmax(4rem, 1fr) max-content; gap: 0.3rem 0.5rem; }
ol:empty { display: none; }
li { display: grid; grid-column: 1 / -1; grid-template-columns: subgrid; align-items: center; }
.label { overflow-wrap: anywhere; }
li.best .label { font-weight: 700; }
.bar { height: 0.55rem; background: var(--coca-track, #e4e2f0); border-radius: 999px; overflow: hidden; }
.fill { display: block; height: 100%; background: var(--coca-accent, #4b3fc7); }
li:not(.best) .fill { opacity: 0.55; }
.value { text-align: right; font-variant-numeric: tabular-nums; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }`;

export interface Scores {
  labels: readonly string[];
  probs: readonly number[];
  /** Index of the most probable label. */
  best: number;
}

/** Replaces the list's items with one per label. */
export function renderScores(list: HTMLOListElement, result: Scores): void {
  list.replaceChildren(
    ...result.labels.map((label, i) => {
      const item = document.createElement('li');
      const p = result.probs[i] ?? 0;
      item.setAttribute('part', i === result.best ? 'item best' : 'item');
      item.className = i === result.best ? 'best' : '';
      // The exact probability, for scripts (the text shows it rounded).
      item.dataset.prob = String(p);
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
