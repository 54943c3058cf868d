// The engine in Node (Dawn on lavapipe) — the object the worker, the CLI and these tests share: the tiny
// golden CoCa from a local folder and from a local stand-in for the hub (through the cache, then from the
// cache alone), against OpenCLIP's golden outputs; a lost device recovered; calls in order, aborted and
// disposed; and bad sources named for what they are.
import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CocaEngine, type EngineOptions } from '../src/engine/engine';
import { nodeHost } from '../src/engine/host-node';
import { WeightCache } from '../src/io/cache';
import { MemoryStore } from '../src/io/cache-store';
import { MAX_CONFIG_BYTES, MAX_VOCAB_BYTES } from '../src/io/hub';
import { cosine, maxAbs, maxAbsDiff } from './helpers/gpu';
import { golden, goldenJson, SHARED, TINY, type GoldenJson } from './helpers/golden';
import { startHubServer, type HubServer } from './helpers/hub-server';

// golden/README.md: fp32 features within 1e-4·max(1, max|ref|), logits within 1e-3·max(1, max|ref|).
const FEATURE_TOL = 1e-4;
const LOGIT_TOL = 1e-3;
// float32 rounding of (v/255 − mean)/std for values up to ~2.1.
const PIXEL_TOL = 1e-5;
const VOCAB = `${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`;
const REPO = 'test/coca-tiny';
const WEIGHTS = 'open_clip_model.safetensors';
/** Small cache chunks: the 20 MB fp32 model spans ten. */
const CHUNK = 2 << 20;

let hub: HubServer;
let info: GoldenJson;
let images: string[];

