// The photo library in Node: ranking and export against hand-worked answers and brute force, and the
// whole indexing pipeline (hash, queue, batch-encode, caption, store) on the golden tiny CoCa (Dawn on
// lavapipe) with an in-memory store, against each photo encoded alone, OpenCLIP's golden features and
// captions, and an exact count of the images each step encoded.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AbortError, LibraryError, QuotaExceededError } from '../src/errors';
import { bestLabels, csvCell, toCsv, toJsonl, type ExportRow } from '../src/library/export';
import { byPath, isImageFile } from '../src/library/files';
import { createLibrary, MAX_PHOTO_BYTES, type Library } from '../src/library/library';
import { NodeLibraryModel } from '../src/library/model-node';
import { EmbeddingIndex, topK } from '../src/library/rank';
import { MemoryLibraryStore, type LibraryScope, type PendingPhoto } from '../src/library/store';
import type { IndexProgress, LibraryInput, LibraryModel } from '../src/library/types';
import { labelTexts } from '../src/client/labels';
import type { CaptionOptions, CaptionResult } from '../src/client/types';
import type { CocaModel } from '../src/model/coca';
import type { ClipTokenizer } from '../src/text/index';
import { golden, goldenJson, loadTiny, tokenizer, type GoldenJson } from './helpers/golden';
import { cosine, maxAbsDiff } from './helpers/gpu';
import { generatePhotos, type GeneratedPhoto } from './browser/library-fixtures';

/** golden/README.md: fp32 features within 1e-4 of OpenCLIP's. */
const GOLDEN_TOL = 1e-4;
/** A photo encoded in a batch of 8 and alone: the same kernels on the same rows, rounding apart. */
const BATCH_TOL = 1e-5;
/** Scores are float64 sums of float32 products; the reference computes the same sums in another order. */
const SCORE_TOL = 1e-6;

/** Counts the images each call encodes, so a test can tell a re-encode from none. */
class CountingModel implements LibraryModel {
  encodedImages = 0;
  encodeCalls = 0;
  captions = 0;
  constructor(private readonly inner: LibraryModel) {}
  get info(): LibraryModel['info'] {
    return this.inner.info;
  }
  encodeImage(images: readonly Blob[]): Promise<Float32Array[]> {
    this.encodeCalls++;
    this.encodedImages += images.length;
    return this.inner.encodeImage(images);
  }
  encodeText(texts: readonly string[]): Promise<Float32Array[]> {
    return this.inner.encodeText(texts);
  }
  caption(image: Blob, options?: CaptionOptions): Promise<CaptionResult> {
    this.captions++;
    return this.inner.caption(image, options);
  }
}

const blobOf = (photo: GeneratedPhoto): Blob => new Blob([photo.bytes as Uint8Array<ArrayBuffer>], { type: photo.type });
const inputsOf = (photos: readonly GeneratedPhoto[]): LibraryInput[] => photos.map((p) => ({ file: blobOf(p), path: p.path }));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

