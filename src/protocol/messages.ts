// The worker/page protocol: what crosses between the page's client (src/client) and the worker's adapter over
// the engine (src/worker), through comlink, one interface used on both sides. Large values cross as
// transferables; errors cross by name (errors.ts here).
import type { CaptionResult, FrameClassification, LoadProgress, ModelInfo, SimilarityResult } from '../engine/api';
import type { CacheRecheck, CaptionSettings, CaptionToken, MathPrecision, Orientation, WeightDtype } from '../options';
import type { SerializedError } from './errors';

/** An image as it reaches the worker: a Blob or a bitmap (transferred) or pixels (copied). */
export type WorkerImage = Blob | ImageBitmap | ImageData;

/** A camera frame as it reaches the worker: a bitmap (transferred) or pixels (copied). */
export type WorkerFrame = ImageBitmap | ImageData;

/** A frame's zero-shot labels as they cross (the call's abort signal stays on the page). */
export interface FrameLabels {
  labels: string[];
  template?: string;
}

/** What the worker needs to load a model. Relative URLs are resolved on the page first. */
export interface LoadRequest {
  model: string | readonly File[];
  revision?: string;
  vocab?: string | File;
  dtype: WeightDtype;
  math: MathPrecision;
  orientation: Orientation;
  hubUrl?: string;
  cache: boolean;
  recheck: CacheRecheck;
  /** Testing knobs: cache chunk size and the first retry wait. */
  chunkBytes?: number;
  retryDelayMs?: number;
}

export type RuntimeEvent = { type: 'progress'; progress: LoadProgress } | { type: 'warning'; error: SerializedError };

/** Every answer carries a fresh ModelInfo, so the page's `coca.info` stays current without a round trip. */
export interface Reply<T> {
  value: T;
  info: ModelInfo;
}

/**
 * The worker's side. Calls run one at a time in the order they arrive; `callId` names a call so that
 * `abort(callId)` (which does not queue) can cancel it.
 */
export interface RuntimeApi {
  load(request: LoadRequest, events: (event: RuntimeEvent) => void, callId: number): Promise<ModelInfo>;
  encodeImage(images: WorkerImage[], callId: number): Promise<Reply<Float32Array[]>>;
  encodeText(texts: string[], callId: number): Promise<Reply<Float32Array[]>>;
  similarity(images: WorkerImage[], texts: string[], callId: number): Promise<Reply<SimilarityResult>>;
  caption(image: WorkerImage, settings: CaptionSettings, onToken: ((token: CaptionToken) => void) | null, callId: number): Promise<Reply<CaptionResult>>;
  modelView(image: WorkerImage, callId: number): Promise<Reply<ImageData>>;
  /** Null when the frame was dropped (two frames already held). */
  classifyFrame(frame: WorkerFrame, labels: FrameLabels, callId: number): Promise<Reply<FrameClassification | null>>;
  captionFrame(frame: WorkerFrame, settings: CaptionSettings, onToken: ((token: CaptionToken) => void) | null, callId: number): Promise<Reply<CaptionResult>>;
  abort(callId: number): void;
  info(): ModelInfo | null;
  dispose(): Promise<void>;
  /** Destroys the GPU device as a driver reset would (tests of recovery). */
  loseDeviceForTesting(): Promise<void>;
}
