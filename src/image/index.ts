// Image input for the model: platform-neutral preprocessing plus header checks. The decoders are
// per platform: import './decode-node' in Node, './decode.browser' in browsers and workers.

export type { DecodedImage, ExifOrientation, ImageInput, ImageMode, Interpolation, PreprocessOptions, ResizeMode, RgbaImage } from './types';
export { MAX_PREPROCESS_SIZE, MAX_RESIZED_SIDE, OPENAI_MEAN, OPENAI_STD, preprocess, preprocessToRgba, resizedDimensions } from './preprocess';
export { resampleBicubic } from './resample';
export { MAX_IMAGE_PIXELS, peekImageHeader, readImageHeader, sniffImageFormat } from './header';
export type { ImageFormat, ImageHeader } from './header';
