// The library as JSONL (one JSON object per photo) or CSV (RFC 4180, one row per photo), with each photo's
// best labels: the labels whose text embeddings are closest to its image embedding.
import { topK } from './rank';
import type { LabelScore } from './types';

export interface ExportRow {
  path: string;
  name: string;
  /** SHA-256 of the bytes. */
  id: string;
  size: number;
  caption: string;
  labels: LabelScore[];
}

export const CSV_COLUMNS = ['path', 'name', 'sha256', 'size', 'caption', 'best_labels', 'best_label_scores'] as const;

/**
 * The `top` labels with the highest cosine between `embedding` and each row of `labelEmbeddings` (all unit
 * vectors, so the dot product is the cosine), best first.
 */
export function bestLabels(embedding: Float32Array, labels: readonly string[], labelEmbeddings: readonly Float32Array[], top: number): LabelScore[] {
  const scores = labelEmbeddings.map((text) => {
    let sum = 0;
    for (let i = 0; i < text.length; i++) sum += text[i]! * embedding[i]!;
    return sum;
  });
  return topK(scores, scores.length, top).map(({ index, score }) => ({ label: labels[index]!, score }));
}

export function toJsonl(rows: readonly ExportRow[]): string {
  return rows.map((row) => `${JSON.stringify({ path: row.path, name: row.name, sha256: row.id, size: row.size, caption: row.caption, labels: row.labels })}\n`).join('');
}

export function toCsv(rows: readonly ExportRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) {
    const cells = [row.path, row.name, row.id, String(row.size), row.caption, row.labels.map((l) => l.label).join('; '), row.labels.map((l) => String(l.score)).join('; ')];
    lines.push(cells.map(csvCell).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Quoted when needed (RFC 4180); a text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP). */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && Number.isNaN(Number(value)) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
