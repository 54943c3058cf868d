// Image input for the model: platform-neutral preprocessing plus header checks. The decoders are
// per platform: import './decode-node' in Node, './decode.browser' in browsers and workers.

export type { PreprocessOptions, RgbaImage } from './types';
export {
  OPENAI_MEAN,
  OPENAI_STD,
  centerCrop,
  preprocess,
  preprocessToRgba,
  resizeShorterSide,
  resizedDimensions,
} from './preprocess';
export { resampleBicubic } from './resample';
export { MAX_IMAGE_PIXELS, peekImageHeader, readImageHeader, sniffImageFormat } from './header';
export type { ImageFormat, ImageHeader } from './header';
