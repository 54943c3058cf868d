// Camera frames through the engine in Node (Dawn on lavapipe), the tiny golden CoCa with fp32 weights: a frame's
// zero-shot scores equal similarity() on the same pixels and OpenCLIP's golden similarity; a frame's caption
// equals the golden greedy caption; the labels' text embeddings are kept between frames; at most two frames are
// held (the next one submitted while the last is read back), the rest dropped; no GPU object is made after the
// first frame; bad labels and bad frames are named errors that leave the engine working; a lost device recovers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FrameClassification } from '../src/engine/api';
import { CocaEngine } from '../src/engine/engine';
import { nodeHost } from '../src/engine/host-node';
import { ImageDecodeError, OptionsError } from '../src/errors';
import { decodeImageFile } from '../src/image/decode-node';
import type { RgbaImage } from '../src/image';
import { FRAMES_HELD, MAX_FRAME_LABELS } from '../src/options';
import { golden, goldenJson, SHARED, TINY, type GoldenJson } from './helpers/golden';
import { maxAbsDiff } from './helpers/gpu';

/** golden/README.md: fp32 similarity probabilities within 1e-4 of OpenCLIP's. */
const GOLDEN_TOL = 1e-4;
/** A frame and similarity() see the same pixels (the GPU preprocessing is bit-exact) through the same vision pass. */
const SAME_PIXELS_TOL = 1e-6;
const VOCAB = `${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`;

let engine: CocaEngine;
let reference: GoldenJson;
let frames: RgbaImage[];

beforeAll(async () => {
  reference = await goldenJson();
  engine = await CocaEngine.load(nodeHost(), { model: TINY, vocab: VOCAB, dtype: 'fp32' });
  frames = await Promise.all(
    reference.images.map(async (name) => {
      const decoded = await decodeImageFile(`${SHARED}images/${name}`);
      return { width: decoded.width, height: decoded.height, data: decoded.data as Uint8Array, channels: 3 as const };
    }),
  );
});

afterAll(async () => {
  await engine?.dispose();
});

/** Calls `mapped` each time a frame embedding's readback buffer is mapped (Dawn's GPUBuffer, patched until restored). */
function onFrameReadback(mapped: () => void): () => void {
  const prototype = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer } }).GPUBuffer.prototype;
  const original = prototype.mapAsync;
  prototype.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>): Promise<undefined> {
    const done = original.apply(this, args);
    if (this.label.startsWith('frame.embedding')) void done.then(mapped, () => undefined);
    return done;
  };
  return () => {
    prototype.mapAsync = original;
  };
}

async function classified(frame: RgbaImage, labels: readonly string[], template = '{label}'): Promise<FrameClassification> {
  const result = await engine.classifyFrame(frame, { labels, template });
  expect(result).not.toBeNull();
  return result!;
}

