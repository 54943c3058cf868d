// Progress of a batch command on stderr: on a terminal one bar redrawn in place (n/N, images per second,
// time left); otherwise (a pipe, a log file) plain lines, at most one a second and always the last, so logs
// stay readable. Other messages (an image that failed) are printed between redraws without mangling the bar.

/** Redraws of the bar at most this often. */
const BAR_INTERVAL_MS = 100;
/** Plain progress lines at most this often. */
const LINE_INTERVAL_MS = 1000;
const DEFAULT_COLUMNS = 80;
/** Widest bar drawn, in cells, however wide the terminal. */
const MAX_BAR_CELLS = 40;

export interface Progress {
  /** Images finished (done or failed) of `total`. */
  done: number;
  total: number;
  /** Milliseconds since the work began. */
  elapsedMs: number;
}

/** Where progress goes: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** "0:09", "12:34", "1:02:03". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60));
  const ss = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${mm.padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** "12/40 images, 3.1 images/s, 0:09 left": rate and time left once an image is done. */
export function progressText({ done, total, elapsedMs }: Progress): string {
  const parts = [`${done}/${total} images`];
  if (done > 0 && elapsedMs > 0) {
    const rate = done / (elapsedMs / 1000);
    parts.push(`${rate.toFixed(1)} images/s`, `${formatDuration((total - done) / rate)} left`);
  }
  return parts.join(', ');
}

/** "[########--------] 12/40 images, 3.1 images/s, 0:09 left", fitted to `columns`. */
export function progressBar(progress: Progress, columns: number): string {
  const text = progressText(progress);
  const cells = Math.min(MAX_BAR_CELLS, columns - text.length - 4);
  if (cells < 4) return text.slice(0, Math.max(0, columns - 1));
  const filled = progress.total > 0 ? Math.floor((cells * progress.done) / progress.total) : cells;
  return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}] ${text}`;
}

export class ProgressReporter {
  private done = 0;
  private lastShown = -Infinity;
  private readonly started: number;
  /** Whether the bar is on screen (a message must clear it first). */
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly total: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.started = now();
  }

  /** `count` more images finished (done or failed). */
  advance(count: number): void {
    this.done += count;
    const t = this.now();
    const last = this.done >= this.total;
    if (!last && t - this.lastShown < (this.stream.isTTY ? BAR_INTERVAL_MS : LINE_INTERVAL_MS)) return;
    this.lastShown = t;
    const progress = { done: this.done, total: this.total, elapsedMs: t - this.started };
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[K${this.label} ${progressBar(progress, (this.stream.columns || DEFAULT_COLUMNS) - this.label.length - 1)}`);
      this.drawn = true;
    } else {
      this.stream.write(`${this.label}: ${progressText(progress)}\n`);
    }
  }

  /** A line of its own (an image that failed, the summary); the bar is redrawn below it at the next advance. */
  message(line: string): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
    this.stream.write(`${line}\n`);
    this.lastShown = -Infinity;
  }

  /** Seconds since the reporter started. */
  get seconds(): number {
    return (this.now() - this.started) / 1000;
  }
}
