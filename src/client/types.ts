// The client API contract: what a page gets from createCoca(). It is the engine's interface (src/engine/api.ts)
// over page images; the worker runs the engine behind it. The demo, the widget and the PWA use only this.
import type { CocaApi, ModelLoadOptions } from '../engine/api';

export type { CallOptions, CaptionResult, FrameClassification, FrameRequest, LoadPhase, LoadProgress, ModelInfo, ModelLoadOptions, RuntimeWarning, SimilarityResult } from '../engine/api';
export type { CacheRecheck, CaptionOptions, CaptionSettings, CaptionStrategy, CaptionToken, MathPrecision, WeightDtype } from '../options';
export type { CachedModelEntry as CachedModel, CacheEntryFilter as CachedModelFilter, CacheUsageSummary as CacheUsage } from '../io/cache';

/** A model: a hub repo id ('laion/…'), a base URL ending in '/', or the files of a local folder. */
export type ModelSource = string | URL | readonly File[];

export type ImageInput = Blob | ImageBitmap | ImageData | HTMLImageElement;

/** A camera frame: a playing <video> (its current frame), a VideoFrame, a canvas, a bitmap or pixels. */
export type FrameInput = HTMLVideoElement | VideoFrame | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | ImageData | HTMLImageElement;

export interface CreateCocaOptions extends ModelLoadOptions {
  model: ModelSource;
  /** bpe_simple_vocab_16e6.txt[.gz] as a URL or a picked file; default: next to the model, else the hub's CLIP vocabulary. */
  vocab?: string | URL | File;
  /** Store the weights in IndexedDB and read them from there next time (default true). */
  cache?: boolean;
}

/** A loaded model in a worker; its `info` is refreshed by every answer. */
export type Coca = CocaApi<ImageInput, ImageData, FrameInput>;
