// The model runtime that lives in the worker: one GPU device, one model, one tokenizer. Calls run one at
// a time in arrival order (they share the model's activation buffers); each can be aborted by id. A lost
// device is reported when it happens and replaced on the next call, the weights re-uploaded from the cache.
import { releaseProxy, transfer, type Remote } from 'comlink';
import { AbortError, CocaError, DeviceLostError, DisposedError, GpuError } from '../errors';
import { acquireDevice, type GpuDeviceInfo } from '../gpu/device';
import { Gpu } from '../gpu/gpu';
import type { ShaderLibrary } from '../gpu/shader-library';
import { decodeImageSource } from '../image/decode.browser';
import { preprocess, preprocessToRgba } from '../image/index';
import { WeightCache } from '../io/cache';
import type { VocabularyFiles } from '../io/hub';
import { CocaModel, EOT, SOT } from '../model/coca';
import type { CocaConfig } from '../model/config';
import { CocaWeights, type WeightLayout } from '../model/weights';
import { ClipTokenizer, loadTokenizerFromBytes } from '../text/index';
import type { CaptionResult, ModelInfo, RuntimeWarning, SimilarityResult } from '../client/types';
import {
  asAbortError,
  serializeError,
  type CaptionRequest,
  type LoadRequest,
  type Reply,
  type RuntimeApi,
  type RuntimeEvent,
  type TokenEvent,
  type WorkerImage,
} from '../client/wire';
import { loadWeights, type WeightSink } from './load-weights';
import { ProgressMeter } from './progress';
import { DEFAULT_DTYPE } from '../options';

export interface RuntimeDeps {
  shaders: ShaderLibrary;
  acquire?: () => Promise<GpuDeviceInfo>;
  cache?: () => WeightCache;
  fetch?: typeof fetch;
}

let cache: WeightCache | null = null;
/** One IndexedDB connection for every load in this worker. */
const sharedCache = (): WeightCache => (cache ??= new WeightCache());

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

