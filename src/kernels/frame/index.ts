// The frame family: a camera frame onto the GPU as a texture (texture.ts), then resized, cropped and normalized
// into the model's pixels by two kernels (resample.ts) whose integer taps the host derives from Pillow's rules.
export { checkGeometry, packTaps, type AxisTapArrays, type AxisTapsLayout, type FrameGeometry, type TapsLayout } from './params';
export { horizontalSpec, resampleFrame, verticalSpec, type FrameResampleArgs } from './resample';
export { FrameTexture, frameSize, type FrameBytes, type FrameImage } from './texture';
