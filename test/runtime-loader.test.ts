// The weight loader without a GPU: the tiny golden model from a local hub server into an array, through
// the cache (in memory). The bytes that arrive must equal the checkpoint converted tensor by tensor,
// whichever way they came: network, cache, a resumed download, a repaired chunk.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckpointFormatError, ModelChangedError, ModelFormatError, NetworkError, QuotaExceededError } from '../src/errors';
import { CACHE_FORMAT_VERSION, WeightCache, type CacheModelKey } from '../src/io/cache';
import { crc32 } from '../src/io/cache-checksum';
import { InProcessLocks } from '../src/io/cache-lock';
import { MemoryStore } from '../src/io/cache-store';
import { openCheckpoint } from '../src/io/checkpoint';
import { DEFAULT_HUB_URL, fetchVocabulary, locateModel, isRepoId, type VocabularyFiles } from '../src/io/hub';
import { openFileSource } from '../src/io/source-node';
import { transpose, WEIGHT_LAYOUT_VERSION, weightLayout, type WeightLayout } from '../src/model/weights';
import type { WeightDtype } from '../src/options';
import { f32ArrayToF16, packF16Pairs } from '../src/io/fp16';
import { loadTokenizerFromBytes, ClipTokenizer } from '../src/text/index';
import { loadWeights, WAITING_DETAIL, type WeightSink, type WeightSource } from '../src/engine/loader';
import { ProgressMeter } from '../src/engine/progress';
import type { LoadProgress } from '../src/engine/api';
import { SHARED, TINY, tinyConfig } from './helpers/golden';
import { hubVocabFiles, startHubServer, type HubRepos, type HubServer } from './helpers/hub-server';

const REPO = 'test/coca-tiny';
const WEIGHTS = 'open_clip_model.safetensors';
const BIN_REPO = 'test/coca-tiny-bin';
const BIN = 'open_clip_pytorch_model.bin';
/** Small chunks, so the 10 MB fp16 tiny model spans ten of them and resume/repair have something to skip. */
const CHUNK = 1 << 20;
/** HttpFile's first request: the header and whatever follows it. */
const PREFETCH = 256 * 1024;
const VOCAB_GZ = `${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`;
const VOCAB_REPO = 'test/vocab-files';
const VOCAB_TXT = 'bpe_simple_vocab_16e6.txt';
const VOCAB_TEXT = (): Uint8Array<ArrayBuffer> => new Uint8Array(gunzipSync(readFileSync(VOCAB_GZ)));

class ArraySink implements WeightSink {
  readonly bytes: Uint8Array;
  destroyed = false;
  constructor(layout: WeightLayout) {
    this.bytes = new Uint8Array(layout.byteLength);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.bytes.set(bytes, offset);
  }
  destroy(): void {
    this.destroyed = true;
  }
}

let hub: HubServer;
let hubRepos: HubRepos;
let expected: Uint8Array;
let layout: WeightLayout;

beforeAll(async () => {
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(`${TINY}${name}`));
  const tiny = { 'open_clip_config.json': file('open_clip_config.json'), [WEIGHTS]: file(WEIGHTS), 'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(VOCAB_GZ)) };
  hubRepos = {
    [REPO]: tiny,
    // The same model as a .bin, whose bytes a test damages and mends in place.
    [BIN_REPO]: { 'open_clip_config.json': tiny['open_clip_config.json'], [BIN]: file(BIN), 'bpe_simple_vocab_16e6.txt.gz': tiny['bpe_simple_vocab_16e6.txt.gz'] },
    // Like laion/CoCa-ViT-B-32-laion2B-s13B-b90k: no config, so the preset is picked by name.
    'laion/CoCa-ViT-B-32-tiny': { [WEIGHTS]: tiny[WEIGHTS] },
    'test/no-vocab': { 'open_clip_config.json': tiny['open_clip_config.json'], 'open_clip_pytorch_model.bin': file('open_clip_pytorch_model.bin') },
    'openai/clip-vit-base-patch32': hubVocabFiles(VOCAB_GZ),
    // The same vocabulary as another file: a vocab option that names it is another cache entry.
    [VOCAB_REPO]: { [VOCAB_TXT]: VOCAB_TEXT() },
  };
  hub = await startHubServer(hubRepos);
  layout = weightLayout(await tinyConfig(), 'fp16');
  const source = await openFileSource(`${TINY}${WEIGHTS}`);
  const checkpoint = await openCheckpoint(source);
  expected = new Uint8Array(layout.byteLength);
  for (const entry of layout.entries) {
    // The plain definition, independent of the converter's fused paths: transpose, then round to fp16 and pack.
    let values = await checkpoint.readF32(entry.source);
    const t = entry.transform;
    if (t.kind === 'transpose') values = transpose(values, t.rows, t.cols);
    if (t.kind === 'slice') values = values.slice(t.start, t.end);
    const stored = entry.dtype === 'f16x2' ? packF16Pairs(f32ArrayToF16(values)) : values;
    expected.set(new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength), entry.byteOffset);
  }
  await source.close?.();
});

