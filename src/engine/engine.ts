// The engine: one GPU device, one model, one tokenizer, and every call on them — the same object in the
// worker (behind comlink), in the Node CLI and in the tests. Calls run one at a time in arrival order (they
// share the model's activation buffers); each can be aborted through its signal. A lost device is reported
// when it happens and replaced on the next call, the weights reloaded (from the cache when there is one).
// Callbacks (progress, warnings, tokens) may return promises, as comlink proxies do: a call settles only
// once every callback it made has settled, so a page hears a call's events before its answer.
import { AbortError, CocaError, DeviceLostError, DisposedError, GpuError, QuotaExceededError } from '../errors';
import { Gpu } from '../gpu/gpu';
import { preprocess, preprocessToRgba, type PreprocessOptions, type RgbaImage } from '../image/index';
import type { WeightCache } from '../io/cache';
import { filesFolder, type LocalFolder, type VocabularyFiles, type VocabularySource } from '../io/hub';
import { CocaModel, EOT, SOT } from '../model/coca';
import type { CaptionImage } from '../model/decoding';
import type { CocaConfig } from '../model/config';
import { CocaWeights, type WeightLayout } from '../model/weights';
import { FRAMES_HELD, resolveDtype, resolveFrameLabels, resolveMath, resolveOrientation, resolveRecheck, type CacheRecheck, type CaptionOptions, type MathPrecision, type Orientation, type WeightDtype } from '../options';
import { ClipTokenizer, loadTokenizerFromBytes } from '../text/index';
import type { CallOptions, CaptionResult, CocaApi, FrameClassification, FrameRequest, LoadPhase, ModelInfo, ModelLoadOptions, RuntimeWarning, SimilarityResult } from './api';
import { FrameEncoder } from './frame-encoder';
import type { EngineFrame, EngineHost, EngineImage } from './host';
import { loadWeights, type WeightSink } from './loader';
import { ProgressMeter } from './progress';

export interface EngineOptions extends ModelLoadOptions {
  /** A hub repo id, a base URL, the files of a picked folder, a LocalFolder, or (in Node) a folder path. */
  model: string | URL | readonly File[] | LocalFolder;
  /** bpe_simple_vocab_16e6.txt[.gz]: a URL, the file itself, or (in Node) its path. Default: next to the model, else the hub's CLIP vocabulary. */
  vocab?: VocabularySource;
  /** The weight cache to read from and store into (the browser's IndexedDB); absent or null: none. */
  cache?: WeightCache | null;
  /** Testing knobs: cache chunk size and the first HTTP retry wait. */
  chunkBytes?: number;
  retryDelayMs?: number;
}

interface Loaded {
  gpu: Gpu;
  model: CocaModel;
  config: CocaConfig;
  tokenizer: ClipTokenizer;
  id: string;
  revision: string;
  /** Camera frames' GPU preprocessing and readback slots, made on the first frame. */
  frames?: FrameEncoder;
}

/** Label sets whose text embeddings are kept (a camera view switching between a few label lists). */
const KEPT_LABEL_SETS = 8;

/** Weights written straight into GPU buffers; each chunk waits for the queue, so uploads never pile up in memory. */
class GpuSink implements WeightSink {
  constructor(
    readonly gpu: Gpu,
    readonly weights: CocaWeights,
  ) {}

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    this.weights.writeStream(this.gpu, offset, bytes);
    await this.gpu.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    this.weights.destroy();
  }
}

export class CocaEngine implements CocaApi<EngineImage, RgbaImage, EngineFrame> {
  private loaded: Loaded | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** The controllers of calls queued or running: dispose() aborts them. */
  private readonly running = new Set<AbortController>();
  /** Devices this engine destroyed itself: their `lost` is not news. */
  private readonly retired = new WeakSet<Gpu>();
  /** Settles when every callback made so far has settled; awaited before a call settles. */
  private delivered: Promise<void> = Promise.resolve();
  private readonly warnings: RuntimeWarning[] = [];
  private deviceLosses = 0;
  /** Frames taken and not yet answered (queued, on the GPU or being read back): at most FRAMES_HELD. */
  private framesHeld = 0;
  /** Text embeddings of recent label sets (by their texts), oldest first. */
  private readonly labelFeatures = new Map<string, Float32Array[]>();
  private loadTimings: ModelInfo['loadTimings'] = {};
  private fromCache = false;
  private cached = false;
  private disposed = false;
  private readonly dtype: WeightDtype;
  private readonly math: MathPrecision;
  private readonly orientation: Orientation;

