// The model benchmark inside a Chromium page: records go to the console as JSON lines for bench.ts.
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/gpu';
import { viteShaders } from '../gpu/shaders-vite';
import { presetConfig, type PresetName } from '../model/config';
import { resolveDtype } from '../options';
import type { RgbaImage } from '../image';
import type { FrameImage } from '../kernels/frame';
import { CAMERA_HEIGHT, CAMERA_WIDTH, runBenchmarks } from './camera-bench';

const params = new URLSearchParams(location.search);
const state = window as unknown as { benchDone?: boolean; benchError?: string };

/** Camera frames as the page gives them to the GPU: bitmaps (copyExternalImageToTexture), drawn without a readback. */
const cameraCanvas = new OffscreenCanvas(CAMERA_WIDTH, CAMERA_HEIGHT);
const cameraContext = cameraCanvas.getContext('2d')!;
function cameraBitmap(pixels: RgbaImage): FrameImage {
  cameraContext.putImageData(new ImageData(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height), 0, 0);
  return cameraCanvas.transferToImageBitmap();
}

async function run(): Promise<void> {
  const gpu = new Gpu(await acquireDevice(), viteShaders);
  try {
    for (const config of (params.get('configs') ?? 'coca_ViT-B-32').split(',') as PresetName[]) {
      const options = { gpu, runtime: 'chromium' as const, config: presetConfig(config), dtype: resolveDtype(params.get('dtype') ?? undefined), quick: params.get('quick') === 'true', emit: (r: unknown) => console.log(JSON.stringify(r)) };
      await runBenchmarks(options, params.get('cameraOnly') === 'true', cameraBitmap);
    }
  } finally {
    gpu.destroy();
  }
}

run().then(
  () => (state.benchDone = true),
  (error: unknown) => {
    state.benchError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.log(`bench-error: ${state.benchError}`);
    state.benchDone = true;
  },
);