afterAll(async () => {
  await hub?.close();
});

beforeEach(() => {
  hub.clearFaults();
  hub.resetLog();
});

interface Run {
  sink: ArraySink;
  fromCache: boolean;
  cached: boolean;
  warnings: Error[];
  events: LoadProgress[];
  vocabulary: VocabularyFiles;
  /** The background recheck (settled once it has reported), or null. */
  recheck: Promise<void> | null;
}

/** Hooks for the tests of concurrent loads: each progress event as it happens, and an abort signal. */
interface LoadHooks {
  onEvent?: (event: LoadProgress) => void;
  signal?: AbortSignal;
}

async function load(cache: WeightCache | null, source: Partial<WeightSource> = {}, fetchFn?: typeof fetch, retries?: number, hooks: LoadHooks = {}): Promise<Run> {
  const warnings: Error[] = [];
  const events: LoadProgress[] = [];
  const result = await loadWeights({
    source: { model: hub.baseUrl(REPO), dtype: 'fp16', chunkBytes: CHUNK, ...source },
    cache,
    progress: new ProgressMeter((p) => {
      events.push(p);
      hooks.onEvent?.(p);
    }),
    createSink: (l) => new ArraySink(l),
    warn: (e) => warnings.push(e),
    fetch: fetchFn,
    signal: hooks.signal,
    http: { retries, retryDelayMs: 10 },
  });
  return { sink: result.sink, fromCache: result.fromCache, cached: result.cached, warnings, events, vocabulary: result.vocabulary, recheck: result.recheck };
}

function expectWeights(run: Run): void {
  // Byte-for-byte: the stream is a pure function of the checkpoint.
  expect(run.sink.bytes.byteLength).toBe(expected.byteLength);
  expect(Buffer.compare(run.sink.bytes, expected)).toBe(0);
}

const noNetwork: typeof fetch = async (input) => {
  throw new TypeError(`network blocked in this test: ${String(input)}`);
};

/** The cache key of the tiny model loaded from its base URL (default hub and vocabulary). */
const tinyKey = (dtype: WeightDtype = 'fp16'): CacheModelKey => ({ id: hub.baseUrl(REPO), revision: 'main', dtype, hubUrl: DEFAULT_HUB_URL, vocab: 'default' });

/** MemoryStore's key of chunk i. */
const chunkStoreKey = (k: CacheModelKey, i: number): string => JSON.stringify(['chunk', k.id, k.revision, k.dtype, k.hubUrl, k.vocab, i]);

const weightBytes = (): number => readFileSync(`${TINY}${WEIGHTS}`).byteLength;

describe('hub locations', () => {
  it('tells repo ids from URLs and builds hub URLs', async () => {
    expect(isRepoId('laion/CoCa-ViT-B-32-laion2B-s13B-b90k')).toBe(true);
    expect(isRepoId('https://example.com/m/')).toBe(false);
    expect(isRepoId('/models/coca/')).toBe(false);
    const loc = await locateModel('laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k', { revision: 'v1.0' });
    expect(loc).toMatchObject({
      kind: 'url',
      id: 'laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k',
      revision: 'v1.0',
      baseUrl: 'https://huggingface.co/laion/mscoco_finetuned_CoCa-ViT-B-32-laion2B-s13B-b90k/resolve/v1.0/',
    });
    expect(await locateModel('http://127.0.0.1:1/a/b')).toMatchObject({ kind: 'url', baseUrl: 'http://127.0.0.1:1/a/b/' });
  });
});

