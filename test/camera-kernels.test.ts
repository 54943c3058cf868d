// The frame kernels (src/kernels/frame through src/engine/frame-preprocess.ts) in Node (Dawn on lavapipe): a
// frame written into a texture (writeTexture, the byte path), copied into texels, resized, cropped or padded and
// normalized on the GPU, against the CPU preprocessing of the same pixels (src/image/preprocess.ts, itself checked
// against OpenCLIP's outputs) and against OpenCLIP's pixel_values for the sample photos — on the photos, on
// awkward sizes (1×1, up-scales, strips, no resize at all), with every resize mode and interpolation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDecodeError, ImageTooLargeError } from '../src/errors';
import { framePlan, FramePreprocessor } from '../src/engine/frame-preprocess';
import type { Gpu } from '../src/gpu/gpu';
import type { Tensor } from '../src/gpu/tensor';
import { decodeImageBytes } from '../src/image/decode-node';
import { OPENAI_STD, preprocess, type PreprocessOptions, type RgbaImage } from '../src/image';
import { goldenPixelRows, sharedBytes } from './helpers/golden-images';
import { run, testGpu } from './helpers/gpu';
import { mulberry32 } from './reference/random';

/** One 8-bit step after normalization: the golden README's bound for preprocessing. */
const ONE_LEVEL = 1 / 255 / Math.min(...OPENAI_STD);
/** The GPU runs Pillow's integer arithmetic on the same taps and reads the same normalization tables: bit-exact. */
const GPU_VS_CPU = 0;
/** "Exact" against OpenCLIP's printed float32 values (golden README). */
const EXACT = 1e-5;
const MIN_EXACT_FRACTION = 0.99;

let gpu: Gpu;
const preprocessors: FramePreprocessor[] = [];

beforeAll(async () => {
  gpu = await testGpu();
});

afterAll(() => {
  for (const p of preprocessors) p.destroy();
});

/** The frame preprocessed on the GPU, read back. */
async function gpuPixels(frame: RgbaImage, options: PreprocessOptions, preprocessor?: FramePreprocessor): Promise<Float32Array> {
  const p = preprocessor ?? new FramePreprocessor(gpu, options);
  if (!preprocessor) preprocessors.push(p);
  const out: Tensor = gpu.createTensor([1, 3, options.size, options.size], 'f32', 'pixels');
  const [pixels] = await run(gpu, (ctx) => p.record(ctx, frame, out), [out]);
  gpu.destroyBuffer('activations', out.buffer);
  return pixels!;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Seeded noise (the hardest case for rounding) or a smooth gradient, as RGBA or RGB bytes. */
function syntheticFrame(width: number, height: number, seed: number, kind: 'noise' | 'gradient', channels: 3 | 4 = 4): RgbaImage {
  const next = mulberry32(seed);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const at = (y * width + x) * channels + c;
        if (c === 3) data[at] = Math.floor(next() * 256); // alpha: ignored by both paths
        else data[at] = kind === 'noise' ? Math.floor(next() * 256) : Math.round((255 * ((x * (c + 1) + y * (3 - c)) % (width + height))) / (width + height));
      }
    }
  }
  return { width, height, data, channels };
}

async function photo(name: string): Promise<RgbaImage> {
  const decoded = await decodeImageBytes(sharedBytes(`images/${name}`));
  expect(decoded.mode).toBe('RGB');
  return { width: decoded.width, height: decoded.height, data: decoded.data as Uint8Array, channels: 3 };
}