describe('ranking', () => {
  /** Deterministic values in [-1, 1) with many exact ties (rounded to tenths). */
  const values = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.round(Math.sin(i * 12.9898 + seed) * 10) / 10);
  /** Reference: a full sort, best score first, ties by index. */
  const sorted = (scores: number[], accept: (i: number) => boolean = () => true) =>
    scores
      .map((score, index) => ({ index, score }))
      .filter(({ index }) => accept(index))
      .sort((a, b) => b.score - a.score || a.index - b.index);

  it('topK equals the first k of a full sort, ties broken by index, with and without a filter', () => {
    for (const [n, k] of [
      [0, 3],
      [1, 1],
      [7, 3],
      [50, 50],
      [50, 80],
      [1000, 17],
    ] as const) {
      const scores = values(n, n + k);
      expect(topK(scores, n, k)).toEqual(sorted(scores).slice(0, k));
      const odd = (i: number): boolean => i % 2 === 1;
      expect(topK(scores, n, k, odd)).toEqual(sorted(scores, odd).slice(0, k));
    }
    expect(topK([0.5, 0.9], 2, 0)).toEqual([]);
  });

  it('EmbeddingIndex ranks by cosine through growth, replacement and deletion', () => {
    const dim = 5;
    const index = new EmbeddingIndex(dim, 2);
    const reference = new Map<string, number[]>();
    for (let i = 0; i < 40; i++) {
      const v = values(dim, i * 3.7).map((x) => x + 0.05);
      index.set(`p${i}`, v);
      reference.set(`p${i}`, v);
    }
    const replaced = values(dim, 99);
    index.set('p3', replaced);
    reference.set('p3', replaced);
    for (const id of ['p0', 'p17', 'p39']) {
      expect(index.delete(id)).toBe(true);
      reference.delete(id);
    }
    expect(index.delete('p17')).toBe(false);
    expect(index.size).toBe(37);
    // Two rows pointing the same way tie exactly: they come out by id, not by the order they were added in.
    index.set('p9', reference.get('p30')!);
    reference.set('p9', reference.get('p30')!);
    const query = [0.3, -0.2, 0.9, 0.1, -0.4];
    const want = [...reference.entries()].map(([id, v]) => ({ id, score: cosine(v, query) }));
    want.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
    const got = index.rank(query, 37);
    expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
    expect(got.findIndex((r) => r.id === 'p9')).toBe(got.findIndex((r) => r.id === 'p30') + 1); // 'p30' < 'p9'
    for (const [i, r] of got.entries()) expect(Math.abs(r.score - want[i]!.score)).toBeLessThan(SCORE_TOL);
    expect(index.rank(query, 100, (id) => id.endsWith('1')).map((r) => r.id)).toEqual(want.filter((r) => r.id.endsWith('1')).map((r) => r.id));
    expect(() => index.rank([1, 2], 3)).toThrow(RangeError);
  });
});

describe('export formats and file names', () => {
  const row: ExportRow = {
    path: 'trip/day 1, "beach".jpg',
    name: 'day 1, "beach".jpg',
    id: 'ab'.repeat(32),
    size: 1234,
    caption: 'a dog\non the beach',
    labels: [
      { label: 'dog', score: 0.5 },
      { label: 'beach', score: 0.25 },
    ],
  };

  it('CSV quotes commas, quotes and newlines (RFC 4180) and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=1+2')).toBe("'=1+2");
    expect(csvCell('@cmd')).toBe("'@cmd");
    expect(csvCell('-3.5')).toBe('-3.5');
    expect(toCsv([row])).toBe(
      'path,name,sha256,size,caption,best_labels,best_label_scores\r\n' + `"trip/day 1, ""beach"".jpg","day 1, ""beach"".jpg",${'ab'.repeat(32)},1234,"a dog\non the beach",dog; beach,0.5; 0.25\r\n`,
    );
  });

  it('JSONL is one object per line', () => {
    expect(toJsonl([row, { ...row, labels: [] }]).split('\n')).toEqual([
      JSON.stringify({ path: row.path, name: row.name, sha256: row.id, size: 1234, caption: row.caption, labels: row.labels }),
      JSON.stringify({ path: row.path, name: row.name, sha256: row.id, size: 1234, caption: row.caption, labels: [] }),
      '',
    ]);
  });

  it('best labels are the labels with the highest cosine', () => {
    const e = (x: number, y: number): Float32Array => Float32Array.from([x, y]);
    expect(bestLabels(e(1, 0), ['x', 'y', 'diagonal'], [e(1, 0), e(0, 1), e(Math.SQRT1_2, Math.SQRT1_2)], 2)).toEqual([
      { label: 'x', score: 1 },
      { label: 'diagonal', score: Math.fround(Math.SQRT1_2) },
    ]);
  });

  it('images by type, else by extension; paths in code-unit order', () => {
    expect(isImageFile('a.JPG')).toBe(true);
    expect(isImageFile('a.heic')).toBe(false);
    expect(isImageFile('notes.txt', 'text/plain')).toBe(false);
    expect(isImageFile('drawing.svg', 'image/svg+xml')).toBe(false);
    expect(isImageFile('noext', 'image/webp')).toBe(true);
    expect(byPath([{ path: 'b/1.png' }, { path: 'B/2.png' }, { path: 'a.png' }]).map((p) => p.path)).toEqual(['B/2.png', 'a.png', 'b/1.png']);
  });
});