describe('weight loader (memory cache, local hub)', () => {
  it('downloads once, then loads from the cache alone, byte-identical', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    const first = await load(cache);
    expectWeights(first);
    expect(first.fromCache).toBe(false);
    expect(first.cached).toBe(true);
    // The checkpoint's bytes once, plus at most the prefetched header: no tensor is read twice.
    expect(hub.bytesSent(WEIGHTS)).toBeLessThanOrEqual(weightBytes() + PREFETCH);
    const download = first.events.filter((e) => e.phase === 'download');
    // A smooth bar: no jump bigger than a few percent, and it ends exactly full.
    const steps = download.map((e, i) => e.bytesDone - (i === 0 ? 0 : download[i - 1]!.bytesDone));
    expect(Math.max(...steps)).toBeLessThan(0.05 * download.at(-1)!.bytesTotal);
    expect(download.at(-1)!.bytesDone).toBe(download.at(-1)!.bytesTotal);
    expect(download.every((e, i) => i === 0 || e.bytesDone >= download[i - 1]!.bytesDone)).toBe(true);

    const second = await load(cache, {}, noNetwork);
    expectWeights(second);
    expect(second.fromCache).toBe(true);
    expect(second.events.some((e) => e.phase === 'cache-read' && e.bytesDone === layout.byteLength)).toBe(true);
  });

  it('retries failed requests and resumes a cut response from where it stopped', async () => {
    hub.failNext(2, { file: WEIGHTS, fromOffset: 1 << 20 });
    hub.cutNext(1, { file: WEIGHTS, afterBytes: 100_000, fromOffset: 1 << 20, minLength: 200_000 });
    const run = await load(null);
    expectWeights(run);
    const failed = hub.requests.filter((r) => r.status === 500);
    expect(failed).toHaveLength(2);
    // The request after the cut starts exactly where the cut one stopped.
    const cutAt = hub.requests.findIndex((r) => r.bytesSent === 100_000 && r.range && r.range[1] - r.range[0] + 1 > 100_000);
    expect(cutAt).toBeGreaterThan(-1);
    const cut = hub.requests[cutAt]!;
    expect(hub.requests[cutAt + 1]!.range).toEqual([cut.range![0] + 100_000, cut.range![1]]);
  });

  it('resumes an interrupted download from the stored chunks, and discards them when the file changed', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    // The connection keeps dropping past the middle of the file: retries run out and the load fails.
    hub.cutNext(100, { file: WEIGHTS, afterBytes: 0, fromOffset: weightBytes() / 2 });
    await expect(load(cache, {}, undefined, 1)).rejects.toBeInstanceOf(NetworkError);
    const firstBytes = hub.bytesSent(WEIGHTS);
    const partial = await cache.partial(tinyKey(), WEIGHT_LAYOUT_VERSION);
    const stored = partial!.chunks.filter((c) => c).length;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThan(partial!.chunks.length);

    hub.clearFaults();
    hub.resetLog();
    const resumed = await load(cache);
    expectWeights(resumed);
    // Only what was missing came over the network the second time.
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes() - stored * CHUNK * 0.5);
    expect(firstBytes + hub.bytesSent(WEIGHTS)).toBeGreaterThan(0);

    // A new upload of the file (new ETag) is not mixed with chunks of the old one.
    const cache2 = new WeightCache(new MemoryStore(), async () => null);
    hub.cutNext(100, { file: WEIGHTS, afterBytes: 0, fromOffset: weightBytes() / 2 });
    await expect(load(cache2, {}, undefined, 1)).rejects.toBeInstanceOf(NetworkError);
    hub.clearFaults();
    hub.changeEtag(REPO, WEIGHTS);
    hub.resetLog();
    const fresh = await load(cache2);
    expectWeights(fresh);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes() * 0.9);
  });

  it('a .bin found corrupt while it streams (an entry\'s CRC) leaves no chunk behind: the next load of good bytes is exact', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    const bin = hubRepos[BIN_REPO]![BIN]!;
    // A flipped sign bit in the middle of the token embedding's storage: its entry's CRC fails only once the entry has streamed
    // past, after the chunk holding the bad value was converted and stored. The file keeps its size and ETag,
    // as bytes damaged on the way would; resuming from that chunk would load the bad value.
    const source = await openFileSource(`${TINY}${BIN}`);
    const largest = (await openCheckpoint(source)).tensors.get('text.token_embedding.weight')!; // 9.5 MB, copied in ranges
    await source.close?.();
    const at = largest.byteOffset + 4 * Math.floor(largest.byteLength / 8) + 3; // a float's sign byte: survives fp16
    bin[at]! ^= 0x80;
    try {
      const failed = load(cache, { model: hub.baseUrl(BIN_REPO) });
      await expect(failed).rejects.toBeInstanceOf(CheckpointFormatError);
      await expect(failed).rejects.toMatchObject({ code: 'crc-mismatch' });
    } finally {
      bin[at]! ^= 0x80;
    }
    const key: CacheModelKey = { ...tinyKey(), id: hub.baseUrl(BIN_REPO) };
    expect(await cache.partial(key, WEIGHT_LAYOUT_VERSION)).toBeNull();
    const good = await load(cache, { model: hub.baseUrl(BIN_REPO) });
    expect(good.fromCache).toBe(false);
    expectWeights(good);
  });

  it('detects a corrupted or truncated cached chunk and fetches it again instead of using it', async () => {
    const store = new MemoryStore();
    const cache = new WeightCache(store, async () => null);
    await load(cache);
    const chunkKey = (i: number): string => chunkStoreKey(tinyKey(), i);
    // Two chunks made of plain (untransposed) tensors: repairing one reads only its share of the checkpoint.
    const plain = Array.from({ length: Math.ceil(layout.byteLength / CHUNK) }, (_, i) => i).filter((i) =>
      layout.entries.every((e) => e.transform.kind === 'copy' || e.byteOffset + e.byteLength <= i * CHUNK || e.byteOffset >= (i + 1) * CHUNK),
    );
    const [a, b] = [plain[1]!, plain[plain.length - 1]!];
    const flipped = new Uint8Array((store.data.get(chunkKey(a))!.value as ArrayBuffer).slice(0));
    flipped[12345] ^= 0x40;
    store.data.get(chunkKey(a))!.value = flipped.buffer;
    store.data.get(chunkKey(b))!.value = (store.data.get(chunkKey(b))!.value as ArrayBuffer).slice(0, 1000);
    hub.resetLog();
    const run = await load(cache);
    expectWeights(run);
    expect(run.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(new RegExp(`chunk ${a} .* checksum`)),
      expect.stringMatching(new RegExp(`chunk ${b} .* truncated`)),
    ]);
    // fp32 in the checkpoint, fp16 in the chunk: two chunks cost about four chunks' worth of download.
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(0);
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(PREFETCH + 4 * CHUNK + 64 * 1024);
    // Repaired in place: the next load is network-free again.
    const again = await load(cache, {}, noNetwork);
    expectWeights(again);
    expect(again.warnings).toEqual([]);
  });

  it('a cached model whose upstream file changed is reloaded whole when a chunk needs repair', async () => {
    const store = new MemoryStore();
    const cache = new WeightCache(store, async () => null);
    await load(cache);
    store.data.get(chunkStoreKey(tinyKey(), 2))!.value = new ArrayBuffer(8);
    hub.changeEtag(REPO, WEIGHTS);
    hub.resetLog();
    const run = await load(cache);
    expectWeights(run);
    expect(run.warnings.some((w) => w instanceof ModelChangedError)).toBe(true);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes() * 0.9);
  });

  it('keeps working without caching when the quota is exhausted, and reports needed and free bytes', async () => {
    const store = new MemoryStore();
    store.quotaBytes = 3 * CHUNK;
    const cache = new WeightCache(store, async () => ({ usage: 3 * CHUNK, quota: 3 * CHUNK }));
    const run = await load(cache);
    expectWeights(run);
    expect(run.cached).toBe(false);
    const quota = run.warnings.find((w) => w instanceof QuotaExceededError) as QuotaExceededError;
    expect(quota.needed).toBe(layout.byteLength);
    expect(quota.free).toBe(0);
    expect(quota.message).toMatch(/needed/);
    // What had been written is removed again: no half model lingers.
    expect([...store.data.keys()].filter((k) => k.includes('"chunk"'))).toEqual([]);
    expect(await cache.list()).toEqual([]);
  });

  it('picks the preset named by a repo without a config, and falls back to the hub vocabulary', async () => {
    await expect(load(null, { model: 'laion/CoCa-ViT-B-32-tiny', hubUrl: hub.url })).rejects.toThrow(
      expect.objectContaining({ name: 'ModelFormatError', message: expect.stringContaining('coca_ViT-B-32') }) as Error,
    );
    expect(hub.requests.map((r) => `${r.status} ${r.file}`)).toContain('404 open_clip_config.json');

    // A repo with the .bin checkpoint only and no vocabulary: openai/clip-vit-base-patch32's vocab.json + merges.txt.
    const run = await load(null, { model: 'test/no-vocab', hubUrl: hub.url });
    expectWeights(run);
    const location = await locateModel('test/no-vocab', { hubUrl: hub.url });
    const files = await fetchVocabulary(location, undefined);
    expect(files.kind).toBe('vocab-merges');
    const fromHub = files.kind === 'vocab-merges' ? ClipTokenizer.fromVocabMerges(new TextDecoder().decode(files.vocab), new TextDecoder().decode(files.merges)) : null;
    const reference = await loadTokenizerFromBytes(new Uint8Array(readFileSync(VOCAB_GZ)));
    const text = 'An astronaut riding a horse, in 1969!';
    expect(fromHub!.encodeWithSpecials(text)).toEqual(reference.encodeWithSpecials(text));
    expect(fromHub!.decode(reference.encodeWithSpecials(text))).toBe(reference.decode(reference.encodeWithSpecials(text)));
  });

  it('lists and deletes cached models', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => ({ usage: 1, quota: 2 }));
    await load(cache);
    await load(cache, { dtype: 'fp32' });
    const list = await cache.list();
    expect(list.map((m) => [m.id, m.revision, m.dtype])).toEqual([
      [hub.baseUrl(REPO), 'main', 'fp16'],
      [hub.baseUrl(REPO), 'main', 'fp32'],
    ]);
    const fp32Bytes = weightLayout(await tinyConfig(), 'fp32').byteLength;
    const vocabBytes = readFileSync(VOCAB_GZ).byteLength;
    expect(list.map((m) => m.bytes)).toEqual([layout.byteLength + vocabBytes, fp32Bytes + vocabBytes]);
    expect(await cache.usage()).toEqual({ models: 2, bytes: layout.byteLength + fp32Bytes + 2 * vocabBytes, usage: 1, quota: 2 });
    expect(await cache.deleteModel(hub.baseUrl(REPO), { dtype: 'fp32' })).toBe(1);
    expect((await cache.list()).map((m) => m.dtype)).toEqual(['fp16']);
    expect(await cache.deleteModel(hub.baseUrl(REPO))).toBe(1);
    expect(await cache.list()).toEqual([]);
    expect((await cache.usage()).bytes).toBe(0);
  });

  it('refuses a checkpoint that does not fit the config, by tensor name', async () => {
    await expect(load(null, { model: 'laion/CoCa-ViT-B-32-tiny', hubUrl: hub.url })).rejects.toBeInstanceOf(ModelFormatError);
  });
});

