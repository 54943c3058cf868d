/** Decoded 8-bit pixels, row-major, `channels` interleaved values per pixel (RGB or RGBA). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** 3 (RGB) or 4 (RGBA; alpha is ignored by preprocessing, as PIL's convert('RGB') drops it). */
  channels: 3 | 4;
}

/** What the model's preprocess config says: square input size S and per-channel mean/std. */
export interface PreprocessOptions {
  size: number;
  mean?: readonly number[];
  std?: readonly number[];
}