describe('indexing with the golden tiny CoCa (Node, lavapipe)', () => {
  let model: CocaModel;
  let tok: ClipTokenizer;
  let base: NodeLibraryModel;
  let photos: GeneratedPhoto[];
  let reference: GoldenJson;
  /** Each photo encoded alone, by path. */
  const alone = new Map<string, Float32Array>();

  beforeAll(async () => {
    [model, tok, photos, reference] = await Promise.all([loadTiny('open_clip_model.safetensors', 'fp32'), tokenizer(), generatePhotos(), goldenJson()]);
    base = new NodeLibraryModel(model, tok, { id: 'test/coca-tiny', revision: 'main', dtype: 'fp32' });
    for (const photo of photos) alone.set(photo.path, (await base.encodeImage([blobOf(photo)]))[0]!);
  });

  async function library(counting: CountingModel, store = new MemoryLibraryStore(), name = 'photos'): Promise<Library> {
    return createLibrary(counting, { name, store, thumbnail: false });
  }

  it('indexes 44 photos in batches of 8 with progress; entries equal each photo encoded alone and OpenCLIP where the pixels are the golden ones', async () => {
    const counting = new CountingModel(base);
    const lib = await library(counting);
    const progress: IndexProgress[] = [];
    const result = await lib.add(inputsOf(photos), { onProgress: (p) => progress.push({ ...p }) });
    expect(result).toEqual({ added: 44, known: 0, failed: [] });
    expect(counting.encodedImages).toBe(44);
    expect(counting.encodeCalls).toBe(6); // 5 batches of 8 and one of 4
    const reading = progress.filter((p) => p.phase === 'reading');
    expect(reading.at(-1)).toMatchObject({ read: 44, toRead: 44 });
    const indexing = progress.filter((p) => p.phase === 'indexing');
    expect(indexing.map((p) => p.done)).toEqual([0, 8, 8, 16, 16, 24, 24, 32, 32, 40, 40, 44]);
    expect(indexing.every((p) => p.total === 44)).toBe(true);
    expect(indexing.at(-1)!.imagesPerSecond).toBeGreaterThan(0);
    expect(indexing.at(-1)!.secondsLeft).toBe(0);
    expect(progress.at(-1)!.phase).toBe('done');

    expect(lib.size).toBe(44);
    let worst = 0;
    for (const entry of lib.list()) worst = Math.max(worst, maxAbsDiff(entry.embedding, alone.get(entry.path)!));
    expect(worst).toBeLessThanOrEqual(BATCH_TOL);
    // chelsea/original.png and astronaut/original.png hold the golden images' pixels (PNG is lossless).
    const features = await golden('image_features');
    for (const sample of ['chelsea', 'astronaut']) {
      const i = reference.images.indexOf(`${sample}.png`);
      const entry = lib.list().find((e) => e.path === `${sample}/original.png`)!;
      expect(maxAbsDiff(entry.embedding, features.subarray(i * 48, (i + 1) * 48))).toBeLessThanOrEqual(GOLDEN_TOL);
    }
    // Ids are the SHA-256 of the bytes.
    const { createHash } = await import('node:crypto');
    expect(lib.list().find((e) => e.path === photos[5]!.path)!.id).toBe(createHash('sha256').update(photos[5]!.bytes).digest('hex'));
  });

  it('search and more-like-this rank exactly as cosine over the photos encoded alone; re-adding encodes nothing', async () => {
    const counting = new CountingModel(base);
    const lib = await library(counting);
    await lib.add(inputsOf(photos));
    const query = 'a photo of a cat';
    const [text] = await base.encodeText([query]);
    const want = photos.map((p) => ({ path: p.path, score: dot(alone.get(p.path)!, text!) })).sort((a, b) => b.score - a.score);
    const hits = await lib.search(query, { k: 44 });
    expect(hits.map((h) => h.entry.path)).toEqual(want.map((w) => w.path));
    for (const [i, hit] of hits.entries()) expect(Math.abs(hit.score - want[i]!.score)).toBeLessThanOrEqual(BATCH_TOL);
    // The golden text feature agrees: the same ranking by OpenCLIP's text embedding for the golden query.
    const goldenText = (await golden('text_features')).subarray(0, 48);
    expect(maxAbsDiff(text!, goldenText)).toBeLessThanOrEqual(GOLDEN_TOL);
    expect((await lib.search(query, { k: 5 })).map((h) => h.entry.path)).toEqual(want.slice(0, 5).map((w) => w.path));

    const seed = lib.list().find((e) => e.path === 'rocket/original.jpg')!;
    const similar = photos
      .filter((p) => p.path !== seed.path)
      .map((p) => ({ path: p.path, score: cosine(alone.get(p.path)!, alone.get(seed.path)!) }))
      .sort((a, b) => b.score - a.score);
    expect((await lib.similar(seed.id, { k: 10 })).map((h) => h.entry.path)).toEqual(similar.slice(0, 10).map((s) => s.path));

    const before = counting.encodedImages;
    const again = await lib.add([...inputsOf(photos), ...inputsOf(photos.slice(0, 3))]);
    expect(again).toEqual({ added: 0, known: 47, failed: [] });
    expect(counting.encodedImages).toBe(before);
    expect(lib.size).toBe(44);
  });

  it('captions each photo while indexing: the golden greedy captions, filterable by caption words, and exported with best labels', async () => {
    const counting = new CountingModel(base);
    const lib = await library(counting);
    // chelsea and astronaut: PNG copies of golden images (coffee's and rocket's originals are JPEGs here).
    const originals = photos.filter((p) => p.path.endsWith('/original.png'));
    expect(originals.map((p) => p.path)).toEqual(['chelsea/original.png', 'astronaut/original.png']);
    await lib.add(inputsOf(originals), { caption: true });
    expect(counting.captions).toBe(originals.length);
    for (const entry of lib.list()) {
      const want = reference.greedy.captions.find((c) => `${c.image.replace('.png', '')}/original.png` === entry.path)!;
      expect(entry.captionStrategy).toBe('greedy');
      expect(entry.caption).toBe(want.text);
    }
    const withWords = lib.list({ captionContains: 'RISKS house' });
    expect(withWords.map((e) => e.path)).toEqual(lib.list().filter((e) => /risks/.test(e.caption!) && /house/.test(e.caption!)).map((e) => e.path));
    expect(withWords.length).toBeGreaterThan(0);
    const filtered = await lib.search('a cup of coffee', { k: 10, captionContains: 'gallo' });
    expect(filtered.map((h) => h.entry.path).sort()).toEqual(lib.list({ captionContains: 'gallo' }).map((e) => e.path).sort());

    const labels = ['cat', 'cup of coffee', 'astronaut', 'rocket'];
    const labelEmbeddings = await base.encodeText(labelTexts(labels, 'a photo of a {label}'));
    const lines = (await lib.export('jsonl', { labels, topLabels: 2 })).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.path)).toEqual(lib.list().map((e) => e.path));
    for (const [i, entry] of lib.list().entries()) {
      const want = labels.map((label, j) => ({ label, score: cosine(entry.embedding, labelEmbeddings[j]!) })).sort((a, b) => b.score - a.score).slice(0, 2);
      const got = lines[i]!;
      expect({ ...got, labels: undefined }).toEqual({ path: entry.path, name: entry.name, sha256: entry.id, size: entry.size, caption: entry.caption, labels: undefined });
      const gotLabels = got.labels as { label: string; score: number }[];
      expect(gotLabels.map((l) => l.label)).toEqual(want.map((w) => w.label));
      for (const [j, l] of gotLabels.entries()) expect(Math.abs(l.score - want[j]!.score)).toBeLessThanOrEqual(BATCH_TOL);
    }
    const csv = (await lib.export('csv')).trim().split('\r\n');
    expect(csv).toHaveLength(1 + originals.length);
    expect(csv[1]).toBe([lib.list()[0]!.path, 'original.png', lib.list()[0]!.id, String(lib.list()[0]!.size), csvCell(lib.list()[0]!.caption!), '', ''].join(','));
  });

  it('pause stops taking batches until resume; nothing is encoded twice', async () => {
    const counting = new CountingModel(base);
    const lib = await library(counting);
    let pausedAt = -1;
    const phases: string[] = [];
    const run = lib.add(inputsOf(photos.slice(0, 24)), {
      onProgress: (p) => {
        phases.push(p.phase);
        if (p.phase === 'indexing' && p.done === 8 && pausedAt < 0) {
          lib.pause();
          pausedAt = counting.encodedImages;
        }
      },
    });
    await vi.waitUntil(() => phases.includes('paused'), { timeout: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lib.paused).toBe(true);
    expect(counting.encodedImages).toBe(pausedAt);
    expect(lib.pendingCount).toBe(16);
    lib.resume();
    expect(await run).toEqual({ added: 24, known: 0, failed: [] });
    expect(counting.encodedImages).toBe(24);
  });

  it('stopped mid-run, the queue survives a "reload" (a new Library over the same store) and finishes; each photo encoded once', async () => {
    const store = new MemoryLibraryStore();
    const first = new CountingModel(base);
    const lib = await library(first, store);
    const controller = new AbortController();
    const run = lib.add(inputsOf(photos.slice(0, 20)), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'indexing' && p.done === 8) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(lib.size).toBe(8);
    expect(lib.pendingCount).toBe(12);

    const second = new CountingModel(base);
    const reopened = await library(second, store);
    expect(reopened.size).toBe(8);
    expect(reopened.pendingCount).toBe(12);
    expect(await reopened.indexPending()).toEqual({ added: 12, known: 0, failed: [] });
    expect(reopened.size).toBe(20);
    expect(reopened.pendingCount).toBe(0);
    expect(first.encodedImages + second.encodedImages).toBe(20);
    expect(reopened.list().map((e) => e.path).sort()).toEqual(photos.slice(0, 20).map((p) => p.path).sort());

    // Discarding a queue stops the run and forgets the queue; the entries stay.
    reopened.pause();
    let paused = false;
    const queued = reopened.add(inputsOf(photos.slice(20, 28)), { onProgress: (p) => (paused ||= p.phase === 'paused') });
    await vi.waitUntil(() => paused, { timeout: 60_000 });
    expect(reopened.pendingCount).toBe(8);
    await reopened.discardPending();
    await expect(queued).rejects.toBeInstanceOf(AbortError);
    reopened.resume();
    expect(reopened.pendingCount).toBe(0);
    const third = await library(new CountingModel(base), store);
    expect(third.pendingCount).toBe(0);
    expect(third.size).toBe(20);
    expect(second.encodedImages).toBe(12);
  });

  it('a photo the model cannot decode is reported and dropped; the rest of its batch is indexed', async () => {
    const counting = new CountingModel(base);
    const lib = await library(counting);
    const bad: LibraryInput[] = [
      { file: new Blob(['these are my notes, not a picture\n'], { type: 'image/png' }), path: 'notes.png' },
      { file: new Blob([], { type: 'image/jpeg' }), path: 'empty.jpg' },
    ];
    // A file over MAX_PHOTO_BYTES is refused unread (its size is all that is looked at).
    const huge = Object.defineProperty(new Blob(['x'], { type: 'image/png' }), 'size', { value: MAX_PHOTO_BYTES + 1 });
    // A picked file deleted from the disk since: the browser's File can no longer be read.
    const gone = Object.defineProperty(new Blob(['x'], { type: 'image/png' }), 'arrayBuffer', { value: () => Promise.reject(new DOMException('the file was deleted', 'NotReadableError')) });
    const result = await lib.add([...inputsOf(photos.slice(0, 3)), ...bad, { file: huge, path: 'huge.png' }, { file: gone, path: 'gone.png' }, ...inputsOf(photos.slice(3, 6))]);
    expect(result.added).toBe(6);
    expect(result.failed.map((f) => f.path)).toEqual(['huge.png', 'gone.png', 'notes.png', 'empty.jpg']);
    expect(result.failed.slice(0, 2).map((f) => f.message)).toEqual(['the file is 200.0 MB; photos up to 200 MB are indexed', 'the file was deleted']);
    for (const f of result.failed) expect(f.message.length).toBeGreaterThan(10);
    expect(lib.pendingCount).toBe(0);
    expect(lib.list().map((e) => e.path).sort()).toEqual(byPath(photos.slice(0, 6)).map((p) => p.path));
  });

  it('when the store runs out of space it indexes what is queued (freeing it) and queues the rest', async () => {
    /** Holds at most 10 queued photos, like a nearly full disk. */
    class SmallStore extends MemoryLibraryStore {
      override async enqueue(scope: LibraryScope, queued: readonly PendingPhoto[]): Promise<void> {
        if ((await this.pending(scope)).length + queued.length > 20) throw new QuotaExceededError('full', 1, 0);
        return super.enqueue(scope, queued);
      }
    }
    const counting = new CountingModel(base);
    const lib = await library(counting, new SmallStore());
    expect(await lib.add(inputsOf(photos.slice(0, 40)))).toEqual({ added: 40, known: 0, failed: [] });
    expect(counting.encodedImages).toBe(40);
    // Nothing queued to make room with: the error reaches the caller, and nothing is left half-queued.
    const tiny = new (class extends MemoryLibraryStore {
      override async enqueue(): Promise<void> {
        throw new QuotaExceededError('full', 1, 0);
      }
    })();
    const full = await library(new CountingModel(base), tiny);
    await expect(full.add(inputsOf(photos.slice(0, 2)))).rejects.toBeInstanceOf(QuotaExceededError);
    expect(full.pendingCount).toBe(0);
  });

  it('delete, clear, separate libraries and models, and named errors for bad calls', async () => {
    const store = new MemoryLibraryStore();
    const lib = await library(new CountingModel(base), store);
    await lib.add(inputsOf(photos.slice(0, 4)));
    const [gone] = lib.list();
    expect(await lib.remove(gone!.id)).toBe(true);
    expect(await lib.remove(gone!.id)).toBe(false);
    expect((await lib.search('a rocket', { k: 10 })).map((h) => h.entry.id)).not.toContain(gone!.id);
    expect((await library(new CountingModel(base), store)).size).toBe(3);
    // Another library name, and the same model in fp16, each have their own (empty) index.
    expect((await library(new CountingModel(base), store, 'work')).size).toBe(0);
    const fp16 = new NodeLibraryModel(model, tok, { id: 'test/coca-tiny', revision: 'main', dtype: 'fp16' });
    expect((await createLibrary(fp16, { name: 'photos', store, thumbnail: false })).size).toBe(0);

    await expect(lib.similar('f'.repeat(64))).rejects.toBeInstanceOf(LibraryError);
    await expect(lib.search('a cat', { k: 0 })).rejects.toBeInstanceOf(LibraryError);
    await expect(lib.export('xml' as 'csv')).rejects.toBeInstanceOf(LibraryError);
    await expect(lib.add([{ file: 'not a blob', path: 'x.png' } as unknown as LibraryInput])).rejects.toBeInstanceOf(LibraryError);
    await expect(createLibrary(base, { store, batchSize: 0 })).rejects.toBeInstanceOf(LibraryError);
    await expect(createLibrary(base, { store, name: '' })).rejects.toBeInstanceOf(LibraryError);
    expect(lib.size).toBe(3);

    await lib.clear();
    expect(lib.size).toBe(0);
    expect(await lib.search('a cat')).toEqual([]);
    expect((await library(new CountingModel(base), store)).size).toBe(0);
  });
});
