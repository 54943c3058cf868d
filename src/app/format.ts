// Numbers for people: sizes, rates, durations and load progress. Decimal units (1 MB = 10⁶ bytes), as the
// hub and the model docs state file sizes.
import type { LoadPhase, LoadProgress } from '../client/types';

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–';
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '';
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const totalSeconds = Math.round(seconds);
  const minutes = Math.floor(totalSeconds / 60);
  if (minutes < 60) return `${minutes} min ${String(totalSeconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Seconds left at the current rate, or undefined when it cannot be told (unknown total or no rate yet). */
export function secondsLeft(progress: Pick<LoadProgress, 'bytesDone' | 'bytesTotal' | 'rate'>): number | undefined {
  if (progress.bytesTotal <= 0 || progress.rate <= 0) return undefined;
  return Math.max(0, progress.bytesTotal - progress.bytesDone) / progress.rate;
}

export const PHASE_LABELS: Record<LoadPhase, string> = {
  download: 'Downloading',
  convert: 'Converting weights',
  'cache-write': 'Saving to this browser’s storage',
  'cache-read': 'Reading from this browser’s storage',
  upload: 'Uploading to the GPU',
  compile: 'Compiling GPU kernels',
};

/** One line for the progress bar's label, e.g. "Downloading · 12.3 MB of 1.01 GB · 5.20 MB/s · about 3 min 14 s left". */
export function describeProgress(progress: LoadProgress): string {
  const parts = [PHASE_LABELS[progress.phase] ?? progress.phase];
  // Compiling counts pipelines, not bytes.
  if (progress.phase === 'compile') {
    const fraction = progressFraction(progress);
    if (fraction !== undefined) parts.push(formatPercent(fraction));
    return parts.join(' · ');
  }
  if (progress.bytesTotal > 0) parts.push(`${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`);
  else if (progress.bytesDone > 0) parts.push(formatBytes(progress.bytesDone));
  const rate = formatRate(progress.rate);
  if (rate) parts.push(rate);
  const left = secondsLeft(progress);
  if (left !== undefined && progress.bytesDone < progress.bytesTotal) parts.push(`about ${formatDuration(left * 1000)} left`);
  return parts.join(' · ');
}

/** Fraction done in [0, 1], or undefined for an indeterminate bar. */
export function progressFraction(progress: Pick<LoadProgress, 'bytesDone' | 'bytesTotal'>): number | undefined {
  if (progress.bytesTotal <= 0) return undefined;
  return Math.min(1, Math.max(0, progress.bytesDone / progress.bytesTotal));
}

export function formatPercent(fraction: number): string {
  const percent = fraction * 100;
  return `${percent >= 99.95 || percent < 0.05 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}
