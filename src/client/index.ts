// The package's main export: createCoca() starts a module worker that owns the GPU and the model, and
// returns a typed client for it; the cache functions work on the page without loading anything.
//
//   const coca = await createCoca({ model: 'laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k', onProgress });
//   const [embedding] = await coca.encodeImage(file);
//   const { text } = await coca.caption(file);
import { proxy, transfer, wrap, type Remote } from 'comlink';
import { AbortError, CocaError, DisposedError, ImageDecodeError } from '../errors';
import { WeightCache } from '../io/cache';
import { baseUrlOf, isRepoId } from '../io/hub';
import { FRAMES_HELD, resolveDtype, resolveFrameLabels, resolveMath, resolveOrientation, resolveRecheck, type CaptionOptions, type CaptionToken } from '../options';
import { deserializeError, installErrorTransfer } from '../protocol/errors';
import type { LoadRequest, Reply, RuntimeApi, RuntimeEvent, WorkerFrame, WorkerImage } from '../protocol/messages';
import type {
  CachedModel,
  CachedModelFilter,
  CacheUsage,
  CallOptions,
  CaptionResult,
  Coca,
  CreateCocaOptions,
  FrameClassification,
  FrameInput,
  FrameRequest,
  ImageInput,
  ModelInfo,
  SimilarityResult,
} from './types';

export * from './types';
export {
  AbortError,
  CocaError,
  DeviceLostError,
  DisposedError,
  GpuError,
  ImageDecodeError,
  ImageTooLargeError,
  ModelChangedError,
  ModelConfigError,
  ModelFormatError,
  NetworkError,
  OptionsError,
  QuotaExceededError,
  VocabularyError,
  WebGPUUnavailableError,
  CheckpointFormatError,
  LibraryError,
  CameraError,
} from '../errors';

installErrorTransfer();

/** Knobs for tests and benchmarks; not part of the stable API. */
export interface CocaTestingOptions {
  /** Cache chunk size in bytes (default 32 MiB). */
  chunkBytes?: number;
  /** First wait before an HTTP retry (default 250 ms). */
  retryDelayMs?: number;
}