describe('cache locks (in-process, the fallback where navigator.locks is missing)', () => {
  it('lets shared holders in together, keeps exclusive holders alone, in arrival order, and stops waiting on abort', async () => {
    const locks = new InProcessLocks();
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    /** Holds the lock until released by name; logs grant, wait and release. */
    const hold = (who: string, mode: 'shared' | 'exclusive', signal?: AbortSignal): Promise<void> =>
      locks.run(
        'm',
        mode,
        () =>
          new Promise<void>((resolve) => {
            log.push(`${who} in`);
            gates.set(who, () => {
              log.push(`${who} out`);
              resolve();
            });
          }),
        { signal, onWait: () => log.push(`${who} waits`) },
      );
    const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
    const r1 = hold('r1', 'shared');
    const r2 = hold('r2', 'shared');
    await settle();
    const w1 = hold('w1', 'exclusive');
    // A reader after a waiting writer waits too (no starvation of writers).
    const r3 = hold('r3', 'shared');
    const controller = new AbortController();
    const w2 = hold('w2', 'exclusive', controller.signal);
    await settle();
    controller.abort(new Error('gave up'));
    await expect(w2).rejects.toThrow('gave up');
    gates.get('r1')!();
    await settle();
    gates.get('r2')!();
    await settle();
    gates.get('w1')!();
    await settle();
    gates.get('r3')!();
    await Promise.all([r1, r2, w1, r3]);
    expect(log).toEqual(['r1 in', 'r2 in', 'w1 waits', 'r3 waits', 'w2 waits', 'r1 out', 'r2 out', 'w1 in', 'w1 out', 'r3 in', 'r3 out']);
    // An idle lock is forgotten; a new request is granted at once.
    await hold2(locks);
  });
});