  private constructor(
    private readonly host: EngineHost,
    private readonly options: EngineOptions,
    private readonly source: string | URL | LocalFolder,
    private readonly vocab: VocabularySource | undefined,
  ) {
    this.dtype = resolveDtype(options.dtype);
    this.math = resolveMath(options.math);
    this.orientation = resolveOrientation(options.orientation);
  }

  /**
   * Loads a model: from the cache when it holds it, else from the hub, a URL or local files, with progress,
   * storing it for next time. Rejects with a named error (OptionsError, NetworkError, ModelConfigError,
   * ModelFormatError, AbortError, WebGPUUnavailableError, …) and keeps nothing on the GPU then.
   */
  static async load(host: EngineHost, options: EngineOptions): Promise<CocaEngine> {
    const source = await modelSource(host, options.model);
    const vocab = typeof options.vocab === 'string' ? ((await host.localFile?.(options.vocab)) ?? options.vocab) : options.vocab;
    const engine = new CocaEngine(host, options, source, vocab);
    try {
      await engine.enqueue('loading the model', options.signal, (signal) => engine.loadModel(signal));
    } catch (error) {
      await engine.dispose();
      throw error;
    }
    return engine;
  }

  get info(): ModelInfo {
    const m = this.loaded;
    const stats = m?.gpu.stats;
    return {
      id: m?.id ?? '',
      revision: m?.revision ?? this.options.revision ?? 'main',
      config: m?.config ?? null,
      dtype: this.dtype,
      adapter: m?.gpu.adapterName ?? '',
      limits: m ? plainLimits(m.gpu.info.limits) : {},
      gpuBytes: stats ? stats.bytes.weights + stats.bytes.activations + stats.bytes.uniforms + stats.bytes.staging : 0,
      loadTimings: { ...this.loadTimings },
      fromCache: this.fromCache,
      counts: {
        pipelines: stats?.pipelinesCreated ?? 0,
        buffers: stats?.buffersCreated ?? 0,
        bindGroups: stats?.bindGroupsCreated ?? 0,
        submits: stats?.submits ?? 0,
        dispatches: stats?.dispatches ?? 0,
      },
      cached: this.cached,
      deviceLosses: this.deviceLosses,
      warnings: [...this.warnings],
    };
  }

  encodeImage(images: EngineImage | readonly EngineImage[], options: CallOptions = {}): Promise<Float32Array[]> {
    const list = asList(images);
    return this.call('encodeImage', options.signal, async (m) => m.model.encodeImages(await Promise.all(list.map((image) => this.pixels(m, image)))));
  }

  encodeText(texts: string | readonly string[], options: CallOptions = {}): Promise<Float32Array[]> {
    const list = typeof texts === 'string' ? [texts] : [...texts];
    return this.call('encodeText', options.signal, (m) => m.model.encodeTexts(m.tokenizer.tokenize(list, m.config.text.contextLength)));
  }

  similarity(images: EngineImage | readonly EngineImage[], texts: readonly string[], options: CallOptions = {}): Promise<SimilarityResult> {
    const list = asList(images);
    return this.call('similarity', options.signal, async (m) => {
      const imageFeatures = await m.model.encodeImages(await Promise.all(list.map((image) => this.pixels(m, image))));
      const textFeatures = await m.model.encodeTexts(m.tokenizer.tokenize(texts, m.config.text.contextLength));
      return { ...m.model.similarity(imageFeatures, textFeatures), imageFeatures, textFeatures };
    });
  }

  caption(image: EngineImage, options: CaptionOptions = {}): Promise<CaptionResult> {
    return this.captionOf('caption', options, (m) => this.pixels(m, image));
  }