interface Loaded {
  gpu: Gpu;
  model: CocaModel;
  config: CocaConfig;
  tokenizer: ClipTokenizer;
  id: string;
  revision: string;
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

async function tokenizerFrom(files: VocabularyFiles): Promise<ClipTokenizer> {
  if (files.kind === 'bpe') return loadTokenizerFromBytes(files.bytes);
  const text = new TextDecoder();
  return ClipTokenizer.fromVocabMerges(text.decode(files.vocab), text.decode(files.merges));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export class CocaRuntime implements RuntimeApi {
  private loaded: Loaded | null = null;
  private request: LoadRequest | null = null;
  private events: ((event: RuntimeEvent) => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly controllers = new Map<number, AbortController>();
  /** Devices this runtime destroyed itself: their `lost` is not news. */
  private readonly retired = new WeakSet<Gpu>();
  /** Settles when every event sent so far is acknowledged by the page; awaited before a call answers, so events arrive first. */
  private delivered: Promise<void> = Promise.resolve();
  private warnings: RuntimeWarning[] = [];
  private deviceLosses = 0;
  private loadTimings: ModelInfo['loadTimings'] = {};
  private fromCache = false;
  private cached = false;
  private disposed = false;

  constructor(private readonly deps: RuntimeDeps) {}

  // ---------------------------------------------------------------- protocol

  load(request: LoadRequest, events: (event: RuntimeEvent) => void, callId: number): Promise<ModelInfo> {
    this.request = request;
    this.events = events;
    return this.enqueue(callId, 'loading the model', async (signal) => {
      await this.loadModel(signal);
      return this.snapshot();
    });
  }

  encodeImage(images: WorkerImage[], callId: number): Promise<Reply<Float32Array[]>> {
    return this.call(callId, 'encodeImage', async (m) => {
      const pixels = await Promise.all(images.map((image) => this.pixels(m, image)));
      return m.model.encodeImages(pixels);
    });
  }

  encodeText(texts: string[], callId: number): Promise<Reply<Float32Array[]>> {
    return this.call(callId, 'encodeText', (m) => m.model.encodeTexts(m.tokenizer.tokenize(texts, m.config.text.contextLength)));
  }

  similarity(images: WorkerImage[], texts: string[], callId: number): Promise<Reply<SimilarityResult>> {
    return this.call(callId, 'similarity', async (m) => {
      const pixels = await Promise.all(images.map((image) => this.pixels(m, image)));
      const imageFeatures = await m.model.encodeImages(pixels);
      const textFeatures = await m.model.encodeTexts(m.tokenizer.tokenize(texts, m.config.text.contextLength));
      const { logits, probs } = m.model.similarity(imageFeatures, textFeatures);
      const cosine = imageFeatures.map((img) => textFeatures.map((txt) => dot(img, txt)));
      return { logits, probs, cosine };
    });
  }

  caption(image: WorkerImage, options: CaptionRequest, onToken: ((token: TokenEvent) => void) | null, callId: number): Promise<Reply<CaptionResult>> {
    return this.call(
      callId,
      'caption',
      async (m, signal) => {
        const started = performance.now();
        const pixels = await this.pixels(m, image);
        const tokens = await m.model.caption(pixels, options, {
          signal,
          ...(onToken
            ? {
                onToken: (id: number, index: number) => {
                  const text = id === SOT || id === EOT ? '' : m.tokenizer.decode([id]);
                  this.deliver(() => onToken({ id, text, index }));
                },
              }
            : {}),
        });
        return { text: m.tokenizer.captionText(tokens), tokens, ms: performance.now() - started };
      },
      () => releaseCallback(onToken),
    );
  }

  modelView(image: WorkerImage, callId: number): Promise<Reply<ImageData>> {
    return this.call(callId, 'modelView', async (m) => {
      const crop = preprocessToRgba(await decodeImageSource(image), { size: m.config.vision.imageSize, ...m.config.preprocess });
      return new ImageData(Uint8ClampedArray.from(crop.data), crop.width, crop.height);
    });
  }

  abort(callId: number): void {
    this.controllers.get(callId)?.abort(new AbortError('the call was aborted'));
  }

  info(): ModelInfo | null {
    return this.loaded ? this.snapshot() : null;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const controller of this.controllers.values()) controller.abort(new DisposedError('the model was disposed'));
    await this.queue;
    this.unload();
    releaseCallback(this.events);
    this.events = null;
  }

  async loseDeviceForTesting(): Promise<void> {
    const gpu = this.loaded?.gpu;
    if (!gpu) throw new CocaError('no model is loaded');
    gpu.device.destroy();
    await gpu.device.lost;
  }

  // ---------------------------------------------------------------- internals

  /** Queues a job; it starts when every earlier call has settled, unless aborted first. */
  private enqueue<T>(callId: number, what: string, job: (signal: AbortSignal) => Promise<T>, cleanup?: () => void): Promise<T> {
    const controller = new AbortController();
    this.controllers.set(callId, controller);
    const run = this.queue.then(async () => {
      controller.signal.throwIfAborted();
      if (this.disposed) throw new DisposedError('the model was disposed; create a new one with createCoca()');
      try {
        return await job(controller.signal);
      } finally {
        await this.flushDeliveries();
      }
    });
    this.queue = run.catch(() => undefined);
    return run
      .catch((error: unknown) => {
        throw asAbortError(error, what);
      })
      .finally(() => {
        this.controllers.delete(callId);
        cleanup?.();
      });
  }

  /** A call on the loaded model: recovers a lost device first, and reports a loss during the call as DeviceLostError. */
  private call<T>(callId: number, what: string, job: (m: Loaded, signal: AbortSignal) => Promise<T>, cleanup?: () => void): Promise<Reply<T>> {
    return this.enqueue(
      callId,
      what,
      async (signal) => {
        if (!this.loaded || this.loaded.gpu.isLost) await this.recover(signal);
        const m = this.loaded!;
        try {
          const value = await job(m, signal);
          m.gpu.checkHealthy();
          return this.reply(value);
        } catch (error) {
          if (mayBeGpuFailure(error) && (await this.lostDuring(m.gpu))) {
            throw new DeviceLostError(`the GPU device was lost during ${what}; the next call reloads the model onto a new device`);
          }
          throw error;
        }
      },
      cleanup,
    );
  }

  private reply<T>(value: T): Reply<T> {
    const reply = { value, info: this.snapshot() };
    const buffers: Transferable[] = [];
    const collect = (v: unknown): void => {
      if (v instanceof Float32Array) buffers.push(v.buffer as ArrayBuffer);
      else if (typeof ImageData !== 'undefined' && v instanceof ImageData) buffers.push(v.data.buffer as ArrayBuffer);
    };
    if (Array.isArray(value)) value.forEach(collect);
    else collect(value);
    return transfer(reply, buffers);
  }

  private async lostDuring(gpu: Gpu): Promise<boolean> {
    if (gpu.isLost) return true;
    // A failed map or submit can settle before device.lost does; give it a moment.
    await Promise.race([gpu.device.lost, new Promise((resolve) => setTimeout(resolve, 100))]);
    return gpu.isLost;
  }

  private async recover(signal: AbortSignal): Promise<void> {
    if (!this.request) throw new CocaError('no model was loaded');
    this.unload();
    await this.loadModel(signal);
  }

  private unload(): void {
    const loaded = this.loaded;
    this.loaded = null;
    if (!loaded) return;
    this.retired.add(loaded.gpu);
    loaded.model.dispose();
    loaded.gpu.destroy();
  }

  private async loadModel(signal: AbortSignal): Promise<void> {
    const request = this.request!;
    const progress = new ProgressMeter((p) => this.emit({ type: 'progress', progress: p }));
    const gpu = new Gpu(await (this.deps.acquire ?? acquireDevice)(), this.deps.shaders);
    this.watch(gpu);
    try {
      const result = await loadWeights({
        source: {
          model: request.model,
          revision: request.revision,
          vocab: request.vocab,
          dtype: request.dtype,
          hubUrl: request.hubUrl,
          chunkBytes: request.chunkBytes,
        },
        cache: request.cache ? (this.deps.cache ?? sharedCache)() : null,
        progress,
        signal,
        fetch: this.deps.fetch,
        http: request.retryDelayMs !== undefined ? { retryDelayMs: request.retryDelayMs } : undefined,
        createSink: (layout: WeightLayout, _config: CocaConfig, logitScale: number) => new GpuSink(gpu, CocaWeights.allocate(gpu, layout, logitScale)),
        warn: (error) => this.warn(error),
      });
      signal.throwIfAborted();
      progress.total('compile', 1);
      progress.flush('compile', 'compiling GPU pipelines');
      const model = await progress.time('compile', () => CocaModel.fromWeights(gpu, result.config, result.sink.weights, request.math));
      progress.add('compile', 1);
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

  private async pixels(m: Loaded, image: WorkerImage): Promise<Float32Array> {
    const rgba = await decodeImageSource(image);
    if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) image.close();
    return preprocess(rgba, { size: m.config.vision.imageSize, ...m.config.preprocess });
  }

  private warn(error: Error): void {
    const s = serializeError(error);
    const warning: RuntimeWarning = { name: s.name, message: s.message };
    if (typeof s.fields.needed === 'number') warning.needed = s.fields.needed;
    if (typeof s.fields.free === 'number') warning.free = s.fields.free;
    this.warnings.push(warning);
    this.emit({ type: 'warning', error: s });
  }

  private emit(event: RuntimeEvent): void {
    const events = this.events;
    if (events) this.deliver(() => events(event));
  }

  /** Calls a page callback (a comlink proxy: it returns a promise) without letting it block or throw here. */
  private deliver(send: () => unknown): void {
    const sent = Promise.resolve()
      .then(send)
      .catch(() => undefined);
    this.delivered = Promise.all([this.delivered, sent]).then(() => undefined);
  }

  private flushDeliveries(): Promise<void> {
    return this.delivered;
  }

  private snapshot(): ModelInfo {
    const m = this.loaded;
    const request = this.request;
    const stats = m?.gpu.stats;
    return {
      id: m?.id ?? '',
      revision: m?.revision ?? request?.revision ?? 'main',
      config: m?.config ?? null,
      dtype: request?.dtype ?? DEFAULT_DTYPE,
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
}

/** Our own errors other than the GPU's are about the input or the caller, never a device loss in disguise. */
function mayBeGpuFailure(error: unknown): boolean {
  return !(error instanceof CocaError) || error instanceof GpuError || error instanceof DeviceLostError;
}

/** Lets go of a comlink callback proxy (a plain function, in tests, has nothing to release). */
function releaseCallback(callback: unknown): void {
  const release = (callback as Partial<Remote<object>> | null)?.[releaseProxy];
  if (typeof release === 'function') release();
}
