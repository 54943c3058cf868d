// A camera frame's pass: upload, GPU preprocessing into the model's pixels slot, the vision tower, and the image
// embedding copied into one of two readback buffers. The pass resolves once submitted; its embedding resolves
// when read back, so the next frame can be on the GPU while this one's embedding comes back. The engine holds
// at most two frames (one per readback buffer) and drops the rest.
import type { Tensor } from '../gpu/tensor';
import type { PreprocessOptions } from '../image/types';
import { horizontalSpec, verticalSpec, type FrameImage } from '../kernels/frame';
import type { Ctx } from '../model/blocks';
import type { CocaModel } from '../model/coca';
import { FEATURES_ONLY, recordVision } from '../model/vision';
import { FRAMES_HELD } from '../options';
import { FramePreprocessor } from './frame-preprocess';

/** Readback buffers: one per frame the engine holds. */
const FRAME_SLOTS = FRAMES_HELD;

export class FrameEncoder {
  private readonly preprocessor: FramePreprocessor;
  private readonly readbacks: GPUBuffer[];
  /** Settles when a slot's last readback has (its buffer is unmapped and free). */
  private readonly slotFree: Promise<void>[] = Array.from({ length: FRAME_SLOTS }, () => Promise.resolve());
  private next = 0;

  private constructor(
    private readonly model: CocaModel,
    options: PreprocessOptions,
  ) {
    this.preprocessor = new FramePreprocessor(model.gpu, options);
    const bytes = model.config.embedDim * 4;
    this.readbacks = Array.from({ length: FRAME_SLOTS }, (_, i) => model.gpu.createBuffer('staging', bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `frame.embedding.${i}`));
  }

  /**
   * An encoder whose frame kernels are compiled before its first frame. The camera is opt-in, so they are compiled
   * when it is first used rather than with the model; either way no frame waits on a compiler.
   */
  static async create(model: CocaModel, options: PreprocessOptions): Promise<FrameEncoder> {
    await model.gpu.pipelines.prepare([horizontalSpec, verticalSpec]);
    return new FrameEncoder(model, options);
  }

  /** Records the frame's upload and preprocessing into the model's pixels slot [1, 3, S, S], and returns it. */
  pixels(ctx: Ctx, frame: FrameImage): Tensor {
    const pixels = this.model.act.get('pixels', 1);
    this.preprocessor.record(ctx, frame, pixels);
    return pixels;
  }

  /**
   * Submits the frame's pass (one submit after the frame's upload) and resolves then, with `embedding`: the
   * normalized image embedding, once read back. Passes run one at a time on the model; a slot whose last
   * embedding is still being read back waits for it.
   */
  submit(frame: FrameImage): Promise<{ embedding: Promise<Float32Array> }> {
    const model = this.model;
    return model.run(async () => {
      const slot = this.next;
      this.next = (slot + 1) % FRAME_SLOTS;
      await this.slotFree[slot];
      const rec = model.gpu.recorder({ label: 'frame' });
      const ctx = model.ctx(rec);
      const { features } = recordVision(ctx, model.config, this.pixels(ctx, frame), 1, model.poolerQueries, FEATURES_ONLY);
      await rec.submit();
      const embedding = this.readBack(features!, slot);
      this.slotFree[slot] = embedding.then(
        () => undefined,
        () => undefined,
      );
      return { embedding };
    });
  }

  destroy(): void {
    this.preprocessor.destroy();
    for (const buffer of this.readbacks) this.model.gpu.destroyBuffer('staging', buffer);
  }

  /** Copies the embedding into the slot's buffer (queued after the pass) and maps it. */
  private async readBack(features: Tensor, slot: number): Promise<Float32Array> {
    const gpu = this.model.gpu;
    const buffer = this.readbacks[slot]!;
    const bytes = features.byteLength;
    const encoder = gpu.device.createCommandEncoder({ label: 'frame embedding' });
    encoder.copyBufferToBuffer(features.buffer, features.byteOffset, buffer, 0, bytes);
    gpu.device.queue.submit([encoder.finish()]);
    gpu.stats.submits++;
    gpu.stats.hostWaits++;
    await buffer.mapAsync(GPUMapMode.READ, 0, bytes);
    try {
      return new Float32Array(buffer.getMappedRange(0, bytes).slice(0));
    } finally {
      buffer.unmap();
    }
  }
}