  /**
   * Captions of several images, the vision tower run once for the batch: each equals `caption` of that image
   * alone. A batch's captions arrive together, so each one's `ms` is the batch's time per image.
   */
  captionImages(images: readonly EngineImage[], options: Omit<CaptionOptions, 'onToken'> = {}): Promise<CaptionResult[]> {
    const { signal, ...settings } = options;
    return this.call('captionImages', signal, async (m, callSignal) => {
      const started = performance.now();
      const pixels = await Promise.all(images.map((image) => this.pixels(m, image)));
      const captions = await m.model.captionImages(pixels, settings, { signal: callSignal });
      const ms = (performance.now() - started) / Math.max(1, images.length);
      return captions.map((tokens) => ({ text: m.tokenizer.captionText(tokens), tokens, ms }));
    });
  }

  captionFrame(frame: EngineFrame, options: CaptionOptions = {}): Promise<CaptionResult> {
    return this.captionOf('captionFrame', options, async (m) => {
      const encoder = await this.frameEncoder(m);
      return (ctx) => encoder.pixels(ctx, frame);
    });
  }

  async classifyFrame(frame: EngineFrame, request: FrameRequest): Promise<FrameClassification | null> {
    const started = performance.now();
    const { labels, texts } = resolveFrameLabels(request.labels, request.template);
    if (this.disposed) throw new DisposedError('the model was disposed; load a new one');
    if (this.framesHeld >= FRAMES_HELD) return null;
    this.framesHeld++;
    try {
      const { m, textFeatures, embedding } = await this.call('classifyFrame', request.signal, async (m) => {
        const textFeatures = await this.textFeaturesOf(m, texts);
        const encoder = await this.frameEncoder(m);
        return { m, textFeatures, ...(await encoder.submit(frame)) };
      });
      // Outside the call queue: the next frame's pass may be submitted while this embedding comes back.
      const imageFeatures = await this.gpuResult('classifyFrame', m, embedding);
      request.signal?.throwIfAborted();
      const scores = m.model.similarity([imageFeatures], textFeatures);
      const probs = scores.probs[0]!;
      return { labels, texts, probs, logits: scores.logits[0]!, cosine: scores.cosine[0]!, best: probs.indexOf(Math.max(...probs)), ms: performance.now() - started };
    } catch (error) {
      throw asAbortError(error, 'classifyFrame');
    } finally {
      this.framesHeld--;
    }
  }

