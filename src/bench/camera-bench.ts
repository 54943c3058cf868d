// The camera benchmark, platform-neutral (Node on Dawn, a Chromium page): frames of a 640×480 camera through the
// engine's frame path (src/engine/frame-encoder.ts: upload, GPU preprocessing, vision tower, readback, with the
// next frame submitted while the last one's embedding comes back), and the frame preprocessing alone on the GPU
// against the CPU path on the same pixels.
//   camera_frames_per_s        frames answered per second when a new frame is always waiting (the camera is faster
//                              than the model), and each frame's latency from upload to embedding
//   frame_preprocess_ms gpu    upload + the two frame kernels, submitted and waited for (and GPU time with timestamps)
//   frame_preprocess_ms cpu    src/image's preprocess of the same pixels already in memory
import { preprocess, type PreprocessOptions, type RgbaImage } from '../image';
import type { FrameImage } from '../kernels/frame';
import { CocaModel } from '../model/coca';
import { FrameEncoder } from '../engine/frame-encoder';
import { FramePreprocessor } from '../engine/frame-preprocess';
import { FRAMES_HELD } from '../options';
import { gpuTime, summarize, type Timing } from './harness';
import { runModelBench, timeRuns, type BenchRecord, type ModelBenchOptions } from './model-bench';
import { randomCheckpoint } from './random-checkpoint';

/** A common webcam resolution. */
export const CAMERA_WIDTH = 640;
export const CAMERA_HEIGHT = 480;

export interface CameraBenchOptions extends Omit<ModelBenchOptions, 'withModel'> {
  /** A model already loaded (after the model benchmark); otherwise one with random weights is loaded here. */
  model?: CocaModel;
  /** The platform's frames: bitmaps in a browser (copyExternalImageToTexture); pixels (writeTexture) by default. */
  frame?: (pixels: RgbaImage) => FrameImage;
}

/** Closes a frame the benchmark made (a bitmap), once the GPU has its copy. */
function release(frame: FrameImage): void {
  if (typeof ImageBitmap !== 'undefined' && frame instanceof ImageBitmap) frame.close();
}

/** Frame i of a moving test pattern: every frame differs, as a camera's do. */
export function cameraPattern(i: number): RgbaImage {
  const data = new Uint8Array(CAMERA_WIDTH * CAMERA_HEIGHT * 4);
  for (let y = 0; y < CAMERA_HEIGHT; y++) {
    for (let x = 0; x < CAMERA_WIDTH; x++) {
      const at = (y * CAMERA_WIDTH + x) * 4;
      data[at] = (x + 3 * i) & 255;
      data[at + 1] = (y + 5 * i) & 255;
      data[at + 2] = ((x ^ y) + 7 * i) & 255;
      data[at + 3] = 255;
    }
  }
  return { width: CAMERA_WIDTH, height: CAMERA_HEIGHT, data, channels: 4 };
}

/**
 * Frames through the encoder as a camera loop feeds it: a new frame whenever fewer than FRAMES_HELD are on their
 * way. Returns frames per second over the whole run and each frame's latency.
 */
async function pumpFrames(encoder: FrameEncoder, count: number, frameAt: (i: number) => FrameImage): Promise<{ fps: number; latency: Timing }> {
  const pending = new Set<Promise<void>>();
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (pending.size >= FRAMES_HELD) await Promise.race(pending);
    const taken = performance.now();
    const frame = frameAt(i);
    const { embedding } = await encoder.submit(frame);
    release(frame);
    const done: Promise<void> = embedding.then(() => {
      latencies.push(performance.now() - taken);
      pending.delete(done);
    });
    pending.add(done);
  }
  await Promise.all(pending);
  return { fps: (count * 1000) / (performance.now() - start), latency: summarize(latencies) };
}

export async function runCameraBench(o: CameraBenchOptions): Promise<void> {
  const { gpu, config } = o;
  const base = { config: config.name, runtime: o.runtime, adapter: gpu.adapterName, dtype: o.dtype };
  const emit = (r: Omit<BenchRecord, keyof typeof base>): void => o.emit({ ...base, ...r } as BenchRecord);
  const model = o.model ?? (await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: o.dtype }));
  const options: PreprocessOptions = { size: config.vision.imageSize, ...config.preprocess };
  const frame = o.frame ?? ((pixels: RgbaImage): FrameImage => pixels);
  const patterns = Array.from({ length: 4 }, (_, i) => cameraPattern(i));
  const frameAt = (i: number): FrameImage => frame(patterns[i % patterns.length]!);
  const note = `${CAMERA_WIDTH}×${CAMERA_HEIGHT} frames → ${options.size}×${options.size}`;
  try {
    const encoder = await FrameEncoder.create(model, options);
    try {
      await pumpFrames(encoder, FRAMES_HELD, frameAt);
      const frames = o.quick ? 4 : 8;
      const { fps, latency } = await pumpFrames(encoder, frames, frameAt);
      emit({ metric: 'camera_frames_per_s', value: fps, frames, latency_ms: latency.median, note: `${note}, GPU preprocessing, at most ${FRAMES_HELD} frames in flight` });
    } finally {
      encoder.destroy();
    }

    const preprocessor = new FramePreprocessor(gpu, options);
    const pixels = model.act.get('pixels', 1);
    const onGpu = async (): Promise<void> => {
      const rec = gpu.recorder({ label: 'frame preprocess' });
      const image = frameAt(0);
      preprocessor.record({ gpu, rec }, image, pixels);
      release(image);
      await rec.submit();
      await gpu.device.queue.onSubmittedWorkDone();
    };
    const runs = o.quick ? 5 : 10;
    try {
      emit({ metric: 'frame_preprocess_ms', strategy: 'gpu', ...(await timeRuns(runs, 2, onGpu)), note: `${note}: upload + 2 kernels, waited for` });
      if (gpu.info.hasTimestampQuery) emit({ metric: 'frame_preprocess_gpu_ms', strategy: 'gpu', ...(await gpuTime(gpu, runs, 0, onGpu)), note: `${note}: the 2 kernels' GPU time` });
    } finally {
      preprocessor.destroy();
    }
    emit({ metric: 'frame_preprocess_ms', strategy: 'cpu', ...(await timeRuns(runs, 1, async () => preprocess(patterns[0]!, options))), note: `${note}: src/image preprocess of pixels in memory` });
  } finally {
    if (!o.model) model.dispose();
  }
}

/** The model metrics then the camera metrics on the same model, or (cameraOnly) the camera metrics alone. */
export function runBenchmarks(o: Omit<ModelBenchOptions, 'withModel'>, cameraOnly: boolean, frame?: CameraBenchOptions['frame']): Promise<void> {
  if (cameraOnly) return runCameraBench({ ...o, frame });
  return runModelBench({ ...o, withModel: (model) => runCameraBench({ ...o, model, frame }) });
}