describe('camera frames through the engine', () => {
  it("scores a frame as similarity() scores the same image, and as OpenCLIP's golden similarity", async () => {
    const goldenProbs = await golden('similarity_probs');
    const n = reference.texts.length;
    for (const [i, frame] of frames.entries()) {
      const result = await classified(frame, reference.texts);
      expect(result.texts).toEqual(reference.texts);
      const still = await engine.similarity(frame, reference.texts);
      expect(maxAbsDiff(result.probs, still.probs[0]!)).toBeLessThanOrEqual(SAME_PIXELS_TOL);
      expect(maxAbsDiff(result.cosine, still.cosine[0]!)).toBeLessThanOrEqual(SAME_PIXELS_TOL);
      const want = goldenProbs.subarray(i * n, (i + 1) * n);
      expect(maxAbsDiff(result.probs, want), reference.images[i]).toBeLessThanOrEqual(GOLDEN_TOL);
      expect(result.best).toBe(want.indexOf(Math.max(...want)));
      expect(result.ms).toBeGreaterThan(0);
    }
    // The template goes around each label, as in similarity().
    const templated = await classified(frames[0]!, ['cat', 'dog'], 'a photo of a {label}');
    expect(templated.texts).toEqual(['a photo of a cat', 'a photo of a dog']);
    const still = await engine.similarity(frames[0]!, templated.texts);
    expect(maxAbsDiff(templated.probs, still.probs[0]!)).toBeLessThanOrEqual(SAME_PIXELS_TOL);
  });

  it('captions a frame with the golden greedy caption', async () => {
    for (const [i, frame] of frames.entries()) {
      const caption = await engine.captionFrame(frame, { strategy: 'greedy' });
      expect(caption.tokens).toEqual(reference.greedy.captions[i]!.tokens);
      expect(caption.text).toBe(reference.greedy.captions[i]!.text);
    }
  });

  it('keeps the labels’ text embeddings between frames and makes no GPU object after the first frame of a size', async () => {
    const labels = ['a cat', 'a rocket', 'a cup'];
    const camera = frames[1]!;
    await classified(camera, labels);
    const dispatches = (): number => engine.info.counts.dispatches;
    const before = dispatches();
    await engine.encodeImage(camera);
    const imagePass = dispatches() - before;
    const objects = { ...engine.info.counts };
    for (let i = 0; i < 3; i++) {
      const start = dispatches();
      await classified(camera, labels);
      // The frame's preprocessing (two kernels) and its image pass; no text encode.
      expect(dispatches() - start).toBe(imagePass + 2);
    }
    expect(engine.info.counts).toMatchObject({ pipelines: objects.pipelines, buffers: objects.buffers, bindGroups: objects.bindGroups });
    const start = dispatches();
    await classified(frames[0]!, [...labels, 'a dog']);
    expect(dispatches() - start).toBeGreaterThan(imagePass + 2);
  });

  it('holds at most two frames: the second is submitted while the first is read back, later ones are dropped', async () => {
    const labels = ['a cat', 'a rocket'];
    await classified(frames[0]!, labels);
    const base = engine.info.counts.submits;
    const submitsAtReadback: number[] = [];
    const restore = onFrameReadback(() => submitsAtReadback.push(engine.info.counts.submits));
    let results: (FrameClassification | null)[];
    try {
      results = await Promise.all(frames.concat(frames).map((frame) => engine.classifyFrame(frame, { labels, template: '{label}' })));
    } finally {
      restore();
    }
    expect(results.map((r) => r !== null)).toEqual(results.map((_, i) => i < FRAMES_HELD));
    // Each frame: its texels' upload, its pass, its embedding's copy. By the time the first embedding was
    // read back, the second frame's upload and pass had been submitted.
    expect(submitsAtReadback[0]).toBeGreaterThanOrEqual(base + 3 + 2);
    expect(engine.info.counts.submits).toBe(base + 3 * FRAMES_HELD);
    expect(results[1]!.probs).toEqual((await classified(frames[1]!, labels)).probs);
    // Nothing stays held: the next frames are taken again.
    expect(await engine.classifyFrame(frames[2]!, { labels, template: '{label}' })).not.toBeNull();
  });

  it('names bad labels and frames without pixels, and keeps working after them', async () => {
    const frame = frames[0]!;
    const bad = [
      { labels: [] },
      { labels: ['cat', ' '] },
      { labels: Array.from({ length: MAX_FRAME_LABELS + 1 }, (_, i) => `label ${i}`) },
      { labels: 'cat' as unknown as string[] },
      { labels: ['cat'], template: 7 as unknown as string },
    ];
    for (const request of bad) {
      const error = await engine.classifyFrame(frame, request).then(
        () => null,
        (e: Error) => e,
      );
      expect(error, JSON.stringify(request).slice(0, 60)).toBeInstanceOf(OptionsError);
    }
    await expect(engine.classifyFrame({ width: 0, height: 0, data: new Uint8Array(0), channels: 4 }, { labels: ['cat'] })).rejects.toBeInstanceOf(ImageDecodeError);
    await expect(engine.captionFrame({ width: 2, height: 2, data: new Uint8Array(3), channels: 4 })).rejects.toBeInstanceOf(ImageDecodeError);
    const result = await classified(frame, reference.texts);
    expect(maxAbsDiff(result.probs, (await engine.similarity(frame, reference.texts)).probs[0]!)).toBeLessThanOrEqual(SAME_PIXELS_TOL);
  });

  it('recovers from a lost device: the next frame reloads the model and scores as before', async () => {
    const before = await classified(frames[2]!, reference.texts);
    await engine.loseDeviceForTesting();
    const after = await classified(frames[2]!, reference.texts);
    expect(maxAbsDiff(after.probs, before.probs)).toBeLessThanOrEqual(SAME_PIXELS_TOL);
    expect(engine.info.deviceLosses).toBe(1);
    expect(engine.info.warnings?.map((w) => w.name)).toContain('DeviceLostError');
  });
});
