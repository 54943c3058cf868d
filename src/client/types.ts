// The client API contract: what a page gets from createCoca(). The worker implements it behind comlink;
// the demo, the widget and the PWA use only this.
import type { CaptionOptions, MathPrecision, WeightDtype } from '../options';

export type { CaptionOptions, CaptionSettings, CaptionStrategy, CaptionToken, MathPrecision, WeightDtype } from '../options';

/** A model: a hub repo id ('laion/…'), a base URL ending in '/', or the files of a local folder. */
export type ModelSource = string | URL | readonly File[];

export type LoadPhase = 'download' | 'convert' | 'cache-write' | 'cache-read' | 'upload' | 'compile';

export interface LoadProgress {
  phase: LoadPhase;
  /** Bytes done and in all for this phase (total 0 when unknown). */
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second over the last second or so (0 when not meaningful). */
  rate: number;
  /** The file or tensor being worked on, for display. */
  detail?: string;
}

export interface CaptionResult {
  text: string;
  tokens: number[];
  /** Milliseconds from the call to the last token. */
  ms: number;
}

export interface SimilarityResult {
  /** logit_scale · cosine, [images][texts]. */
  logits: number[][];
  /** softmax over texts for each image. */
  probs: number[][];
  /** Plain cosine similarities, [images][texts]. */
  cosine: number[][];
}

export interface ModelInfo {
  id: string;
  revision: string;
  config: unknown;
  dtype: WeightDtype;
  adapter: string;
  limits: Record<string, number>;
  /** GPU memory in use by this model, bytes. */
  gpuBytes: number;
  /** Milliseconds per load phase. */
  loadTimings: Partial<Record<LoadPhase, number>>;
  /** Where the weights came from on this load. */
  fromCache: boolean;
  /** GPU objects created so far (after the first call of each kind these stop growing). */
  counts: { pipelines: number; buffers: number; bindGroups: number; submits: number; dispatches: number };
  /** Whether the model is now stored whole in this browser (false when caching is off or the quota ran out). */
  cached?: boolean;
  /** Times the GPU device was lost (and the model re-uploaded onto a new one). */
  deviceLosses?: number;
  /** What went wrong without failing a call (quota, a damaged cache chunk, a lost device), oldest first. */
  warnings?: RuntimeWarning[];
}

/** A problem the runtime survived, as a named error's fields (QuotaExceededError adds needed and free). */
export interface RuntimeWarning {
  name: string;
  message: string;
  needed?: number;
  free?: number;
}

export type ImageInput = Blob | ImageBitmap | ImageData | HTMLImageElement;

export interface CreateCocaOptions {
  model: ModelSource;
  revision?: string;
  vocab?: string | URL | File;
  /** Weights on the GPU: 'fp16' (default) or 'fp32'. */
  dtype?: WeightDtype;
  /** Matmul arithmetic: 'f32' (default), or 'f16' products summed in f32 where the GPU has shader-f16. */
  math?: MathPrecision;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Hears what went wrong without failing the load or a call: the error itself (QuotaExceededError, DeviceLostError, …). */
  onWarning?: (error: Error) => void;
  /** Store the weights in IndexedDB and read them from there next time (default true). */
  cache?: boolean;
  /** Where repo ids resolve (a hub mirror); default https://huggingface.co. */
  hubUrl?: string;
}

export interface Coca {
  readonly info: ModelInfo;
  encodeImage(images: ImageInput | readonly ImageInput[]): Promise<Float32Array[]>;
  encodeText(texts: string | readonly string[]): Promise<Float32Array[]>;
  similarity(images: ImageInput | readonly ImageInput[], texts: readonly string[]): Promise<SimilarityResult>;
  caption(image: ImageInput, options?: CaptionOptions): Promise<CaptionResult>;
  /** The 8-bit center crop the model sees (for a thumbnail). */
  modelView(image: ImageInput): Promise<ImageData>;
  dispose(): Promise<void>;
}

/** What cacheUsage() reports. */
export interface CacheUsage {
  /** Complete models stored. */
  models: number;
  /** Bytes our cache holds (complete models and interrupted downloads). */
  bytes: number;
  /** navigator.storage.estimate() for the whole site, where the browser has it. */
  usage?: number;
  quota?: number;
}

export interface CachedModel {
  id: string;
  revision: string;
  dtype: WeightDtype;
  bytes: number;
  /** ms since epoch. */
  storedAt: number;
}
