// The engine's host in a browser (the module worker): navigator.gpu, the kernels bundled by Vite, and the
// browser's image decoders.
import { ImageDecodeError } from '../errors';
import { acquireDevice } from '../gpu/device';
import { viteShaders } from '../gpu/shaders-vite';
import { decodeImageSource } from '../image/decode.browser';
import type { ImageInput, RgbaImage } from '../image/index';
import type { EngineHost, EngineImage } from './host';

export const browserHost: EngineHost = {
  shaders: viteShaders,
  acquireDevice: () => acquireDevice(),
  decodeImage: async (image: EngineImage): Promise<ImageInput> => {
    if (typeof image === 'string') throw new ImageDecodeError('in a browser an image is a Blob, an ImageBitmap or ImageData, not a path');
    if (image instanceof Uint8Array) return decodeImageSource(new Blob([new Uint8Array(image)]));
    if (isRgba(image)) return image;
    return decodeImageSource(image);
  },
};

function isRgba(image: Blob | ImageBitmap | ImageData | RgbaImage): image is RgbaImage {
  return 'channels' in image;
}