/** A lock taken and released with nothing else around: granted without waiting. */
async function hold2(locks: InProcessLocks): Promise<void> {
  let waited = false;
  expect(await locks.run('m', 'exclusive', async () => 42, { onWait: () => (waited = true) })).toBe(42);
  expect(waited).toBe(false);
}

describe('one cache shared by several pages (two WeightCaches over one store and one lock manager)', () => {
  /** Two "tabs": their own WeightCache objects over the same records and the same locks. */
  function twoTabs(): [WeightCache, WeightCache, MemoryStore] {
    const store = new MemoryStore();
    const locks = new InProcessLocks();
    return [new WeightCache(store, async () => null, locks), new WeightCache(store, async () => null, locks), store];
  }

  it('two pages loading one model at once download it once: the second waits, then reads the cache', async () => {
    const [a, b] = twoTabs();
    const [first, second] = await Promise.all([load(a), load(b)]);
    expectWeights(first);
    expectWeights(second);
    // The checkpoint's bytes once in all (plus the prefetched header), and the background recheck's one byte.
    expect(hub.bytesSent(WEIGHTS)).toBeLessThanOrEqual(weightBytes() + PREFETCH + 1);
    expect([first.fromCache, second.fromCache]).toEqual([false, true]);
    expect(second.events.some((e) => e.detail === WAITING_DETAIL)).toBe(true);
    expect(first.events.some((e) => e.detail === WAITING_DETAIL)).toBe(false);
    await Promise.all([first.recheck, second.recheck]);
    expect((await b.list()).map((m) => [m.id, m.dtype])).toEqual([[hub.baseUrl(REPO), 'fp16']]);
  });

  it('a delete during a download waits for it and then removes the whole model; the next load downloads again', async () => {
    const [a, b, store] = twoTabs();
    const order: string[] = [];
    let deletion: Promise<number> | null = null;
    const loading = load(a, {}, undefined, undefined, {
      // Once the first chunk is stored (and the partial record that lists it), the other tab deletes the model.
      onEvent: (e) => {
        if (e.phase === 'upload' && !deletion) deletion = b.deleteModel(hub.baseUrl(REPO)).finally(() => order.push('deleted'));
      },
    }).finally(() => order.push('loaded'));
    const run = await loading;
    expectWeights(run);
    expect(await deletion).toBe(1);
    expect(order).toEqual(['loaded', 'deleted']);
    await run.recheck;
    // Nothing of the model is left: no manifest, no partial record, no chunk, no vocabulary.
    expect([...store.data.keys()]).toEqual([JSON.stringify(['format'])]);
    hub.resetLog();
    const again = await load(a);
    expectWeights(again);
    expect(again.fromCache).toBe(false);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes() * 0.9);
  });

  it('a delete during a read from the cache waits for the read, which gets the whole model', async () => {
    const [a, b, store] = twoTabs();
    await load(a);
    let deletion: Promise<number> | null = null;
    const read = await load(a, {}, noNetwork, undefined, {
      onEvent: (e) => {
        if (e.phase === 'cache-read' && e.bytesDone > 0 && !deletion) deletion = b.deleteModel(hub.baseUrl(REPO));
      },
    });
    expect(read.fromCache).toBe(true);
    expectWeights(read);
    expect(await deletion).toBe(1);
    expect([...store.data.keys()]).toEqual([JSON.stringify(['format'])]);
  });

  it('a writer that stops mid-download (a tab closed) releases the lock; its partial record is resumed by the next load', async () => {
    const [a, b] = twoTabs();
    const controller = new AbortController();
    const aborted = load(a, {}, undefined, undefined, {
      onEvent: (e) => {
        if (e.phase === 'upload' && e.bytesDone >= 3 * CHUNK) controller.abort(new Error('the tab was closed'));
      },
      signal: controller.signal,
    });
    await expect(aborted).rejects.toThrow('the tab was closed');
    expect(await b.list()).toEqual([]);
    const partial = await b.partial(tinyKey(), WEIGHT_LAYOUT_VERSION);
    const stored = partial!.chunks.filter((c) => c).length;
    expect(stored).toBeGreaterThanOrEqual(3);
    hub.resetLog();
    const resumed = await load(b);
    expectWeights(resumed);
    expect(resumed.cached).toBe(true);
    expect(hub.bytesSent(WEIGHTS)).toBeLessThan(weightBytes() - stored * CHUNK);
  });
});

