/**
 * Raw 8-bit pixels, row-major, `channels` interleaved values per pixel: RGB, or RGBA whose alpha is
 * ignored (what a canvas, an ImageBitmap or ImageData gives; they carry no file mode). Preprocessing
 * treats them as a Pillow "RGB" image, as PIL's convert('RGB') would leave them.
 */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
  /** 3 (RGB) or 4 (RGBA; alpha is ignored). */
  channels: 3 | 4;
}

/**
 * The Pillow modes our decoders produce, each as Pillow 9.4 opens such a file (see src/image/modes.ts):
 * '1' bilevel (bytes 0/255), 'L' gray, 'P' palette indices, 'LA' gray+alpha, 'RGB', 'RGBA',
 * 'CMYK' (Pillow's polarity: 0 = no ink), 'I' 32-bit integer gray (16-bit PNGs, 0..65535).
 */
export type ImageMode = '1' | 'L' | 'P' | 'LA' | 'RGB' | 'RGBA' | 'CMYK' | 'I';

/** EXIF orientation tag values: 1 = as stored, 2–8 = mirrored and/or rotated (TIFF/EXIF spec). */
export type ExifOrientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/** A decoded file in its own Pillow mode, before any conversion: what `Image.open(f)` holds. */
export interface DecodedImage {
  width: number;
  height: number;
  mode: ImageMode;
  /** Row-major, `bandCount(mode)` values per pixel; Int32Array for mode 'I', 8-bit otherwise. */
  data: Uint8Array | Uint8ClampedArray | Int32Array;
  /** Mode 'P' only: 256 RGB triples (entries past the file's palette are Pillow's gray ramp). */
  palette?: Uint8Array;
  /** The file's EXIF orientation (1 when it has none). Pillow ignores it; see PreprocessOptions.orientation. */
  orientation: ExifOrientation;
}

/** Pixels preprocessing accepts: a decoded file (mode-aware) or raw RGB(A) pixels. */
export type ImageInput = DecodedImage | RgbaImage;

/** How to resize, as OpenCLIP's `image_transform` (v2.24) reads its preprocess config. */
export type ResizeMode = 'shortest' | 'longest' | 'squash';
export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';

/** What the model's preprocess config says, plus the EXIF rule. */
export interface PreprocessOptions {
  /** Square input size S. */
  size: number;
  mean?: readonly number[];
  std?: readonly number[];
  /** Resampling filter (default 'bicubic'); palette and bilevel images are always resized nearest, as in Pillow. */
  interpolation?: Interpolation;
  /**
   * 'shortest' (default): shorter side to S, center crop; 'longest': longer side to S, center pad with
   * `fillColor`; 'squash': resize to S×S ignoring the aspect ratio.
   */
  resizeMode?: ResizeMode;
  /** Padding value for 'longest' (OpenCLIP's fill_color, default 0), in the image's own mode. */
  fillColor?: number;
  /**
   * 'ignore' (default, what PIL and so OpenCLIP do): pixels as stored. 'exif': first turn the image
   * upright by its EXIF orientation, as browsers display it.
   */
  orientation?: 'ignore' | 'exif';
}
