// What the frame kernels are told: where the crop window of the resized frame lies in the model's S×S input,
// which source rows it reads, and the integer taps of both axes packed in one i32 array. The host derives them
// from Pillow's rules (src/engine/frame-preprocess.ts with src/image's planResize and axisTaps); the kernels
// only execute them.
import { ShapeError } from '../../errors';

/** A crop window of a resized frame and its place in the S×S output. */
export interface FrameGeometry {
  /** The frame, in pixels. */
  width: number;
  height: number;
  /** The model's input side S. */
  size: number;
  /** The window (at most S×S) and its offset in the output; outside it the output is `fill` ('longest' pads). */
  windowWidth: number;
  windowHeight: number;
  padLeft: number;
  padTop: number;
  /** Source rows the vertical taps read: rowOffset … rowOffset + rows − 1 (the horizontal pass computes these). */
  rowOffset: number;
  rows: number;
  /** The 8-bit level of every channel outside the window. */
  fill: number;
  /** Fraction bits of the taps' weights (Pillow's 22). */
  precision: number;
}

/** One axis's taps (the shape of src/image's AxisTaps): output i reads count[i] inputs from first[i]. */
export interface AxisTapArrays {
  taps: number;
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/** Where one axis's arrays start in the packed taps, and its taps per output. */
export interface AxisTapsLayout {
  taps: number;
  firstAt: number;
  countAt: number;
  weightsAt: number;
}

export interface TapsLayout {
  horizontal: AxisTapsLayout;
  vertical: AxisTapsLayout;
  /** i32 values in all. */
  length: number;
}

/** Both axes in one i32 array: first, count, then weights, horizontal then vertical. */
export function packTaps(horizontal: AxisTapArrays, vertical: AxisTapArrays): { data: Int32Array; layout: TapsLayout } {
  let length = 0;
  const place = (axis: AxisTapArrays): AxisTapsLayout => {
    const n = axis.first.length;
    if (axis.count.length !== n || axis.weights.length !== n * axis.taps) throw new ShapeError(`frame taps: ${n} outputs need ${n} counts and ${n * axis.taps} weights`);
    const at = { taps: axis.taps, firstAt: length, countAt: length + n, weightsAt: length + 2 * n };
    length += 2 * n + n * axis.taps;
    return at;
  };
  const layout = { horizontal: place(horizontal), vertical: place(vertical), length: 0 };
  layout.length = length;
  const data = new Int32Array(length);
  for (const [axis, at] of [
    [horizontal, layout.horizontal],
    [vertical, layout.vertical],
  ] as const) {
    data.set(axis.first, at.firstAt);
    data.set(axis.count, at.countAt);
    data.set(axis.weights, at.weightsAt);
  }
  return { data, layout };
}

/** The geometry's own consistency: the window inside the output, the rows inside the frame. */
export function checkGeometry(g: FrameGeometry, what: string): void {
  const whole = (v: number): boolean => Number.isInteger(v) && v >= 0;
  const values = [g.width, g.height, g.size, g.windowWidth, g.windowHeight, g.padLeft, g.padTop, g.rowOffset, g.rows, g.fill, g.precision];
  if (!values.every(whole) || g.width === 0 || g.height === 0 || g.size === 0) throw new ShapeError(`${what}: the frame geometry needs non-negative integers and a non-empty frame`);
  if (g.padLeft + g.windowWidth > g.size || g.padTop + g.windowHeight > g.size) {
    throw new ShapeError(`${what}: a ${g.windowWidth}×${g.windowHeight} window at (${g.padLeft}, ${g.padTop}) does not fit the ${g.size}×${g.size} output`);
  }
  if (g.rowOffset + g.rows > g.height) throw new ShapeError(`${what}: rows ${g.rowOffset}…${g.rowOffset + g.rows - 1} are outside the frame's ${g.height}`);
  if (g.fill > 255 || g.precision < 1 || g.precision > 30) throw new ShapeError(`${what}: fill ${g.fill} is not an 8-bit level, or precision ${g.precision} is not 1–30 bits`);
}
