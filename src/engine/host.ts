// What the engine needs from the platform it runs on: a GPU device, the kernels' source, image decoding, and
// (in Node) local files by path. host-browser.ts serves the worker; host-node.ts the CLI, benchmarks and tests.
import type { GpuDeviceInfo } from '../gpu/device';
import type { ShaderLibrary } from '../gpu/shader-library';
import type { ImageInput, RgbaImage } from '../image/index';
import type { LocalFolder } from '../io/hub';
import type { FrameImage } from '../kernels/frame';

/**
 * An image as a host takes it: the browser decodes Blobs, bitmaps and ImageData; Node decodes file paths,
 * PNG/JPEG bytes and Blobs; both take decoded pixels.
 */
export type EngineImage = Blob | ImageBitmap | ImageData | RgbaImage | Uint8Array | string;

/** A camera frame as the engine takes it: a source the GPU copies from (VideoFrame, ImageBitmap, canvas), or pixels. */
export type EngineFrame = FrameImage;

export interface EngineHost {
  readonly shaders: ShaderLibrary;
  /** A new device each time: the engine destroys its own when it is disposed or lost. */
  acquireDevice(): Promise<GpuDeviceInfo>;
  /** The image in its own mode (or raw pixels as given), or ImageDecodeError / ImageTooLargeError. */
  decodeImage(image: EngineImage): Promise<ImageInput>;
  /** The model option as a local folder, when the host reads local files (Node: a directory path); null otherwise. */
  localFolder?(model: string): Promise<LocalFolder | null>;
  /** The vocab option as a local file (Node: a path that is not a URL); null for a URL. */
  localFile?(path: string): Promise<Blob | null>;
  fetch?: typeof fetch;
}