beforeAll(async () => {
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(`${TINY}${name}`));
  const config = file('open_clip_config.json');
  const tiny = { 'open_clip_config.json': config, [WEIGHTS]: file(WEIGHTS), 'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(VOCAB)) };
  hub = await startHubServer({
    [REPO]: tiny,
    'test/bad-json': { ...tiny, 'open_clip_config.json': config.slice(0, config.byteLength - 5) },
    'test/huge-config': { ...tiny, 'open_clip_config.json': new Uint8Array(MAX_CONFIG_BYTES + 1).fill(0x20) },
    'test/huge-vocab': { ...tiny, 'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(MAX_VOCAB_BYTES + 1) },
  });
  info = await goldenJson();
  images = info.images.map((name) => `${SHARED}images/${name}`);
});

afterAll(async () => {
  await hub?.close();
});

async function expectGolden(engine: CocaEngine): Promise<void> {
  const imageFeatures = await engine.encodeImage(images);
  const textFeatures = await engine.encodeText(info.texts);
  const within = (got: readonly Float32Array[] | number[][], name: string, tol: number, want: Float32Array): void => {
    const flat = got.flatMap((row) => [...row]);
    expect(maxAbsDiff(flat, want), name).toBeLessThanOrEqual(tol * Math.max(1, maxAbs(want)));
  };
  within(imageFeatures, 'image_features', FEATURE_TOL, await golden('image_features'));
  within(textFeatures, 'text_features', FEATURE_TOL, await golden('text_features'));
  const sim = await engine.similarity(images, info.texts);
  within(sim.logits, 'similarity_logits', LOGIT_TOL, await golden('similarity_logits'));
  within(sim.probs, 'similarity_probs', FEATURE_TOL, await golden('similarity_probs'));
  sim.cosine.forEach((row, i) => row.forEach((c, j) => expect(c).toBeCloseTo(cosine(imageFeatures[i]!, textFeatures[j]!), 6)));
  for (const [i, ref] of info.greedy.captions.entries()) {
    const caption = await engine.caption(images[i]!, { strategy: 'greedy' });
    expect(caption.tokens).toEqual(ref.tokens);
    expect(caption.text).toBe(ref.text);
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

const noNetwork: typeof fetch = async (input) => {
  throw new TypeError(`network blocked in this test: ${String(input)}`);
};

describe('CocaEngine in Node', () => {
  it('loads a local folder by path and matches OpenCLIP; modelView is the crop the model sees', async () => {
    const engine = await CocaEngine.load(nodeHost(), { model: TINY, vocab: VOCAB, dtype: 'fp32' });
    try {
      expect(engine.info).toMatchObject({ id: `file:${TINY}${WEIGHTS}`, dtype: 'fp32', fromCache: false, cached: false });
      await expectGolden(engine);
      const view = await engine.modelView(images[0]!);
      const S = 64;
      expect([view.width, view.height]).toEqual([S, S]);
      const pixels = (await golden('pixel_values')).subarray(0, 3 * S * S);
      const mean = [0.48145466, 0.4578275, 0.40821073];
      const std = [0.26862954, 0.26130258, 0.27577711];
      const normalized = Array.from({ length: 3 * S * S }, (_, k) => {
        const [c, i] = [Math.floor(k / (S * S)), k % (S * S)];
        return (view.data[i * view.channels + c]! / 255 - mean[c]!) / std[c]!;
      });
      expect(maxAbsDiff(normalized, pixels)).toBeLessThanOrEqual(PIXEL_TOL);
    } finally {
      await engine.dispose();
    }
  });

  it('loads from the hub through the cache, then from the cache alone; recovers a lost device from the cache', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    const progress: string[] = [];
    const options: EngineOptions = { model: REPO, hubUrl: hub.url, dtype: 'fp32', cache, chunkBytes: CHUNK, onProgress: (p) => void progress.push(p.phase) };
    const first = await CocaEngine.load(nodeHost(), options);
    expect(first.info).toMatchObject({ id: REPO, revision: 'main', fromCache: false, cached: true });
    expect(new Set(progress)).toEqual(new Set(['download', 'convert', 'cache-write', 'upload', 'compile']));
    await first.dispose();

    hub.resetLog();
    progress.length = 0;
    const warnings: Error[] = [];
    const second = await CocaEngine.load(nodeHost({ fetch: noNetwork }), { ...options, onWarning: (e) => void warnings.push(e) });
    try {
      expect(second.info).toMatchObject({ fromCache: true, cached: true });
      expect(new Set(progress)).toEqual(new Set(['cache-read', 'upload', 'compile']));
      await expectGolden(second);
      await second.loseDeviceForTesting();
      for (let i = 0; i < 50 && warnings.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(warnings.map((w) => w.name)).toEqual(['DeviceLostError']);
      const [text] = await second.encodeText(info.texts[0]!);
      const want = (await golden('text_features')).subarray(0, text!.length);
      expect(maxAbsDiff(text!, want)).toBeLessThanOrEqual(FEATURE_TOL * Math.max(1, maxAbs(want)));
      expect(second.info).toMatchObject({ deviceLosses: 1, fromCache: true, warnings: [expect.objectContaining({ name: 'DeviceLostError' })] });
      expect(hub.requests).toEqual([]);
    } finally {
      await second.dispose();
    }
  });

  it('runs calls one at a time in call order, settles a caption after its token callbacks, aborts and disposes', async () => {
    const engine = await CocaEngine.load(nodeHost(), { model: hub.baseUrl(REPO), dtype: 'fp32' });
    const order: string[] = [];
    const track = <T>(name: string, p: Promise<T>): Promise<T> => p.then((v) => (order.push(name), v));
    // A slow callback (like a comlink proxy's round trip): the caption waits for every one it made.
    const delivered: number[] = [];
    const onToken = async (t: { id: number }): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      delivered.push(t.id);
    };
    const aborted = new AbortController();
    aborted.abort();
    const results = await Promise.allSettled([
      track('caption', engine.caption(images[1]!, { strategy: 'greedy', onToken })),
      track('text', engine.encodeText(info.texts)),
      track('aborted', engine.encodeImage(images[0]!, { signal: aborted.signal })),
      track('image', engine.encodeImage(images[0]!)),
    ]);
    expect(order).toEqual(['caption', 'text', 'image']);
    const caption = results[0].status === 'fulfilled' ? results[0].value : null;
    expect(caption?.tokens).toEqual(info.greedy.captions[1]!.tokens);
    expect(delivered).toEqual(info.greedy.captions[1]!.tokens.slice(1));
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { name: 'AbortError' } });

    // A caption aborted after its third token stops there.
    const controller = new AbortController();
    const streamed: number[] = [];
    const abort = await rejection(engine.caption(images[0]!, { strategy: 'greedy', signal: controller.signal, onToken: (t) => (streamed.push(t.id), streamed.length === 3 && controller.abort()) }));
    expect(abort.name).toBe('AbortError');
    expect(streamed.length).toBeLessThan(info.greedy.captions[0]!.tokens.length - 1);
    // Bad settings are named before any work.
    expect(await rejection(engine.caption(images[0]!, { strategy: 'beam', topP: 0.5 }))).toMatchObject({ name: 'OptionsError', option: 'topP' });
    await engine.dispose();
    expect((await rejection(engine.encodeText('a cat'))).name).toBe('DisposedError');
  });

  it('names what is wrong with a source: no model files, a malformed or oversized config, an oversized vocabulary', async () => {
    const load = (model: string, extra: Partial<EngineOptions> = {}): Promise<Error> => rejection(CocaEngine.load(nodeHost(), { model, dtype: 'fp32', retryDelayMs: 1, ...extra }));
    const nothing = await load(`${hub.url}/nobody/nothing/resolve/main/`);
    expect(nothing).toMatchObject({ name: 'NetworkError', status: 404 });
    expect(nothing.message).toMatch(/nobody\/nothing\/resolve\/main\/ has no model files: none of open_clip_config\.json, open_clip_model\.safetensors/);
    const badJson = await load('test/bad-json', { hubUrl: hub.url });
    expect(badJson.name).toBe('ModelConfigError');
    expect(badJson.message).toMatch(new RegExp(`^${hub.url}/test/bad-json/resolve/main/open_clip_config\\.json is not valid JSON`));
    // The same file in a local folder (the weights linked in beside it).
    const folder = mkdtempSync(join(tmpdir(), 'coca-bad-config-'));
    writeFileSync(join(folder, 'open_clip_config.json'), readFileSync(`${TINY}open_clip_config.json`).subarray(0, 100));
    symlinkSync(`${TINY}${WEIGHTS}`, join(folder, WEIGHTS));
    const localBad = await load(folder, { vocab: VOCAB });
    expect(localBad.name).toBe('ModelConfigError');
    expect(localBad.message).toMatch(new RegExp(`^${folder}/open_clip_config\\.json is not valid JSON`));
    expect(await load('test/huge-config', { hubUrl: hub.url })).toMatchObject({ name: 'ModelConfigError', message: expect.stringMatching(/is \d+ bytes; a CoCa config is a few KB/) });
    expect(await load('test/huge-vocab', { hubUrl: hub.url })).toMatchObject({ name: 'VocabularyError', message: expect.stringMatching(/more than the \d+ a CLIP vocabulary file can be/) });
  });
});