describe('frame preprocessing on the GPU (writeTexture path)', () => {
  it("equals OpenCLIP's pixel_values for the sample photos, and the CPU path bit for bit", async () => {
    const names = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'];
    const golden = goldenPixelRows('golden/preprocess/preprocess-224.safetensors', names.length, 224);
    const options: PreprocessOptions = { size: 224 };
    const preprocessor = new FramePreprocessor(gpu, options);
    preprocessors.push(preprocessor);
    for (const [i, name] of names.entries()) {
      const frame = await photo(name);
      const ours = await gpuPixels(frame, options, preprocessor);
      expect(maxDiff(ours, preprocess(frame, options)), name).toBe(GPU_VS_CPU);
      const reference = golden[i]!;
      let exact = 0;
      for (let j = 0; j < reference.length; j++) if (Math.abs(ours[j]! - reference[j]!) <= EXACT) exact++;
      expect(maxDiff(ours, reference), name).toBeLessThanOrEqual(ONE_LEVEL);
      expect(exact / reference.length, name).toBeGreaterThanOrEqual(MIN_EXACT_FRACTION);
    }
  });

  it('equals the CPU path on awkward sizes: 1×1, up-scales, strips, odd crops, no resize, RGB and RGBA bytes', async () => {
    const cases: [number, number, 'noise' | 'gradient', 3 | 4][] = [
      [1, 1, 'noise', 4],
      [7, 3, 'gradient', 4],
      [50, 77, 'noise', 3],
      [300, 17, 'noise', 4],
      [17, 300, 'gradient', 4],
      [64, 64, 'noise', 4],
      [65, 64, 'noise', 3],
      [257, 255, 'noise', 4],
      [640, 480, 'gradient', 4],
      [1001, 64, 'noise', 4],
    ];
    for (const size of [64, 224]) {
      const options: PreprocessOptions = { size };
      for (const [w, h, kind, channels] of cases) {
        const frame = syntheticFrame(w, h, w * 31 + h, kind, channels);
        expect(maxDiff(await gpuPixels(frame, options), preprocess(frame, options)), `${w}×${h} ${kind} → ${size}`).toBe(GPU_VS_CPU);
      }
    }
  });

  it("equals the CPU path for every resize mode and interpolation, a fill colour and the model's own mean and std", async () => {
    const frame = syntheticFrame(150, 97, 5, 'noise');
    const variants: PreprocessOptions[] = [
      { size: 64, interpolation: 'bilinear' },
      { size: 64, interpolation: 'nearest' },
      { size: 64, resizeMode: 'squash' },
      { size: 64, resizeMode: 'longest', fillColor: 200 },
      { size: 64, resizeMode: 'longest', fillColor: 300 },
      { size: 64, resizeMode: 'longest', interpolation: 'nearest' },
      { size: 224, resizeMode: 'longest', interpolation: 'bilinear' },
      { size: 64, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    ];
    for (const options of variants) {
      expect(maxDiff(await gpuPixels(frame, options), preprocess(frame, options)), JSON.stringify(options)).toBe(GPU_VS_CPU);
    }
  });

  it('follows a change of frame size with new taps, and keeps its buffers while the size stays', async () => {
    const options: PreprocessOptions = { size: 64 };
    const preprocessor = new FramePreprocessor(gpu, options);
    preprocessors.push(preprocessor);
    const small = syntheticFrame(90, 60, 1, 'noise');
    const large = syntheticFrame(320, 240, 2, 'noise');
    expect(maxDiff(await gpuPixels(small, options, preprocessor), preprocess(small, options))).toBe(GPU_VS_CPU);
    expect(maxDiff(await gpuPixels(large, options, preprocessor), preprocess(large, options))).toBe(GPU_VS_CPU);
    // The output tensor of gpuPixels is made per call; the preprocessor's own objects are not.
    const buffers = gpu.stats.buffersCreated;
    const again = syntheticFrame(320, 240, 3, 'gradient');
    expect(maxDiff(await gpuPixels(again, options, preprocessor), preprocess(again, options))).toBe(GPU_VS_CPU);
    expect(gpu.stats.buffersCreated - buffers).toBe(1);
  });

  it('names what is wrong with a frame: no pixels, wrong byte count, too elongated, past the texture limit', async () => {
    const options: PreprocessOptions = { size: 64 };
    const preprocessor = new FramePreprocessor(gpu, options);
    preprocessors.push(preprocessor);
    const record = (frame: RgbaImage): void => {
      const rec = gpu.recorder();
      preprocessor.record({ gpu, rec }, frame, gpu.createTensor([1, 3, 64, 64], 'f32', 'unused'));
    };
    expect(() => record({ width: 0, height: 0, data: new Uint8Array(0), channels: 4 })).toThrow(ImageDecodeError);
    expect(() => record({ width: 4, height: 4, data: new Uint8Array(10), channels: 4 })).toThrow(/frame pixels hold 10 bytes/);
    const limit = gpu.info.limits.maxTextureDimension2D;
    expect(() => record({ width: limit + 1, height: 1, data: new Uint8Array((limit + 1) * 4), channels: 4 })).toThrow(ImageTooLargeError);
    expect(() => framePlan(300_000, 1, options)).toThrow(ImageTooLargeError);
    // A good frame still goes through afterwards.
    const frame = syntheticFrame(33, 44, 9, 'noise');
    expect(maxDiff(await gpuPixels(frame, options, preprocessor), preprocess(frame, options))).toBe(GPU_VS_CPU);
  });
});