/** Decoding options that keep the file's own pixel values (what PIL reads), not colour-managed ones. */
const BITMAP_OPTIONS: ImageBitmapOptions = { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' };

/**
 * Loads a CoCa model in a module worker: from the cache when it is there, else from the hub (or a URL, or
 * local files) with progress, storing it for next time. Rejects with a named error (WebGPUUnavailableError,
 * NetworkError, ModelFormatError, AbortError, …); the worker is ended then.
 */
export async function createCoca(options: CreateCocaOptions & { testing?: CocaTestingOptions }): Promise<Coca & { loseDeviceForTesting(): Promise<void> }> {
  options.signal?.throwIfAborted();
  const request: LoadRequest = {
    model: normalizeSource(options.model),
    dtype: resolveDtype(options.dtype),
    math: resolveMath(options.math),
    orientation: resolveOrientation(options.orientation),
    cache: options.cache ?? true,
    recheck: resolveRecheck(options.recheck),
    ...(options.revision !== undefined ? { revision: options.revision } : {}),
    ...(options.vocab !== undefined ? { vocab: options.vocab instanceof URL ? options.vocab.href : typeof options.vocab === 'string' ? absoluteUrl(options.vocab) : options.vocab } : {}),
    ...(options.hubUrl !== undefined ? { hubUrl: options.hubUrl } : {}),
    ...(options.testing?.chunkBytes !== undefined ? { chunkBytes: options.testing.chunkBytes } : {}),
    ...(options.testing?.retryDelayMs !== undefined ? { retryDelayMs: options.testing.retryDelayMs } : {}),
  };
  if (request.cache) requestPersistentStorage();
  const worker = new Worker(new URL('../worker/coca-worker.ts', import.meta.url), { type: 'module', name: 'coca-webgpu' });
  const client = new CocaClient(worker, options);
  try {
    await client.load(request, options.signal);
  } catch (error) {
    client.terminate();
    throw error;
  }
  return client;
}

class CocaClient implements Coca {
  private readonly remote: Remote<RuntimeApi>;
  private snapshot: ModelInfo | null = null;
  private nextCallId = 1;
  /** Calls are posted one after another, in call order, even when preparing an image takes a while. */
  private sendChain: Promise<void> = Promise.resolve();
  /** Rejections of calls in flight, for when the worker dies. */
  private readonly inFlight = new Set<(error: Error) => void>();
  private eventsProxy: ((event: RuntimeEvent) => void) | null = null;
  private closed: Error | null = null;
  /** Frame calls not yet answered: past FRAMES_HELD a frame is dropped here, before it is copied or sent. */
  private framesHeld = 0;

  constructor(
    private readonly worker: Worker,
    private readonly options: CreateCocaOptions,
  ) {
    this.remote = wrap<RuntimeApi>(worker);
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.fail(new CocaError(`the model worker failed: ${event.message || 'it could not be started (check the browser console)'}`));
    });
    worker.addEventListener('messageerror', () => this.fail(new CocaError('a message from the model worker could not be read')));
  }

  get info(): ModelInfo {
    if (!this.snapshot) throw new CocaError('the model is not loaded yet');
    return this.snapshot;
  }

  async load(request: LoadRequest, signal: AbortSignal | undefined): Promise<void> {
    const onProgress = this.options.onProgress;
    const onWarning = this.options.onWarning;
    this.eventsProxy = proxy((event: RuntimeEvent) => {
      if (event.type === 'progress') onProgress?.(event.progress);
      else onWarning?.(deserializeError(event.error));
    });
    const events = this.eventsProxy;
    this.snapshot = await this.send('loading the model', signal, async (id) => {
      const info = await this.remote.load(request, events, id);
      return { value: info, info };
    });
  }

  encodeImage(images: ImageInput | readonly ImageInput[], options: CallOptions = {}): Promise<Float32Array[]> {
    const list = asList(images);
    return this.send('encodeImage', options.signal, async (id) => {
      const { images: sent, transferables } = await toWorkerImages(list);
      return this.remote.encodeImage(transfer(sent, transferables), id);
    });
  }

  encodeText(texts: string | readonly string[], options: CallOptions = {}): Promise<Float32Array[]> {
    const list = typeof texts === 'string' ? [texts] : [...texts];
    return this.send('encodeText', options.signal, async (id) => this.remote.encodeText(list, id));
  }

  similarity(images: ImageInput | readonly ImageInput[], texts: readonly string[], options: CallOptions = {}): Promise<SimilarityResult> {
    const list = asList(images);
    return this.send('similarity', options.signal, async (id) => {
      const { images: sent, transferables } = await toWorkerImages(list);
      return this.remote.similarity(transfer(sent, transferables), [...texts], id);
    });
  }

  caption(image: ImageInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    const { onToken, signal, ...rest } = options;
    return this.send('caption', signal, async (id) => {
      const { images: [sent], transferables } = await toWorkerImages([image]);
      const tokens = onToken ? proxy((token: CaptionToken) => onToken(token)) : null;
      return this.remote.caption(transfer(sent!, transferables), rest, tokens, id);
    });
  }

  classifyFrame(frame: FrameInput, request: FrameRequest): Promise<FrameClassification | null> {
    try {
      resolveFrameLabels(request.labels, request.template);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.closed && this.framesHeld >= FRAMES_HELD) return Promise.resolve(null);
    const labels = { labels: [...request.labels], ...(request.template !== undefined ? { template: request.template } : {}) };
    this.framesHeld++;
    return this.send('classifyFrame', request.signal, async (id) => {
      const { frame: sent, transferables } = await toWorkerFrame(frame);
      return this.remote.classifyFrame(transfer(sent, transferables), labels, id);
    }).finally(() => this.framesHeld--);
  }

  captionFrame(frame: FrameInput, options: CaptionOptions = {}): Promise<CaptionResult> {
    const { onToken, signal, ...rest } = options;
    return this.send('captionFrame', signal, async (id) => {
      const { frame: sent, transferables } = await toWorkerFrame(frame);
      const tokens = onToken ? proxy((token: CaptionToken) => onToken(token)) : null;
      return this.remote.captionFrame(transfer(sent, transferables), rest, tokens, id);
    });
  }

  modelView(image: ImageInput, options: CallOptions = {}): Promise<ImageData> {
    return this.send('modelView', options.signal, async (id) => {
      const { images: [sent], transferables } = await toWorkerImages([image]);
      return this.remote.modelView(transfer(sent!, transferables), id);
    });
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    try {
      await this.remote.dispose();
    } finally {
      this.terminate(new DisposedError('the model was disposed; create a new one with createCoca()'));
    }
  }

  /** Destroys the worker's GPU device, as a driver reset would; the next call recovers. For tests. */
  async loseDeviceForTesting(): Promise<void> {
    await this.remote.loseDeviceForTesting();
  }

  terminate(reason: Error = new DisposedError('the model worker was ended')): void {
    this.fail(reason);
    this.worker.terminate();
    this.eventsProxy = null;
  }

  /** Ends every call in flight with `error` (the worker died or was ended). */
  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = error;
    for (const reject of this.inFlight) reject(error);
    this.inFlight.clear();
  }

  /**
   * Posts a call after every earlier one (so the worker queues them in call order), and settles with its
   * answer, its abort, or the worker's death, whichever comes first.
   */
  private send<T>(what: string, signal: AbortSignal | undefined, post: (callId: number) => Promise<Reply<T>>): Promise<T> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(new AbortError(`${what} was aborted`));
    const id = this.nextCallId++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        this.inFlight.delete(onDeath);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onDeath = (error: Error): void => {
        if (finish()) reject(error);
      };
      const onAbort = (): void => {
        // The worker stops at its next check; the caller hears at once.
        void this.remote.abort(id).catch(() => undefined);
        if (finish()) reject(new AbortError(`${what} was aborted`));
      };
      this.inFlight.add(onDeath);
      signal?.addEventListener('abort', onAbort, { once: true });
      const posted = this.sendChain.then(() => ({ answer: post(id) }));
      this.sendChain = posted.then(
        () => undefined,
        () => undefined,
      );
      posted
        .then(({ answer }) => answer)
        .then(
          (reply) => {
            this.snapshot = reply.info;
            if (finish()) resolve(reply.value);
          },
          (error: unknown) => {
            if (finish()) reject(error);
          },
        );
    });
  }
}

