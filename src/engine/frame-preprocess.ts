// Camera frames preprocessed on the GPU exactly as src/image/preprocess.ts preprocesses the same pixels (as an
// RGB image) on the CPU: the same resize plan (planResize: torchvision's sizes, the center crop or pad), the same
// integer taps per axis (axisTaps: Pillow's bicubic/bilinear with the support widened by the scale, two passes
// each rounded to 8 bits; nearest; a copy for an axis whose size does not change) and the same normalization
// tables, executed by the frame kernels (src/kernels/frame). The taps and scratch follow the frame size: made
// once, remade only when the camera's resolution changes.
import type { Gpu } from '../gpu/gpu';
import type { Tensor } from '../gpu/tensor';
import { assertValidSize, fillColor, normalizationTables, planResize } from '../image/preprocess';
import { axisTaps, RESAMPLE_PRECISION_BITS } from '../image/resample';
import type { PreprocessOptions } from '../image/types';
import type { KernelContext } from '../kernels/common';
import { FrameTexture, frameSize, packTaps, resampleFrame, type FrameGeometry, type FrameImage, type TapsLayout } from '../kernels/frame';

/** What the frame kernels need for one frame size: where the window goes, and both axes' taps. */
export interface FramePlan {
  geometry: FrameGeometry;
  taps: Int32Array;
  layout: TapsLayout;
}

/** The plan for a width×height RGB frame under the model's preprocess options (ImageTooLargeError when too elongated). */
export function framePlan(width: number, height: number, options: PreprocessOptions): FramePlan {
  const plan = planResize(width, height, options);
  const filter = options.interpolation ?? 'bicubic';
  const horizontal = axisTaps(width, plan.resizedWidth, plan.window.x, plan.window.width, filter);
  const vertical = axisTaps(height, plan.resizedHeight, plan.window.y, plan.window.height, filter);
  // The source rows the vertical taps read (a copy or nearest tap of count 0 reads none).
  let first = height;
  let end = 0;
  vertical.first.forEach((row, i) => {
    if (vertical.count[i] === 0) return;
    first = Math.min(first, row);
    end = Math.max(end, row + vertical.count[i]!);
  });
  const { data, layout } = packTaps(horizontal, vertical);
  const geometry: FrameGeometry = {
    width,
    height,
    size: options.size,
    windowWidth: plan.window.width,
    windowHeight: plan.window.height,
    padLeft: plan.padLeft,
    padTop: plan.padTop,
    rowOffset: end > first ? first : 0,
    rows: Math.max(0, end - first),
    // Padding in RGB, as Pillow's expand fills an 8-bit image.
    fill: Math.min(Math.max(fillColor(options), 0), 255),
    precision: RESAMPLE_PRECISION_BITS,
  };
  return { geometry, taps: data, layout };
}

interface SizedBuffers {
  plan: FramePlan;
  taps: Tensor;
  rows: Tensor;
}

export class FramePreprocessor {
  private readonly texture: FrameTexture;
  private readonly normalization: Tensor;
  private sized: SizedBuffers | null = null;

  /** `options`: the model's transform (size, mean/std, interpolation, resize mode, fill); bad ones are refused here. */
  constructor(
    private readonly gpu: Gpu,
    private readonly options: PreprocessOptions,
  ) {
    assertValidSize(options.size);
    fillColor(options);
    const tables = normalizationTables(options);
    this.texture = new FrameTexture(gpu);
    this.normalization = gpu.createTensor([3, 256], 'f32', 'frame.normalization');
    const all = new Float32Array(3 * 256);
    tables.forEach((table, c) => all.set(table, c * 256));
    gpu.write(this.normalization, all);
  }

  /** Uploads the frame and records its preprocessing into `out` [1, 3, S, S] (two dispatches). */
  record(ctx: KernelContext, frame: FrameImage, out: Tensor): void {
    const texels = this.texture.upload(frame);
    const { width, height } = frameSize(frame);
    const { plan, taps, rows } = this.buffersFor(width, height);
    resampleFrame(ctx, { texels, geometry: plan.geometry, taps, layout: plan.layout, rows, normalization: this.normalization, out, label: 'frame.pixels' });
  }

  destroy(): void {
    this.texture.destroy();
    this.releaseSized();
    this.gpu.destroyBuffer('activations', this.normalization.buffer);
  }

  private buffersFor(width: number, height: number): SizedBuffers {
    const current = this.sized;
    if (current && current.plan.geometry.width === width && current.plan.geometry.height === height) return current;
    const plan = framePlan(width, height, this.options);
    this.releaseSized();
    const g = plan.geometry;
    const taps = this.gpu.createTensor([plan.layout.length], 'i32', 'frame.taps');
    this.gpu.write(taps, plan.taps);
    const rows = this.gpu.createTensor([Math.max(1, g.rows), g.windowWidth], 'u32', 'frame.rows');
    this.sized = { plan, taps, rows };
    return this.sized;
  }

  private releaseSized(): void {
    if (!this.sized) return;
    this.gpu.destroyBuffer('activations', this.sized.taps.buffer);
    this.gpu.destroyBuffer('activations', this.sized.rows.buffer);
    this.sized = null;
  }
}