/** The vocabulary loaded is exactly this bpe file. */
function expectVocabulary(files: VocabularyFiles, bytes: Uint8Array): void {
  expect(files.kind).toBe('bpe');
  expect(files.kind === 'bpe' && Buffer.compare(files.bytes, bytes)).toBe(0);
}

describe('the cache key: hub and vocabulary', () => {
  it('a mirror, a vocab URL and a vocab file each get their own entry; the vocabulary loaded is the one asked for', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    const mirror = hub.url.replace('127.0.0.1', 'localhost');
    const fromHub = await load(cache, { model: REPO, hubUrl: hub.url });
    const fromMirror = await load(cache, { model: REPO, hubUrl: `${mirror}/` });
    expect([fromHub.fromCache, fromMirror.fromCache]).toEqual([false, false]);
    expectWeights(fromMirror);
    // The same hub again (a trailing '/' does not make another hub): from the cache.
    const again = await load(cache, { model: REPO, hubUrl: `${hub.url}/` }, noNetwork);
    expect(again.fromCache).toBe(true);

    const vocabUrl = `${hub.baseUrl(VOCAB_REPO)}${VOCAB_TXT}`;
    const withUrl = await load(cache, { model: REPO, hubUrl: hub.url, vocab: vocabUrl });
    expect(withUrl.fromCache).toBe(false);
    // The vocabulary is the file the option names (before, the cached one was served whatever the option said).
    expectVocabulary(withUrl.vocabulary, VOCAB_TEXT());
    expectVocabulary((await load(cache, { model: REPO, hubUrl: hub.url, vocab: vocabUrl }, noNetwork)).vocabulary, VOCAB_TEXT());
    expectVocabulary(fromHub.vocabulary, readFileSync(VOCAB_GZ));

    // A vocabulary file is keyed by its content: a renamed copy is the same entry.
    const withFile = await load(cache, { model: REPO, hubUrl: hub.url, vocab: new File([VOCAB_TEXT()], 'a.txt') });
    expect(withFile.fromCache).toBe(false);
    const renamed = await load(cache, { model: REPO, hubUrl: hub.url, vocab: new File([VOCAB_TEXT()], 'b.txt') }, noNetwork);
    expect(renamed.fromCache).toBe(true);
    expectVocabulary(renamed.vocabulary, VOCAB_TEXT());

    const text = VOCAB_TEXT();
    const contentKey = `content:${text.byteLength}:${crc32(text).toString(16).padStart(8, '0')}`;
    expect((await cache.list()).map((m) => [m.hubUrl, m.vocab])).toEqual([
      [hub.url, contentKey],
      [hub.url, 'default'],
      [hub.url, `url:${vocabUrl}`],
      [mirror, 'default'],
    ]);
    // A delete can name the hub; without it, every entry of the model goes.
    expect(await cache.deleteModel(REPO, { hubUrl: mirror })).toBe(1);
    expect(await cache.deleteModel(REPO)).toBe(3);
    expect(await cache.list()).toEqual([]);
  });

  it('a store written by format 1 is cleared on first use, then filled anew', async () => {
    const store = new MemoryStore();
    // Format 1's keys had no hub or vocabulary, and there was no format record.
    const old = { format: 1, layout: WEIGHT_LAYOUT_VERSION, id: hub.baseUrl(REPO), revision: 'main', dtype: 'fp16', bytes: 8, storedAt: 1 };
    await store.set(['manifest', hub.baseUrl(REPO), 'main', 'fp16'], old);
    await store.set(['chunk', hub.baseUrl(REPO), 'main', 'fp16', 0], new ArrayBuffer(8));
    const cache = new WeightCache(store, async () => null);
    expect(await cache.list()).toEqual([]);
    expect([...store.data.entries()]).toEqual([[JSON.stringify(['format']), { key: ['format'], value: CACHE_FORMAT_VERSION }]]);
    const run = await load(cache);
    expectWeights(run);
    expect(run.fromCache).toBe(false);
    expect((await cache.list()).map((m) => m.id)).toEqual([hub.baseUrl(REPO)]);
  });
});

