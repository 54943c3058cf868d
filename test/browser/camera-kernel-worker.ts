// Runs inside a module Web Worker in Chromium: each frame (an ImageBitmap or a VideoFrame, transferred) is
// preprocessed on the GPU — copyExternalImageToTexture, the frame kernels — and on the CPU from the pixels the
// browser gives for it (src/image's preprocess, as the engine preprocesses a bitmap), and the two are compared
// here, value by value; the Node side checks the agreement against the golden README's bound.
import { FramePreprocessor } from '../../src/engine/frame-preprocess';
import { acquireDevice } from '../../src/gpu/device';
import { Gpu } from '../../src/gpu/gpu';
import { viteShaders } from '../../src/gpu/shaders-vite';
import { decodeImageSource } from '../../src/image/decode.browser';
import { preprocess } from '../../src/image/preprocess';

export interface FrameCase {
  name: string;
  frame: ImageBitmap | VideoFrame;
  size: number;
}

export interface FrameAgreement {
  name: string;
  width: number;
  height: number;
  /** max |GPU − CPU| over the [3, S, S] values. */
  maxDiff: number;
  /** Share of values equal to 1e-6. */
  exactFraction: number;
  values: number;
}

/** "Equal" for two float32 values from the same 8-bit level and table. */
const SAME = 1e-6;

async function run(cases: FrameCase[]): Promise<{ adapter: string; results: FrameAgreement[] }> {
  const gpu = new Gpu(await acquireDevice(), viteShaders);
  const results: FrameAgreement[] = [];
  try {
    for (const { name, frame, size } of cases) {
      const options = { size };
      const preprocessor = new FramePreprocessor(gpu, options);
      const out = gpu.createTensor([1, 3, size, size], 'f32', 'pixels');
      const rec = gpu.recorder({ label: name });
      preprocessor.record({ gpu, rec }, frame, out);
      const read = rec.read(out);
      await rec.submit();
      const ours = new Float32Array(await read);
      const bitmap = frame instanceof ImageBitmap ? frame : await createImageBitmap(frame);
      const reference = preprocess(await decodeImageSource(bitmap), options);
      let maxDiff = 0;
      let exact = 0;
      for (let i = 0; i < reference.length; i++) {
        const diff = Math.abs(ours[i]! - reference[i]!);
        maxDiff = Math.max(maxDiff, diff);
        if (diff <= SAME) exact++;
      }
      results.push({ name, width: bitmap.width, height: bitmap.height, maxDiff, exactFraction: exact / reference.length, values: reference.length });
      frame.close();
      if (bitmap !== frame) bitmap.close();
      preprocessor.destroy();
      gpu.destroyBuffer('activations', out.buffer);
    }
    return { adapter: gpu.adapterName, results };
  } finally {
    gpu.destroy();
  }
}

self.onmessage = (event: MessageEvent<FrameCase[]>) => {
  run(event.data).then(
    (results) => self.postMessage({ ok: true, results }),
    (error: unknown) => self.postMessage({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  );
};
