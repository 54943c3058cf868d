// A camera frame onto the GPU without a pixel readback: a browser image source (a VideoFrame, an ImageBitmap of a
// <video>, a canvas) is copied into an rgba8unorm texture by copyExternalImageToTexture; pixels given as bytes
// (decoded files in Node, ImageData) by writeTexture. A GPU-side copy then lays the texels out in a storage buffer
// (rows padded to 256 bytes, as copyTextureToBuffer requires) for the frame kernels. The texture and the buffer
// are kept and reused while frames keep their size.
import { ImageDecodeError, ImageTooLargeError } from '../../errors';
import type { Gpu } from '../../gpu/gpu';
import type { Tensor } from '../../gpu/tensor';

/** Pixels given as bytes: RGB or RGBA rows (alpha ignored), as src/image's RgbaImage or an ImageData. */
export interface FrameBytes {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** 3 or 4 (ImageData has none: RGBA). */
  channels?: 3 | 4;
}

/** A frame: a source the GPU copies from (VideoFrame, ImageBitmap, canvas, <video>, <img>), or bytes. */
export type FrameImage = GPUCopyExternalImageSource | FrameBytes;

/** copyTextureToBuffer's row alignment, in bytes. */
const ROW_ALIGNMENT = 256;

function isBytes(frame: FrameImage): frame is FrameBytes {
  return 'data' in frame && ArrayBuffer.isView((frame as FrameBytes).data);
}

/** The frame's size in pixels as the copy sees it (a video's and a VideoFrame's displayed size). */
export function frameSize(frame: FrameImage): { width: number; height: number } {
  if (typeof VideoFrame !== 'undefined' && frame instanceof VideoFrame) return { width: frame.displayWidth, height: frame.displayHeight };
  if (typeof HTMLVideoElement !== 'undefined' && frame instanceof HTMLVideoElement) return { width: frame.videoWidth, height: frame.videoHeight };
  if (typeof HTMLImageElement !== 'undefined' && frame instanceof HTMLImageElement) return { width: frame.naturalWidth, height: frame.naturalHeight };
  const { width, height } = frame as { width: number; height: number };
  return { width, height };
}

export class FrameTexture {
  private texture: GPUTexture | null = null;
  private buffer: GPUBuffer | null = null;
  private width = 0;
  private height = 0;

  constructor(private readonly gpu: Gpu) {}

  /**
   * Copies the frame onto the GPU and returns its texels [height, stride] u32 (RGBA8, R in the low byte). The
   * copies are queued (one submit); the source may be closed once this returns. ImageDecodeError for a frame
   * with no pixels (a video before its first frame) or bytes that do not match its size; ImageTooLargeError
   * past the GPU's texture limit.
   */
  upload(frame: FrameImage): Tensor {
    const { width, height } = frameSize(frame);
    const bytes = isBytes(frame) ? rgbaBytes(frame) : null;
    this.ensureSize(width, height);
    const queue = this.gpu.device.queue;
    const texture = this.texture!;
    if (bytes) queue.writeTexture({ texture }, bytes, { bytesPerRow: width * 4, rowsPerImage: height }, { width, height });
    else copyExternal(queue, frame as GPUCopyExternalImageSource, texture, width, height);
    const stride = this.strideOf(width);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'frame texels' });
    encoder.copyTextureToBuffer({ texture }, { buffer: this.buffer!, bytesPerRow: stride * 4, rowsPerImage: height }, { width, height });
    queue.submit([encoder.finish()]);
    this.gpu.stats.submits++;
    return { buffer: this.buffer!, byteOffset: 0, byteLength: stride * height * 4, shape: [height, stride], dtype: 'u32', label: 'frame.texels' };
  }

  destroy(): void {
    this.texture?.destroy();
    if (this.buffer) this.gpu.destroyBuffer('activations', this.buffer);
    this.texture = null;
    this.buffer = null;
    this.width = 0;
    this.height = 0;
  }

  /** Words per texel row in the buffer. */
  private strideOf(width: number): number {
    return Math.ceil((width * 4) / ROW_ALIGNMENT) * (ROW_ALIGNMENT / 4);
  }

  private ensureSize(width: number, height: number): void {
    if (!(width > 0 && height > 0)) throw new ImageDecodeError(`the frame has no pixels (${width}×${height}): a video has none before its first frame ('loadeddata')`);
    const limit = this.gpu.info.limits.maxTextureDimension2D;
    if (width > limit || height > limit) throw new ImageTooLargeError(`a ${width}×${height} frame is larger than this GPU's ${limit}-pixel texture limit: scale it down first`);
    if (width === this.width && height === this.height) return;
    this.destroy();
    this.texture = this.gpu.device.createTexture({
      label: 'frame',
      size: { width, height },
      format: 'rgba8unorm',
      // RENDER_ATTACHMENT: copyExternalImageToTexture writes through it.
      usage: GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC | GPUTextureUsage.RENDER_ATTACHMENT,
    });
    this.buffer = this.gpu.createBuffer('activations', this.strideOf(width) * 4 * height, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST, 'frame.texels');
    this.width = width;
    this.height = height;
  }
}

/** copyExternalImageToTexture, its failure named (SwiftShader's WebGPU, for one, cannot copy camera VideoFrames). */
function copyExternal(queue: GPUQueue, source: GPUCopyExternalImageSource, texture: GPUTexture, width: number, height: number): void {
  try {
    queue.copyExternalImageToTexture({ source }, { texture, premultipliedAlpha: false }, { width, height });
  } catch (error) {
    const kind = (source as object).constructor?.name ?? 'frame';
    throw new ImageDecodeError(`the GPU could not copy this ${kind} (${(error as Error).message}): give an ImageBitmap of it instead (createImageBitmap)`);
  }
}

/** Bytes as RGBA rows (RGB widened; RGBA as they are). */
function rgbaBytes(frame: FrameBytes): Uint8Array<ArrayBuffer> {
  const { width, height, data } = frame;
  const channels = frame.channels ?? 4;
  if (data.length !== width * height * channels) {
    throw new ImageDecodeError(`frame pixels hold ${data.length} bytes, expected width·height·channels = ${width}·${height}·${channels}`);
  }
  // writeTexture reads from any ArrayBuffer view (a shared one too, despite the type's narrower buffer).
  if (channels === 4) return new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = data[p * 3]!;
    rgba[p * 4 + 1] = data[p * 3 + 1]!;
    rgba[p * 4 + 2] = data[p * 3 + 2]!;
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}
