// A live camera scored frame by frame, shared by the demo's Camera panel and <coca-camera>: the camera started
// and stopped (tracks released), its failures named (CameraError, with what to do), and a loop that hands the
// model every frame it can take — one per new video frame, at most FRAMES_HELD in flight, so a slow adapter
// skips frames instead of queueing them — with frames per second and latency measured on the page.
import { CameraError } from '../errors';
import type { Coca, FrameClassification } from '../client/types';
import { FRAMES_HELD } from '../options';

/** What to score a frame with, read at each frame (labels may change while the camera runs). */
export interface FrameJob {
  coca: Coca;
  labels: readonly string[];
  template: string;
}

export interface FrameRate {
  /** Answers per second over the last RATE_WINDOW_MS. */
  fps: number;
  /** Milliseconds from taking the frame to its answer. */
  latencyMs: number;
}

/** Frames per second are counted over this window. */
const RATE_WINDOW_MS = 2000;

/** The camera error for a getUserMedia failure: the DOM's error name mapped to a problem and a message that says what to do. */
export function cameraError(error: unknown): CameraError {
  if (error instanceof CameraError) return error;
  const name = error instanceof Error || (typeof DOMException !== 'undefined' && error instanceof DOMException) ? (error as Error).name : 'Error';
  const said = error instanceof Error ? error.message : String(error);
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new CameraError(`camera access was denied (${name}). Allow the camera for this site (the camera icon in the address bar), then start the camera again.`, 'denied');
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new CameraError(`no camera was found (${name}). Connect a camera, then start it again.`, 'missing');
    case 'NotReadableError':
    case 'AbortError':
      return new CameraError(`the camera could not be started (${name}): another application may be using it. Close it, then start the camera again.`, 'busy');
    default:
      return new CameraError(`the camera could not be started (${name}: ${said}).`, 'failed');
  }
}

export class CameraFeed {
  private stream: MediaStream | null = null;
  private inFlight = 0;
  /** Bumped by every start and stop: a start that was overtaken releases what it got. */
  private run = 0;
  /** Bumped by every classify(), stop() and scoring error: frame callbacks and answers of an earlier loop are ignored. */
  private loop = 0;
  /** When the current loop's last answers came. */
  private answered: number[] = [];

  constructor(readonly video: HTMLVideoElement) {
    video.muted = true;
    video.playsInline = true;
  }

  get running(): boolean {
    return this.stream !== null;
  }

  /** The camera's tracks while it runs (e.g. to read their settings). */
  get tracks(): MediaStreamTrack[] {
    return this.stream?.getTracks() ?? [];
  }

  /** The video inputs the browser lists (labels only once camera access was granted). */
  static async cameras(): Promise<MediaDeviceInfo[]> {
    const devices = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
    return devices.filter((d) => d.kind === 'videoinput');
  }

  /** Starts the camera (a given one, or the browser's choice) and shows it in the video; rejects with a CameraError. */
  async start(deviceId?: string): Promise<void> {
    this.stop();
    const run = this.run;
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new CameraError('this page cannot use a camera: cameras need a secure page (https:// or localhost) in a browser that offers them.', 'unsupported');
    }
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: deviceId ? { deviceId: { exact: deviceId } } : true, audio: false });
    } catch (error) {
      if (run !== this.run) return;
      throw cameraError(error);
    }
    if (run !== this.run) {
      // Stopped while the browser was asking: release what it gave.
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.stream = stream;
    this.video.srcObject = stream;
    try {
      await this.video.play();
    } catch (error) {
      // Stopped while the video was starting: nothing went wrong.
      if (run !== this.run) return;
      this.stop();
      throw cameraError(error);
    }
  }

  /** Stops the camera: every track released, the loop ended, answers still on their way ignored. */
  stop(): void {
    this.run++;
    this.loop++;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.video.srcObject = null;
    this.answered = [];
  }

  /**
   * Scores frames while the camera runs: at each new video frame, when fewer than FRAMES_HELD are in flight and
   * `job()` gives something to do. Stops scoring (the camera keeps running) at the first error.
   */
  classify(job: () => FrameJob | null, onResult: (result: FrameClassification, rate: FrameRate) => void, onError: (error: unknown) => void): void {
    const loop = ++this.loop;
    this.answered = [];
    const next = (): void => {
      if (loop !== this.loop || !this.running) return;
      this.afterFrame(next);
      const work = job();
      if (!work || this.inFlight >= FRAMES_HELD || this.video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) return;
      this.inFlight++;
      const taken = performance.now();
      work.coca
        .classifyFrame(this.video, { labels: work.labels, template: work.template })
        .then(
          (result) => {
            if (loop !== this.loop || result === null) return;
            onResult(result, this.rate(taken));
          },
          (error: unknown) => {
            if (loop !== this.loop) return;
            this.loop++;
            onError(error);
          },
        )
        .finally(() => this.inFlight--);
    };
    this.afterFrame(next);
  }

  /** Runs `callback` when the video shows its next frame (or at the next animation frame where that is not known). */
  private afterFrame(callback: () => void): void {
    if ('requestVideoFrameCallback' in this.video) this.video.requestVideoFrameCallback(() => callback());
    else requestAnimationFrame(() => callback());
  }

  private rate(taken: number): FrameRate {
    const now = performance.now();
    this.answered.push(now);
    while (this.answered.length > 0 && this.answered[0]! < now - RATE_WINDOW_MS) this.answered.shift();
    const span = Math.min(RATE_WINDOW_MS, now - (this.answered[0] ?? now));
    const fps = this.answered.length > 1 && span > 0 ? ((this.answered.length - 1) * 1000) / span : 0;
    return { fps, latencyMs: now - taken };
  }
}
