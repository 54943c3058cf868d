// The worker's side of the protocol: a thin adapter that forwards every call to the engine (src/engine) and
// answers with the value and a fresh ModelInfo. It only does what the boundary needs: call ids to abort
// signals, the engine's progress and warnings as messages to the page, large results transferred, the
// bitmaps the page transferred closed, and the page's callback proxies released.
import { releaseProxy, transfer, type Remote } from 'comlink';
import { AbortError, DisposedError } from '../errors';
import { CocaEngine } from '../engine/engine';
import type { ModelInfo, CaptionResult, FrameClassification, SimilarityResult } from '../engine/api';
import type { EngineHost } from '../engine/host';
import { WeightCache } from '../io/cache';
import type { CaptionSettings, CaptionToken } from '../options';
import { serializeError } from '../protocol/errors';
import type { FrameLabels, LoadRequest, Reply, RuntimeApi, RuntimeEvent, WorkerFrame, WorkerImage } from '../protocol/messages';

let cache: WeightCache | null = null;
/** One IndexedDB connection for every load in this worker. */
const sharedCache = (): WeightCache => (cache ??= new WeightCache());

export class WorkerAdapter implements RuntimeApi {
  private engine: CocaEngine | null = null;
  private events: ((event: RuntimeEvent) => void) | null = null;
  private readonly controllers = new Map<number, AbortController>();
  private disposed = false;

  constructor(
    private readonly host: EngineHost,
    private readonly cache: () => WeightCache = sharedCache,
  ) {}

  async load(request: LoadRequest, events: (event: RuntimeEvent) => void, callId: number): Promise<ModelInfo> {
    this.events = events;
    const engine = await this.track(callId, (signal) =>
      CocaEngine.load(this.host, {
        ...request,
        cache: request.cache ? this.cache() : null,
        signal,
        onProgress: (progress) => events({ type: 'progress', progress }),
        onWarning: (error) => events({ type: 'warning', error: serializeError(error) }),
      }),
    );
    if (this.disposed) {
      await engine.dispose();
      throw new DisposedError('the model was disposed while it loaded');
    }
    await this.engine?.dispose();
    this.engine = engine;
    return engine.info;
  }

  encodeImage(images: WorkerImage[], callId: number): Promise<Reply<Float32Array[]>> {
    return this.call(callId, images, (engine, signal) => engine.encodeImage(images, { signal }));
  }

  encodeText(texts: string[], callId: number): Promise<Reply<Float32Array[]>> {
    return this.call(callId, [], (engine, signal) => engine.encodeText(texts, { signal }));
  }

  similarity(images: WorkerImage[], texts: string[], callId: number): Promise<Reply<SimilarityResult>> {
    return this.call(callId, images, (engine, signal) => engine.similarity(images, texts, { signal }));
  }

  caption(image: WorkerImage, settings: CaptionSettings, onToken: ((token: CaptionToken) => void) | null, callId: number): Promise<Reply<CaptionResult>> {
    return this.call(callId, [image], (engine, signal) => engine.caption(image, { ...settings, signal, ...(onToken ? { onToken } : {}) })).finally(() =>
      releaseCallback(onToken),
    );
  }

  modelView(image: WorkerImage, callId: number): Promise<Reply<ImageData>> {
    return this.call(callId, [image], async (engine, signal) => {
      const crop = await engine.modelView(image, { signal });
      return new ImageData(Uint8ClampedArray.from(crop.data), crop.width, crop.height);
    });
  }

  classifyFrame(frame: WorkerFrame, labels: FrameLabels, callId: number): Promise<Reply<FrameClassification | null>> {
    return this.call(callId, [frame], (engine, signal) => engine.classifyFrame(frame, { ...labels, signal }));
  }

  captionFrame(frame: WorkerFrame, settings: CaptionSettings, onToken: ((token: CaptionToken) => void) | null, callId: number): Promise<Reply<CaptionResult>> {
    return this.call(callId, [frame], (engine, signal) => engine.captionFrame(frame, { ...settings, signal, ...(onToken ? { onToken } : {}) })).finally(() =>
      releaseCallback(onToken),
    );
  }

  abort(callId: number): void {
    this.controllers.get(callId)?.abort(new AbortError('the call was aborted'));
  }

  info(): ModelInfo | null {
    return this.engine?.info ?? null;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const controller of this.controllers.values()) controller.abort(new DisposedError('the model was disposed'));
    await this.engine?.dispose();
    releaseCallback(this.events);
    this.events = null;
  }

  loseDeviceForTesting(): Promise<void> {
    return this.loaded().loseDeviceForTesting();
  }

  private loaded(): CocaEngine {
    if (!this.engine) throw new DisposedError(this.disposed ? 'the model was disposed; create a new one with createCoca()' : 'no model is loaded');
    return this.engine;
  }

  /** Runs a job with an abort signal that `abort(callId)` reaches. */
  private async track<T>(callId: number, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.controllers.set(callId, controller);
    try {
      return await job(controller.signal);
    } finally {
      this.controllers.delete(callId);
    }
  }

  /** A call on the engine, answered with a fresh ModelInfo; the page's transferred bitmaps are closed after it. */
  private async call<T>(callId: number, images: readonly (WorkerImage | WorkerFrame)[], job: (engine: CocaEngine, signal: AbortSignal) => Promise<T>): Promise<Reply<T>> {
    try {
      const engine = this.loaded();
      const value = await this.track(callId, (signal) => job(engine, signal));
      return reply(value, engine.info);
    } finally {
      for (const image of images) if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) image.close();
    }
  }
}

/** The answer with its large buffers transferred, not copied. */
function reply<T>(value: T, info: ModelInfo): Reply<T> {
  const buffers: Transferable[] = [];
  const collect = (v: unknown): void => {
    if (v instanceof Float32Array) buffers.push(v.buffer as ArrayBuffer);
    else if (typeof ImageData !== 'undefined' && v instanceof ImageData) buffers.push(v.data.buffer as ArrayBuffer);
  };
  if (Array.isArray(value)) value.forEach(collect);
  else collect(value);
  return transfer({ value, info }, buffers);
}

/** Lets go of a comlink callback proxy (a plain function, in tests, has nothing to release). */
function releaseCallback(callback: unknown): void {
  const release = (callback as Partial<Remote<object>> | null)?.[releaseProxy];
  if (typeof release === 'function') release();
}
