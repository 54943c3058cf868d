// A frame's texels → the model's pixels (shaders/frame/resample.wgsl): the horizontal pass over the source rows
// the window needs, then the vertical pass with the crop (or pad) and the normalization, two dispatches.
import { ShapeError } from '../../errors';
import { bindingsFor, read, write, type PipelineSpec } from '../../gpu/pipelines';
import { expectDtype, expectShape, numel, type Tensor } from '../../gpu/tensor';
import { defineUniforms } from '../../gpu/uniforms';
import { grid1d, type KernelContext } from '../common';
import { checkGeometry, type FrameGeometry, type TapsLayout } from './params';

/** Invocations per workgroup: one per output pixel, no shared memory, the same on GPUs and CPU adapters. */
const WG = 64;

const HorizontalParams = defineUniforms({
  stride: 'u32',
  rowOffset: 'u32',
  rows: 'u32',
  windowWidth: 'u32',
  taps: 'u32',
  firstAt: 'u32',
  countAt: 'u32',
  weightsAt: 'u32',
  fractionBits: 'u32',
});

const VerticalParams = defineUniforms({
  size: 'u32',
  windowWidth: 'u32',
  windowHeight: 'u32',
  padLeft: 'u32',
  padTop: 'u32',
  rowOffset: 'u32',
  taps: 'u32',
  firstAt: 'u32',
  countAt: 'u32',
  weightsAt: 'u32',
  fill: 'u32',
  fractionBits: 'u32',
});

export const horizontalSpec: PipelineSpec = {
  shader: 'frame/resample',
  defines: { VERTICAL: false },
  constants: { WG },
  uniforms: HorizontalParams,
  bindings: [read('texels', 'u32'), read('taps', 'i32'), write('rows', 'u32')],
};

export const verticalSpec: PipelineSpec = {
  shader: 'frame/resample',
  defines: { VERTICAL: true },
  constants: { WG },
  uniforms: VerticalParams,
  bindings: [read('rows', 'u32'), read('taps', 'i32'), read('normalization'), write('out')],
};

export interface FrameResampleArgs {
  /** The frame's texels [height, stride] u32 (RGBA8, R in the low byte), as FrameTexture leaves them. */
  texels: Tensor;
  geometry: FrameGeometry;
  /** Both axes' taps, packed as `layout` says (packTaps). */
  taps: Tensor;
  layout: TapsLayout;
  /** Scratch for the horizontal pass: [geometry.rows, geometry.windowWidth] u32 at least. */
  rows: Tensor;
  /** [3, 256] f32: each channel's normalized value of every 8-bit level. */
  normalization: Tensor;
  /** [1, 3, S, S] f32: the model's pixels. */
  out: Tensor;
  label: string;
}

export function resampleFrame(ctx: KernelContext, args: FrameResampleArgs): void {
  const { texels, geometry: g, taps, layout, rows, normalization, out, label } = args;
  const what = `resampleFrame ${label}`;
  checkGeometry(g, what);
  expectDtype(texels, ['u32'], what);
  expectDtype(taps, ['i32'], what);
  expectDtype(rows, ['u32'], what);
  expectDtype(normalization, ['f32'], what);
  expectDtype(out, ['f32'], what);
  if (texels.shape.length !== 2 || texels.shape[0]! < g.height || texels.shape[1]! < g.width) {
    throw new ShapeError(`${what}: texels [${texels.shape}] do not hold a ${g.width}×${g.height} frame`);
  }
  if (layout.horizontal.firstAt + g.windowWidth > layout.length || layout.vertical.firstAt + g.windowHeight > layout.length || numel(taps.shape) < layout.length) {
    throw new ShapeError(`${what}: taps [${taps.shape}] do not hold the ${g.windowWidth}×${g.windowHeight} window's ${layout.length} values`);
  }
  if (numel(rows.shape) < g.rows * g.windowWidth) throw new ShapeError(`${what}: rows [${rows.shape}] hold fewer than ${g.rows}×${g.windowWidth} pixels`);
  expectShape(normalization, [3, 256], what);
  expectShape(out, [1, 3, g.size, g.size], what);
  const maxGroups = ctx.gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const h = layout.horizontal;
  ctx.rec.dispatch({
    label: `${label}.horizontal`,
    pipeline: horizontalSpec,
    uniforms: {
      layout: HorizontalParams,
      values: { stride: texels.shape[1]!, rowOffset: g.rowOffset, rows: g.rows, windowWidth: g.windowWidth, taps: h.taps, firstAt: h.firstAt, countAt: h.countAt, weightsAt: h.weightsAt, fractionBits: g.precision },
    },
    bindings: bindingsFor(horizontalSpec, { texels, taps, rows }),
    workgroups: grid1d(Math.ceil((g.rows * g.windowWidth) / WG), maxGroups),
    output: rows,
  });
  const v = layout.vertical;
  ctx.rec.dispatch({
    label,
    pipeline: verticalSpec,
    uniforms: {
      layout: VerticalParams,
      values: {
        size: g.size,
        windowWidth: g.windowWidth,
        windowHeight: g.windowHeight,
        padLeft: g.padLeft,
        padTop: g.padTop,
        rowOffset: g.rowOffset,
        taps: v.taps,
        firstAt: v.firstAt,
        countAt: v.countAt,
        weightsAt: v.weightsAt,
        fill: g.fill,
        fractionBits: g.precision,
      },
    },
    bindings: bindingsFor(verticalSpec, { rows, taps, normalization, out }),
    workgroups: grid1d(Math.ceil((g.size * g.size) / WG), maxGroups),
    output: out,
  });
}