describe('recheck of a cached model against the server', () => {
  const weightRequests = (): { method: string; range: [number, number] | null }[] => hub.requests.filter((r) => r.file === WEIGHTS).map((r) => ({ method: r.method, range: r.range }));

  it('asks with one byte after a cached load, warns when the file changed, and downloads it again with before-load', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    await load(cache);
    hub.resetLog();
    const cached = await load(cache);
    expect(cached.fromCache).toBe(true);
    await cached.recheck;
    expect(weightRequests()).toEqual([{ method: 'GET', range: [0, 0] }]);
    expect(cached.warnings).toEqual([]);

    hub.changeEtag(REPO, WEIGHTS);
    const stale = await load(cache);
    expect(stale.fromCache).toBe(true);
    expectWeights(stale);
    await stale.recheck;
    expect(stale.warnings).toEqual([expect.any(ModelChangedError)]);
    expect(stale.warnings[0]!.message).toMatch(/changed on the server since it was cached .*ETag.*recheck: 'before-load'/);

    hub.resetLog();
    const refreshed = await load(cache, { recheck: 'before-load' });
    expect(refreshed.fromCache).toBe(false);
    expect(refreshed.recheck).toBeNull();
    expectWeights(refreshed);
    expect(refreshed.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/changed on the server since it was cached .*downloading it again/)]);
    expect(hub.bytesSent(WEIGHTS)).toBeGreaterThan(weightBytes() * 0.9);
    // The new copy is current: no warning next time.
    const current = await load(cache);
    await current.recheck;
    expect(current.fromCache).toBe(true);
    expect(current.warnings).toEqual([]);
  });

  it('offline, or with a pinned commit, nothing fails and nothing is reported', async () => {
    const cache = new WeightCache(new MemoryStore(), async () => null);
    await load(cache);
    hub.changeEtag(REPO, WEIGHTS);
    // The server cannot be reached: the request fails, quietly.
    for (const recheck of ['background', 'before-load'] as const) {
      const unreachable = await load(cache, { recheck }, noNetwork);
      await unreachable.recheck;
      expect(unreachable.fromCache).toBe(true);
      expect(unreachable.warnings).toEqual([]);
      expectWeights(unreachable);
    }
    // The browser says it is offline: nothing is asked at all.
    vi.stubGlobal('navigator', { onLine: false });
    try {
      hub.resetLog();
      for (const recheck of ['background', 'before-load'] as const) {
        const offline = await load(cache, { recheck });
        await offline.recheck;
        expect(offline.fromCache).toBe(true);
        expect(offline.warnings).toEqual([]);
      }
      expect(hub.requests).toEqual([]);
    } finally {
      vi.unstubAllGlobals();
    }
    const pinned = 'a'.repeat(40);
    await load(cache, { revision: pinned });
    hub.changeEtag(REPO, WEIGHTS);
    hub.resetLog();
    const fromPinned = await load(cache, { revision: pinned });
    expect(fromPinned.recheck).toBeNull();
    expect(fromPinned.fromCache).toBe(true);
    expect(hub.requests).toEqual([]);
    const never = await load(cache, { recheck: 'never' });
    expect(never.recheck).toBeNull();
    expect(hub.requests).toEqual([]);
  });
});
