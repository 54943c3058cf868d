// The one engine interface (web-llm's MLCEngineInterface pattern): CocaEngine implements it in the thread it
// runs in (the worker, the CLI, the tests in Node), and the page's client implements it by forwarding every
// call to an engine in a worker. Only the image types differ between hosts.
import type { CacheRecheck, CaptionOptions, MathPrecision, Orientation, WeightDtype } from '../options';

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

/** How any host loads a model; each adds where the model and the vocabulary may come from. */
export interface ModelLoadOptions {
  /** A git revision of a hub repo (default 'main'). */
  revision?: string;
  /** Weights on the GPU: 'fp16' (default) or 'fp32'. */
  dtype?: WeightDtype;
  /** Matmul arithmetic: 'f32' (default), or 'f16' products summed in f32 where the GPU has shader-f16. */
  math?: MathPrecision;
  /** EXIF orientation of image files: 'ignore' (default, as OpenCLIP) or 'exif' (upright first, as browsers show them). */
  orientation?: Orientation;
  /** Where repo ids resolve (a hub mirror); default https://huggingface.co. */
  hubUrl?: string;
  /**
   * Whether a model loaded from the cache is compared with the server's file: 'background' (default; a change is
   * a ModelChangedError warning), 'before-load' (a changed model is downloaded again), 'never'.
   */
  recheck?: CacheRecheck;
  onProgress?: (p: LoadProgress) => void;
  /** Hears what went wrong without failing the load or a call: the error itself (QuotaExceededError, DeviceLostError, …). */
  onWarning?: (error: Error) => void;
  /** Cancels the load. */
  signal?: AbortSignal;
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
  /** The normalized embeddings the scores come from, one per image and per text. */
  imageFeatures: Float32Array[];
  textFeatures: Float32Array[];
}

/** Zero-shot labels for a camera frame. */
export interface FrameRequest extends CallOptions {
  /** 1 to 256 labels (their text embeddings are computed once and kept between frames). */
  labels: readonly string[];
  /** Each label goes in at {label} (default 'a photo of a {label}'); without {label} the labels are used as written. */
  template?: string;
}

/** One frame's zero-shot scores: what `similarity` gives for one image, per label. */
export interface FrameClassification {
  labels: string[];
  /** The texts scored: the labels through the template. */
  texts: string[];
  /** Softmax over the labels. */
  probs: number[];
  /** logit_scale · cosine. */
  logits: number[];
  cosine: number[];
  /** Index of the most probable label. */
  best: number;
  /** Milliseconds from the call to the answer: the frame's latency. */
  ms: number;
}

/** A problem the engine survived, as a named error's fields (QuotaExceededError adds needed and free). */
export interface RuntimeWarning {
  name: string;
  message: string;
  needed?: number;
  free?: number;
}

export interface ModelInfo {
  id: string;
  revision: string;
  /** The model's config (src/model/config.ts CocaConfig), or null before a model is loaded. */
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
  /** Whether the model is now stored whole in the cache (false when caching is off or the quota ran out). */
  cached?: boolean;
  /** Times the GPU device was lost (and the model re-uploaded onto a new one). */
  deviceLosses?: number;
  /** What went wrong without failing a call (quota, a damaged cache chunk, a lost device), oldest first. */
  warnings?: RuntimeWarning[];
}

/** Options every call takes. */
export interface CallOptions {
  /** Cancels the call: AbortError, at once for the caller, within a step or two on the GPU. */
  signal?: AbortSignal;
}

/**
 * A loaded model. Calls run one at a time in call order; every failure is a named error from src/errors.ts.
 * `Image` is what the host can decode; `View` is how it returns pixels; `Frame` is a camera frame it takes.
 */
export interface CocaApi<Image, View, Frame> {
  /** What is loaded, on what, and what it cost; current after every call. */
  readonly info: ModelInfo;
  /** Normalized image embeddings, one per image (a batch is one pass). */
  encodeImage(images: Image | readonly Image[], options?: CallOptions): Promise<Float32Array[]>;
  /** Normalized text embeddings, one per text. */
  encodeText(texts: string | readonly string[], options?: CallOptions): Promise<Float32Array[]>;
  similarity(images: Image | readonly Image[], texts: readonly string[], options?: CallOptions): Promise<SimilarityResult>;
  caption(image: Image, options?: CaptionOptions): Promise<CaptionResult>;
  /**
   * The labels' zero-shot probabilities for one camera frame, preprocessed on the GPU (no pixels come back).
   * At most two frames are held at once — one on the GPU, one whose result is being read back — so the next
   * frame is submitted while the last result comes back; a frame that arrives while two are held is dropped
   * unread, and the call resolves null. Bad labels: OptionsError.
   */
  classifyFrame(frame: Frame, request: FrameRequest): Promise<FrameClassification | null>;
  /** A caption of one camera frame, preprocessed on the GPU. */
  captionFrame(frame: Frame, options?: CaptionOptions): Promise<CaptionResult>;
  /** The 8-bit center crop the model sees (for a thumbnail). */
  modelView(image: Image, options?: CallOptions): Promise<View>;
  /** Frees the GPU memory; later calls reject with DisposedError. */
  dispose(): Promise<void>;
}