  modelView(image: EngineImage, options: CallOptions = {}): Promise<RgbaImage> {
    return this.call('modelView', options.signal, async (m) => preprocessToRgba(await this.host.decodeImage(image), this.preprocessOptions(m)));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const controller of this.running) controller.abort(new DisposedError('the model was disposed'));
    await this.queue;
    this.unload();
  }

  /** Destroys the GPU device as a driver reset would (tests of recovery). */
  async loseDeviceForTesting(): Promise<void> {
    const gpu = this.loaded?.gpu;
    if (!gpu) throw new CocaError('no model is loaded');
    gpu.device.destroy();
    await gpu.device.lost;
  }

  // ---------------------------------------------------------------- internals

  /** Queues a job; it starts when every earlier call has settled, unless aborted first. */
  private enqueue<T>(what: string, external: AbortSignal | undefined, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const forward = (): void => controller.abort(external!.reason);
    if (external?.aborted) forward();
    else external?.addEventListener('abort', forward, { once: true });
    this.running.add(controller);
    const run = this.queue.then(async () => {
      controller.signal.throwIfAborted();
      if (this.disposed) throw new DisposedError('the model was disposed; load a new one');
      try {
        return await job(controller.signal);
      } finally {
        await this.delivered;
      }
    });
    this.queue = run.catch(() => undefined);
    return run
      .catch((error: unknown) => {
        throw asAbortError(error, what);
      })
      .finally(() => {
        this.running.delete(controller);
        external?.removeEventListener('abort', forward);
      });
  }

  /** A call on the loaded model: recovers a lost device first, and reports a loss during the call as DeviceLostError. */
  private call<T>(what: string, signal: AbortSignal | undefined, job: (m: Loaded, signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.enqueue(what, signal, async (callSignal) => {
      if (!this.loaded || this.loaded.gpu.isLost) await this.recover(callSignal);
      const m = this.loaded!;
      const run = async (): Promise<T> => {
        const value = await job(m, callSignal);
        m.gpu.checkHealthy();
        return value;
      };
      return this.gpuResult(what, m, run());
    });
  }

  private async lostDuring(gpu: Gpu): Promise<boolean> {
    if (gpu.isLost) return true;
    // A failed map or submit can settle before device.lost does; give it a moment.
    await Promise.race([gpu.device.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    return gpu.isLost;
  }

  private async recover(signal: AbortSignal): Promise<void> {
    this.unload();
    // The cached copy was compared with the server's file when the model was first loaded.
    await this.loadModel(signal, 'never');
  }

  private unload(): void {
    const loaded = this.loaded;
    this.loaded = null;
    if (!loaded) return;
    this.retired.add(loaded.gpu);
    loaded.frames?.destroy();
    loaded.model.dispose();
    loaded.gpu.destroy();
  }

  private async loadModel(signal: AbortSignal, recheck: CacheRecheck = resolveRecheck(this.options.recheck)): Promise<void> {
    const o = this.options;
    const progress = new ProgressMeter((p) => this.notify(() => o.onProgress?.(p)));
    const gpu = new Gpu(await this.host.acquireDevice(), this.host.shaders);
    this.watch(gpu);
    try {
      const result = await loadWeights({
        source: { model: this.source, revision: o.revision, vocab: this.vocab, dtype: this.dtype, hubUrl: o.hubUrl, recheck, chunkBytes: o.chunkBytes },
        cache: o.cache ?? null,
        progress,
        signal,
        fetch: this.host.fetch,
        http: o.retryDelayMs !== undefined ? { retryDelayMs: o.retryDelayMs } : undefined,
        createSink: (layout: WeightLayout, _config: CocaConfig, logitScale: number) => new GpuSink(gpu, CocaWeights.allocate(gpu, layout, logitScale)),
        warn: (error) => this.warn(error),
      });
      signal.throwIfAborted();
      const phase: LoadPhase = 'compile';
      progress.total(phase, 1);
      progress.flush(phase, 'compiling GPU pipelines');
      const model = await progress.time(phase, () => CocaModel.fromWeights(gpu, result.config, result.sink.weights, this.math));
      progress.add(phase, 1);
      gpu.checkHealthy();
      const tokenizer = await tokenizerFrom(result.vocabulary);
      this.loaded = { gpu, model, config: result.config, tokenizer, id: result.location.id, revision: result.location.revision };
      this.loadTimings = progress.timings();
      this.fromCache = result.fromCache;
      this.cached = result.cached;
    } catch (error) {
      this.retired.add(gpu);
      gpu.destroy();
      throw error;
    }
  }

  /** Reports a device loss the moment it happens (the next call recovers). */
  private watch(gpu: Gpu): void {
    void gpu.device.lost.then((info) => {
      if (this.retired.has(gpu) || this.disposed) return;
      this.deviceLosses++;
      this.warn(new DeviceLostError(`the GPU device was lost (${info.reason}: ${info.message || 'no message'}); the next call reloads the model`));
    });
  }

  private async pixels(m: Loaded, image: EngineImage): Promise<Float32Array> {
    return preprocess(await this.host.decodeImage(image), this.preprocessOptions(m));
  }

  /** The model's transform (size, mean/std, interpolation, resize mode, fill) and the orientation rule. */
  private preprocessOptions(m: Loaded): PreprocessOptions {
    return { size: m.config.vision.imageSize, ...m.config.preprocess, orientation: this.orientation };
  }

  /** A caption of the image `pixels` gives (host pixels, or a recording of them on the GPU). */
  private captionOf(what: string, options: CaptionOptions, pixels: (m: Loaded) => Promise<CaptionImage>): Promise<CaptionResult> {
    const { onToken, signal, ...settings } = options;
    return this.call(what, signal, async (m, callSignal) => {
      const started = performance.now();
      const image = await pixels(m);
      const tokens = await m.model.caption(image, settings, {
        signal: callSignal,
        ...(onToken
          ? {
              onToken: (id: number, index: number) => {
                const text = id === SOT || id === EOT ? '' : m.tokenizer.decode([id]);
                this.notify(() => onToken({ id, text, index }));
              },
            }
          : {}),
      });
      return { text: m.tokenizer.captionText(tokens), tokens, ms: performance.now() - started };
    });
  }

  /** The model's frame encoder, made on the first frame (calls run one at a time, so only one is made). */
  private async frameEncoder(m: Loaded): Promise<FrameEncoder> {
    m.frames ??= await FrameEncoder.create(m.model, this.preprocessOptions(m));
    return m.frames;
  }

  /** The texts' embeddings, computed once per label set and kept for the next frames. */
  private async textFeaturesOf(m: Loaded, texts: readonly string[]): Promise<Float32Array[]> {
    const key = JSON.stringify(texts);
    let features = this.labelFeatures.get(key);
    if (features) this.labelFeatures.delete(key);
    else features = await m.model.encodeTexts(m.tokenizer.tokenize(texts, m.config.text.contextLength));
    this.labelFeatures.set(key, features);
    for (const oldest of this.labelFeatures.keys()) {
      if (this.labelFeatures.size <= KEPT_LABEL_SETS) break;
      this.labelFeatures.delete(oldest);
    }
    return features;
  }

  /** Awaits GPU work (a call's, or one that finishes after its call settled); a device lost meanwhile is a DeviceLostError. */
  private async gpuResult<T>(what: string, m: Loaded, result: Promise<T>): Promise<T> {
    try {
      return await result;
    } catch (error) {
      if (mayBeGpuFailure(error) && (await this.lostDuring(m.gpu))) {
        throw new DeviceLostError(`the GPU device was lost during ${what}; the next call reloads the model onto a new device`);
      }
      throw error;
    }
  }

  private warn(error: Error): void {
    const warning: RuntimeWarning = { name: error.name, message: error.message };
    if (error instanceof QuotaExceededError) Object.assign(warning, { needed: error.needed, free: error.free });
    this.warnings.push(warning);
    this.notify(() => this.options.onWarning?.(error));
  }

  /** Calls a callback without letting it block or throw here; the current call settles only after it has. */
  private notify(send: () => unknown): void {
    const sent = Promise.resolve()
      .then(send)
      .catch(() => undefined);
    this.delivered = Promise.all([this.delivered, sent]).then(() => undefined);
  }
}

/** The model option as the loader takes it: picked files become a folder; in Node a path may name one. */
async function modelSource(host: EngineHost, model: EngineOptions['model']): Promise<string | URL | LocalFolder> {
  if (Array.isArray(model)) return filesFolder(model as readonly File[]);
  if (typeof model === 'string') return (await host.localFolder?.(model)) ?? model;
  return model as URL | LocalFolder;
}

async function tokenizerFrom(files: VocabularyFiles): Promise<ClipTokenizer> {
  if (files.kind === 'bpe') return loadTokenizerFromBytes(files.bytes);
  const text = new TextDecoder();
  return ClipTokenizer.fromVocabMerges(text.decode(files.vocab), text.decode(files.merges));
}

function asList<T>(items: T | readonly T[]): T[] {
  return Array.isArray(items) ? [...(items as readonly T[])] : [items as T];
}

/** GPU limits worth showing: numbers only (GPUSupportedLimits does not survive structured cloning). */
function plainLimits(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in limits) {
    const value = (limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out;
}

/** Our own errors other than the GPU's are about the input or the caller, never a device loss in disguise. */
function mayBeGpuFailure(error: unknown): boolean {
  return !(error instanceof CocaError) || error instanceof GpuError || error instanceof DeviceLostError;
}

/** DOMException AbortErrors (fetch, throwIfAborted) become our AbortError, which crosses the worker boundary by name. */
function asAbortError(error: unknown, what: string): unknown {
  if (error instanceof AbortError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new AbortError(`${what} was aborted`);
  if (typeof DOMException !== 'undefined' && error instanceof DOMException && error.name === 'AbortError') return new AbortError(`${what} was aborted`);
  return error;
}