function asList(images: ImageInput | readonly ImageInput[]): ImageInput[] {
  return Array.isArray(images) ? [...(images as readonly ImageInput[])] : [images as ImageInput];
}

/**
 * Images as the worker takes them. Files and Blobs go as they are (the worker decodes them); an <img>,
 * a canvas or a bitmap becomes a new ImageBitmap that is transferred (the caller's own object stays
 * usable); ImageData is copied.
 */
async function toWorkerImages(images: readonly (ImageInput | FrameInput)[]): Promise<{ images: WorkerImage[]; transferables: Transferable[] }> {
  const transferables: Transferable[] = [];
  const out: WorkerImage[] = [];
  for (const image of images) {
    if (image instanceof Blob || (typeof ImageData !== 'undefined' && image instanceof ImageData)) {
      out.push(image);
      continue;
    }
    try {
      if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement && !image.complete) await image.decode();
      const bitmap = await createImageBitmap(image as ImageBitmapSource, BITMAP_OPTIONS);
      transferables.push(bitmap);
      out.push(bitmap);
    } catch (error) {
      throw new ImageDecodeError(`the page could not read this image (${(error as Error).message}); pass a loaded <img>, a canvas, a bitmap, ImageData or the file itself`);
    }
  }
  return { images: out, transferables };
}

/**
 * A frame as the worker takes it: a <video>, a VideoFrame or a canvas becomes a transferred bitmap of what it shows
 * now (the GPU copies it from there: every WebGPU can copy bitmaps, not every one camera VideoFrames), ImageData is
 * copied.
 */
async function toWorkerFrame(frame: FrameInput): Promise<{ frame: WorkerFrame; transferables: Transferable[] }> {
  if (typeof HTMLVideoElement !== 'undefined' && frame instanceof HTMLVideoElement && frame.readyState < HTMLMediaElement.HAVE_CURRENT_DATA) {
    throw new ImageDecodeError("the video has no frame to read yet: wait for its 'loadeddata' event");
  }
  const { images, transferables } = await toWorkerImages([frame]);
  return { frame: images[0] as ImageBitmap | ImageData, transferables };
}

/** Repo ids stay; anything else is a URL, resolved against the page (the worker's own URL is elsewhere). */
function normalizeSource(source: CreateCocaOptions['model']): string | readonly File[] {
  if (source instanceof URL) return source.href;
  if (typeof source !== 'string') return source;
  return isRepoId(source) ? source : absoluteUrl(source);
}

function absoluteUrl(url: string): string {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  return new URL(url, base).href;
}

/** Asks the browser to keep our storage under pressure (best effort; some browsers decide on their own). */
function requestPersistentStorage(): void {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  void storage?.persisted?.()
    .then((persisted) => (persisted ? true : storage.persist?.()))
    .catch(() => undefined);
}

// ---------------------------------------------------------------- the cache, without a model

let cache: WeightCache | null = null;
const pageCache = (): WeightCache => (cache ??= new WeightCache());

/** The models stored whole in this browser. */
export function listCachedModels(): Promise<CachedModel[]> {
  return pageCache().list();
}

/**
 * Deletes a model from this browser: every entry of `id` (a repo id, a model URL as given to createCoca, or an
 * id from listCachedModels) — every revision, dtype, hub and vocabulary — or only those matching `only`. A
 * download or read of the model in another tab finishes first. Returns how many entries went.
 */
export function deleteCachedModel(id: string, only: CachedModelFilter = {}): Promise<number> {
  return pageCache().deleteModel(cacheId(id), only);
}

/** Bytes our cache holds, and what the browser says the site uses and may use. */
export function cacheUsage(): Promise<CacheUsage> {
  return pageCache().usage();
}

/** The id the cache files a model under (the same rule as the loader's). */
function cacheId(id: string): string {
  if (id.startsWith('file:') || isRepoId(id)) return id;
  return baseUrlOf(absoluteUrl(id));
}
