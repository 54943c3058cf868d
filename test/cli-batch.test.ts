// The CLI's batch commands: the safetensors writer against files the reference writer made, the image
// listing, the progress display and the JSONL results file against hand-worked answers; then `coca caption`,
// `coca embed` and `coca search` over a folder of photos generated from ../shared/images, run as a user
// would (node src/cli/coca.mjs …) on the golden tiny CoCa, against the same commands on one image at a time,
// an independent cosine ranking, OpenCLIP's golden features, and crashes in the middle of a run.
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, ImageDecodeError, LibraryError } from '../src/errors';
import { readSafetensorsIndex } from '../src/io/safetensors';
import { encodeSafetensors } from '../src/io/safetensors-write';
import { FileSource, openFileSource } from '../src/io/source-node';
import { MemorySource } from '../src/io/source';
import { openCheckpoint } from '../src/io/checkpoint';
import { listImages } from '../src/cli/image-paths';
import { formatDuration, progressBar, progressText, ProgressReporter } from '../src/cli/progress';
import { ResultsFile } from '../src/cli/results-jsonl';
import { golden, goldenJson, SHARED, TINY } from './helpers/golden';
import { concat } from './io-fixtures';
import { cosine, maxAbsDiff } from './helpers/gpu';
import { startHubServer } from './helpers/hub-server';
import { generatePhotos, writePhotos } from './browser/library-fixtures';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'coca-cli-batch-'));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('safetensors writer', () => {
  it('writes the golden preprocess files byte for byte as the reference safetensors writer did', async () => {
    for (const name of ['preprocess-224', 'modes-224']) {
      const path = `${SHARED}golden/preprocess/${name}.safetensors`;
      const source = await openFileSource(path);
      try {
        const checkpoint = await openCheckpoint(source);
        const info = checkpoint.tensors.get('pixel_values')!;
        const chunks = encodeSafetensors([{ name: 'pixel_values', shape: info.shape, data: await checkpoint.readF32('pixel_values') }]);
        expect(Buffer.from(concat(chunks)).equals(readFileSync(path)), name).toBe(true);
      } finally {
        await source.close();
      }
    }
  });

  it('puts __metadata__ first, sorts tensors by name, aligns the data to 8 bytes, and reads back through our reader', async () => {
    const a = Float32Array.from([1, -2.5, 3e-8, 4, 5, 6]);
    const b = Float32Array.from([0.25]);
    const empty = new Float32Array(0);
    const metadata = { paths: JSON.stringify(['x/ä.png', 'y "quoted".jpg']), model: 'm' };
    const bytes = concat(encodeSafetensors([{ name: 'zeta', shape: [2, 3], data: a }, { name: 'alpha', shape: [1], data: b }, { name: 'none', shape: [0, 4], data: empty }], metadata));
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"paths":"[\\"x/ä.png\\",\\"y \\\\\\"quoted\\\\\\".jpg\\"]","model":"m"},' +
        '"alpha":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"none":{"dtype":"F32","shape":[0,4],"data_offsets":[4,4]},' +
        '"zeta":{"dtype":"F32","shape":[2,3],"data_offsets":[4,28]}}',
    );
    const { tensors, metadata: read } = await readSafetensorsIndex(new MemorySource(bytes, 'written.safetensors'));
    expect(read).toEqual(metadata);
    expect(JSON.parse(read.paths!)).toEqual(['x/ä.png', 'y "quoted".jpg']);
    const checkpoint = await openCheckpoint(new MemorySource(bytes, 'written.safetensors'));
    expect(await checkpoint.readF32('zeta')).toEqual(a);
    expect(await checkpoint.readF32('alpha')).toEqual(b);
    expect(tensors.get('none')!.shape).toEqual([0, 4]);
  });

  it('refuses a shape that does not hold the data, and a name given twice', () => {
    const data = new Float32Array(6);
    expect(() => encodeSafetensors([{ name: 't', shape: [4, 2], data }])).toThrow(CheckpointFormatError);
    expect(() => encodeSafetensors([{ name: 't', shape: [6], data }, { name: 't', shape: [2, 3], data }])).toThrow(/twice/);
    expect(() => encodeSafetensors([{ name: '__metadata__', shape: [6], data }])).toThrow(/reserved/);
  });
});

describe('image lists', () => {
  it('walks folders recursively in path order, takes named files as given, follows links once and ends link loops', async () => {
    const root = join(scratch, 'walk');
    mkdirSync(join(root, 'b', 'deeper'), { recursive: true });
    mkdirSync(join(root, 'a'), { recursive: true });
    for (const file of ['b/2.png', 'b/10.JPG', 'b/deeper/x.gif', 'a/z.jpeg', 'a/notes.txt', 'a/photo.webp', 'top.png', 'b-c.png']) writeFileSync(join(root, file), 'x');
    symlinkSync('..', join(root, 'b', 'deeper', 'loop')); // back to the root: walked once
    symlinkSync('../top.png', join(root, 'a', 'same-as-top.png')); // the same real file as top.png
    symlinkSync('missing.png', join(root, 'a', 'broken.png')); // kept, to be reported as missing
    mkdirSync(join(root, 'a', 'folder.png')); // a folder with an image's name is a folder
    const extra = join(scratch, 'extra.bin');
    writeFileSync(extra, 'x');
    const { images, unreadable } = await listImages([extra, join(root, 'top.png'), `${root}/./`, join(root, 'b')]);
    expect(unreadable).toEqual([]);
    // Named files first, as given; then the folder by path (UTF-16 order: '-' < '/' < digits < letters).
    expect(images.map((p) => p.replace(`${scratch}/`, ''))).toEqual([
      'extra.bin',
      'walk/top.png',
      'walk/a/broken.png',
      'walk/a/photo.webp',
      'walk/a/z.jpeg',
      'walk/b-c.png',
      'walk/b/10.JPG',
      'walk/b/2.png',
      'walk/b/deeper/x.gif',
    ]);
    await expect(listImages([join(root, 'nothing-here')])).rejects.toThrow(ImageDecodeError);
    await expect(listImages([join(root, 'nothing-here')])).rejects.toThrow(/nothing-here: no such file or folder/);
  });
});

describe('progress', () => {
  it('formats counts, rate and time left', () => {
    expect(formatDuration(9.4)).toBe('0:09');
    expect(formatDuration(754)).toBe('12:34');
    expect(formatDuration(3723)).toBe('1:02:03');
    expect(progressText({ done: 0, total: 40, elapsedMs: 500 })).toBe('0/40 images');
    // 12 images in 4 s: 3 a second, 28 left take 9.33 s.
    expect(progressText({ done: 12, total: 40, elapsedMs: 4000 })).toBe('12/40 images, 3.0 images/s, 0:09 left');
    // 60 columns: 37 of text, 4 of brackets and spaces and the last column left free: 19 cells, 12/40 of them 5.
    expect(progressBar({ done: 12, total: 40, elapsedMs: 4000 }, 60)).toBe(`[${'#'.repeat(5)}${'-'.repeat(14)}] 12/40 images, 3.0 images/s, 0:09 left`);
    expect(progressBar({ done: 40, total: 40, elapsedMs: 4000 }, 200)).toBe(`[${'#'.repeat(40)}] 40/40 images, 10.0 images/s, 0:00 left`);
  });

  it('redraws a bar in place on a terminal, and writes throttled plain lines elsewhere', () => {
    let now = 0;
    const clock = (): number => now;
    const tty = { isTTY: true, columns: 66, text: '', write(s: string) { this.text += s; } };
    const bar = new ProgressReporter(tty, 'coca', 4, clock);
    now = 1000;
    bar.advance(1);
    now = 1050; // within 100 ms: not redrawn
    bar.advance(1);
    now = 2000;
    bar.message('coca: ImageDecodeError: x.png: broken');
    bar.advance(2); // the last is always drawn
    expect(tty.text).toBe(
      // 66 columns less 'coca ': 22 cells, a quarter of them 5.
      `\r\x1b[Kcoca [${'#'.repeat(5)}${'-'.repeat(17)}] 1/4 images, 1.0 images/s, 0:03 left` +
        '\r\x1b[Kcoca: ImageDecodeError: x.png: broken\n' +
        `\r\x1b[Kcoca [${'#'.repeat(22)}] 4/4 images, 2.0 images/s, 0:00 left`,
    );
    const log = { text: '', write(s: string) { this.text += s; } };
    now = 0;
    const lines = new ProgressReporter(log, 'coca', 3, clock);
    for (const t of [500, 900, 1600]) {
      now = t;
      lines.advance(1);
    }
    expect(log.text).toBe('coca: 1/3 images, 2.0 images/s, 0:01 left\ncoca: 3/3 images, 1.9 images/s, 0:00 left\n');
  });
});

describe('JSONL results file', () => {
  const line = (path: string): string => `${JSON.stringify({ path, text: 'a cat', tokens: [49406, 49407], ms: 1 })}\n`;

  it('reads the paths it holds, cuts an unfinished last line off, and appends after the last whole line', async () => {
    const file = join(scratch, 'resume.jsonl');
    const whole = line('a.png') + line('dir/b é.png');
    writeFileSync(file, `${whole}{"path":"c.png","te`);
    const results = await ResultsFile.open(file, 'caption');
    expect([...results.done]).toEqual(['a.png', 'dir/b é.png']);
    expect(results.cutBytes).toBe('{"path":"c.png","te'.length);
    await results.append({ path: 'c.png', text: 'x', tokens: [], ms: 2 });
    await results.close();
    expect(readFileSync(file, 'utf8')).toBe(`${whole}{"path":"c.png","text":"x","tokens":[],"ms":2}\n`);
    // A new file is created empty.
    const fresh = await ResultsFile.open(join(scratch, 'new.jsonl'), 'embed');
    expect([fresh.done.size, fresh.cutBytes]).toEqual([0, 0]);
    await fresh.close();
  });

  it('refuses a file with a damaged line or another command’s results, and leaves it as it was', async () => {
    const file = join(scratch, 'damaged.jsonl');
    const content = `${line('a.png')}not json\n${line('b.png')}`;
    writeFileSync(file, content);
    await expect(ResultsFile.open(file, 'caption')).rejects.toThrow(LibraryError);
    await expect(ResultsFile.open(file, 'caption')).rejects.toThrow(/damaged\.jsonl, line 2: not a JSON object/);
    expect(readFileSync(file, 'utf8')).toBe(content);
    const captions = join(scratch, 'captions.jsonl');
    writeFileSync(captions, line('a.png'));
    await expect(ResultsFile.open(captions, 'embed')).rejects.toThrow(/line 1: not a result of coca embed \(it needs "path" and "embedding"\)/);
  });
});

// ------------------------------------------------------------------------------------------ the commands

const run = promisify(execFile);
const CLI = new URL('../src/cli/coca.mjs', import.meta.url).pathname;
const VOCAB = `${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`;
/** The tiny model with fp32 weights, so that results compare with OpenCLIP's golden ones. */
const MODEL = ['--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32'];
/** What the engine names the golden folder's model (and what an index records). */
const TINY_ID = `file:${resolve(TINY)}/open_clip_model.safetensors`;

/** golden/README.md: fp32 image features within 1e-4 of OpenCLIP's. */
const GOLDEN_TOL = 1e-4;
/** An image encoded in a batch of 8 and alone: the same kernels on the same rows, rounding apart. */
const BATCH_TOL = 1e-5;
/** Scores are float64 sums of float32 products here and in the CLI, summed in other orders. */
const SCORE_TOL = 1e-6;

interface Finished {
  code: number;
  stdout: string;
  /** stderr without Dawn's own start-up warnings. */
  stderr: string;
}

const ours = (stderr: string): string =>
  stderr
    .split('\n')
    .filter((line) => !line.startsWith('Warning: '))
    .join('\n');

/** Runs the CLI to the end, whatever its exit status. */
async function coca(...args: string[]): Promise<Finished> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 2 ** 20 });
    return { code: 0, stdout, stderr: ours(stderr) };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: ours(e.stderr) };
  }
}

interface CaptionLine {
  path: string;
  text: string;
  tokens: number[];
  ms: number;
}

const jsonLines = <T>(file: string): T[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);

/** The index file as our reader sees it: metadata and [N, E] rows. */
async function readIndex(file: string): Promise<{ metadata: Record<string, string>; shape: number[]; rows: Float32Array[] }> {
  const source = await FileSource.open(file);
  try {
    const { metadata, tensors } = await readSafetensorsIndex(source);
    const info = tensors.get('embeddings')!;
    const data = await (await openCheckpoint(source)).readF32('embeddings');
    const [n, e] = info.shape as [number, number];
    return { metadata, shape: info.shape, rows: Array.from({ length: n }, (_, i) => data.subarray(i * e, (i + 1) * e)) };
  } finally {
    await source.close();
  }
}

/** Starts the CLI and stops it (signal) once `ready` holds; resolves with how it ended. */
function interrupted(args: string[], signal: NodeJS.Signals, ready: (stderr: string) => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    const poll = setInterval(() => {
      if (!sent && ready(stderr)) {
        sent = true;
        child.kill(signal);
      }
    }, 10);
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('exit', (code, how) => {
      clearInterval(poll);
      done({ code, signal: how, stderr: ours(stderr) });
    });
  });
}

describe('coca caption, embed and search over folders', () => {
  let photos: string;
  /** A folder of 6 of the photos for the caption tests, 3 of them in a sub-folder, PNG and JPEG. */
  let few: string;
  /** Every photo path under `photos`, in the order the CLI takes them (UTF-16 order of the paths). */
  let allPaths: string[];
  let fewPaths: string[];
  /** caption --greedy of each of the few photos, from `coca caption FILE` run alone. */
  const alone = new Map<string, { text: string; tokens: number[] }>();
  let index: string;

  beforeAll(async () => {
    photos = join(scratch, 'photos');
    const generated = await generatePhotos();
    writePhotos(photos, generated);
    few = join(scratch, 'few');
    mkdirSync(join(few, 'more'), { recursive: true });
    const picks = ['chelsea/original.png', 'coffee/flip-h.png', 'astronaut/gray.jpg', 'rocket/crop-corner.jpg', 'chelsea/rotate-90.png', 'coffee/swap-rb.png'];
    picks.forEach((p, i) => copyFileSync(join(photos, p), join(few, i < 3 ? '' : 'more', p.replace('/', '-'))));
    allPaths = generated.map((p) => join(photos, p.path)).sort();
    fewPaths = picks.map((p, i) => join(few, i < 3 ? '' : 'more', p.replace('/', '-'))).sort();
    index = join(scratch, 'photos.safetensors');
  });

  it('caption: a folder to JSONL equals each image captioned alone, with plain progress lines, and a second run adds nothing', async () => {
    const out = join(scratch, 'few-captions.jsonl');
    const first = await coca('caption', ...MODEL, '--greedy', '--out', out, few);
    expect([first.code, first.stdout]).toEqual([0, '']);
    const lines = jsonLines<CaptionLine>(out);
    expect(lines.map((l) => l.path)).toEqual(fewPaths);
    for (const path of fewPaths) {
      const result = await coca('caption', ...MODEL, '--greedy', '--json', path);
      const [one] = JSON.parse(result.stdout) as { image: string; tokens: number[]; caption: string }[];
      alone.set(path, { text: one!.caption, tokens: one!.tokens });
    }
    expect(lines.map(({ path, text, tokens }) => ({ path, text, tokens }))).toEqual(fewPaths.map((path) => ({ path, ...alone.get(path)! })));
    expect(lines.every((l) => l.ms > 0)).toBe(true);
    // Not a terminal: plain lines, no carriage returns or escape codes; the last progress line is 11/11.
    const progress = first.stderr.split('\n').filter((l) => l !== '');
    expect(first.stderr).not.toMatch(/[\r\x1b]/);
    for (const line of progress.slice(0, -1)) expect(line).toMatch(/^coca: \d+\/6 images(, \d+\.\d images\/s, \d+:\d\d left)?$/);
    expect(progress.at(-2)).toMatch(/^coca: 6\/6 images, /);
    expect(progress.at(-1)).toMatch(/^coca: 6 images: 6 captioned \(\d+\.\d s, \d+\.\d images\/s\)$/);

    // Again: nothing to encode, so the model is not even loaded, and the file is untouched.
    const before = { bytes: readFileSync(out), mtime: statSync(out).mtimeMs };
    const second = await coca('caption', ...MODEL, '--greedy', '--out', out, few);
    expect([second.code, second.stdout, second.stderr]).toEqual([0, '', `coca: nothing to do: all 6 images are already in ${out}\n`]);
    expect(readFileSync(out).equals(before.bytes)).toBe(true);
    expect(statSync(out).mtimeMs).toBe(before.mtime);
  });

  it('caption --out resumes a killed run, and a last line cut off mid-write', async () => {
    const want = fewPaths.map((path) => ({ path, ...alone.get(path)! }));
    const asWritten = (file: string) => jsonLines<CaptionLine>(file).map(({ path, text, tokens }) => ({ path, text, tokens }));

    const killed = join(scratch, 'killed.jsonl');
    const args = ['caption', ...MODEL, '--greedy', '--batch', '2', '--out', killed, few];
    const lineCount = (): number => (existsSync(killed) ? readFileSync(killed, 'utf8').split('\n').length - 1 : 0);
    const stopped = await interrupted(args, 'SIGKILL', () => lineCount() >= 2);
    expect(stopped.signal).toBe('SIGKILL');
    const kept = lineCount();
    expect(kept).toBeGreaterThanOrEqual(2);
    expect(kept).toBeLessThan(6);
    const resumed = await coca(...args);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`6 images: ${6 - kept} captioned, ${kept} already in ${killed} (`);
    expect(asWritten(killed)).toEqual(want);

    // A crash mid-line: three whole lines and part of the fourth.
    const cut = join(scratch, 'cut.jsonl');
    const whole = readFileSync(killed, 'utf8').split('\n');
    const head = `${whole.slice(0, 3).join('\n')}\n`;
    writeFileSync(cut, head + whole[3]!.slice(0, 30));
    const again = await coca('caption', ...MODEL, '--greedy', '--out', cut, few);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`coca: ${cut}: cut off an unfinished last line (30 bytes); its image is done again`);
    expect(again.stderr).toContain(`6 images: 3 captioned, 3 already in ${cut} (`);
    expect(readFileSync(cut, 'utf8').startsWith(head)).toBe(true);
    expect(asWritten(cut)).toEqual(want);
  });

  it('embed --out FILE.safetensors: our reader reads back every path, the model, and embeddings equal to embed --json and OpenCLIP’s', async () => {
    const made = await coca('embed', ...MODEL, '--out', index, photos);
    expect([made.code, made.stdout]).toEqual([0, '']);
    expect(made.stderr).toMatch(/coca: 44 images: 44 embedded \(/);
    const { metadata, shape, rows } = await readIndex(index);
    expect(shape).toEqual([44, 48]);
    expect(JSON.parse(metadata.paths!)).toEqual(allPaths);
    expect({ format: metadata.format, model: metadata.model, dtype: metadata.dtype }).toEqual({ format: 'coca-webgpu/embeddings-v1', model: TINY_ID, dtype: 'fp32' });

    // The same folder printed as JSON: the same images in the same batches, so the same numbers.
    const printed = JSON.parse((await coca('embed', ...MODEL, '--json', photos)).stdout) as { images: string[]; image_features: number[][] };
    expect(printed.images).toEqual(allPaths);
    rows.forEach((row, i) => expect(maxAbsDiff(row, printed.image_features[i]!), allPaths[i]).toBe(0));
    // Photos that are the sample files' own pixels (lossless PNG) have OpenCLIP's features.
    const want = await golden('image_features');
    const names = (await goldenJson()).images;
    for (const sample of ['chelsea', 'astronaut']) {
      const g = names.indexOf(`${sample}.png`);
      const row = rows[allPaths.indexOf(join(photos, sample, 'original.png'))]!;
      expect(maxAbsDiff(row, want.subarray(g * 48, (g + 1) * 48)), sample).toBeLessThanOrEqual(GOLDEN_TOL);
    }

    // --out FILE.jsonl holds the same rows.
    const jsonl = join(scratch, 'embeddings.jsonl');
    expect((await coca('embed', ...MODEL, '--quiet', '--out', jsonl, photos)).code).toBe(0);
    const lines = jsonLines<{ path: string; embedding: number[] }>(jsonl);
    expect(lines.map((l) => l.path)).toEqual(allPaths);
    lines.forEach((line, i) => expect(maxAbsDiff(line.embedding, rows[i]!), line.path).toBe(0));
  });

  it('search: the top k equal the cosine ranking of the stored embeddings, and another model’s index is refused', async () => {
    const query = 'a photo of a cat';
    const text = (JSON.parse((await coca('embed', ...MODEL, '--text', query)).stdout) as { text_features: number[][] }).text_features[0]!;
    const { rows } = await readIndex(index);
    const ranked = rows
      .map((row, i) => ({ path: allPaths[i]!, score: cosine(row, text), i }))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, 5);
    const hits = JSON.parse((await coca('search', ...MODEL, '--index', index, '-k', '5', '--json', query)).stdout) as { path: string; score: number }[];
    expect(hits.map((h) => h.path)).toEqual(ranked.map((r) => r.path));
    hits.forEach((hit, i) => expect(Math.abs(hit.score - ranked[i]!.score)).toBeLessThanOrEqual(SCORE_TOL));
    const lines = (await coca('search', ...MODEL, '--index', index, query)).stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(10);
    expect(lines.slice(0, 5).map((l) => l.split('\t')[1])).toEqual(ranked.map((r) => r.path));
    lines.slice(0, 5).forEach((line, i) => expect(Math.abs(Number(line.split('\t')[0]) - ranked[i]!.score)).toBeLessThanOrEqual(5e-5));

    // The same weights under another name (a hub repo id) are another model: refused, the index untouched.
    const file = (name: string): Uint8Array => new Uint8Array(readFileSync(`${TINY}${name}`));
    const hub = await startHubServer({ 'test/other': { 'open_clip_config.json': file('open_clip_config.json'), 'open_clip_model.safetensors': file('open_clip_model.safetensors') } });
    try {
      const other = ['--model', 'test/other', '--hub-url', hub.url, '--vocab', VOCAB, '--dtype', 'fp32'];
      const refused = await coca('search', ...other, '--index', index, query);
      expect([refused.code, refused.stdout]).toEqual([1, '']);
      expect(refused.stderr).toBe(`coca: LibraryError: ${index} holds embeddings of model ${TINY_ID}, not of test/other: use --model ${TINY_ID}, or another index file\n`);
      const bytes = readFileSync(index);
      const extra = join(scratch, 'extra.png');
      copyFileSync(join(photos, 'coffee', 'flip-h.png'), extra);
      const mixed = await coca('embed', ...other, '--out', index, extra);
      expect(mixed.code).toBe(1);
      expect(mixed.stderr).toMatch(/^coca: LibraryError: .* holds embeddings of model file:/m);
      expect(readFileSync(index).equals(bytes)).toBe(true);
    } finally {
      await hub.close();
    }
    // A safetensors file that is no index is refused before any model is loaded.
    const notIndex = await coca('search', '--model', join(scratch, 'no-model'), '--index', `${SHARED}golden/preprocess/modes-224.safetensors`, query);
    expect([notIndex.code, notIndex.stderr]).toEqual([1, expect.stringMatching(/^coca: LibraryError: .*modes-224\.safetensors is not an index made by coca embed --out/)]);
  });

  it('reports each unreadable image, goes on with the others (a spoilt batch image by image), and exits with 1', async () => {
    const mixed = join(scratch, 'mixed');
    mkdirSync(mixed);
    const good = ['coffee/original.jpg', 'rocket/gray.png', 'astronaut/shift.jpg'].map((p) => join(photos, p));
    good.forEach((p, i) => copyFileSync(p, join(mixed, `${i}-good${p.slice(-4)}`)));
    writeFileSync(join(mixed, '1-broken.png'), 'not a png at all');
    writeFileSync(join(mixed, '2-cut.png'), readFileSync(good[1]!).subarray(0, 300));
    const out = join(scratch, 'mixed.jsonl');
    const result = await coca('embed', ...MODEL, '--out', out, mixed);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^coca: ImageDecodeError: .*mixed\/1-broken\.png: not an image/m);
    expect(result.stderr).toMatch(/^coca: ImageDecodeError: .*mixed\/2-cut\.png: /m);
    expect(result.stderr).toMatch(/coca: 5 images: 3 embedded, 2 failed \(/);
    const lines = jsonLines<{ path: string; embedding: number[] }>(out);
    expect(lines.map((l) => l.path)).toEqual(['0-good.jpg', '1-good.png', '2-good.jpg'].map((n) => join(mixed, n)));
    const { rows } = await readIndex(index);
    lines.forEach((line, i) => expect(maxAbsDiff(line.embedding, rows[allPaths.indexOf(good[i]!)]!), line.path).toBeLessThanOrEqual(BATCH_TOL));
  });

  it('Ctrl-C stops between batches and writes the index; the same command continues it', async () => {
    const file = join(scratch, 'stopped.safetensors');
    const args = ['embed', ...MODEL, '--batch', '1', '--out', file, photos];
    const stopped = await interrupted(args, 'SIGINT', (stderr) => /coca: \d+\/44 images/.test(stderr));
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('coca: stopping after this image, keeping what is done');
    const partial = await readIndex(file);
    const kept = partial.shape[0]!;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(44);
    expect(stopped.stderr).toContain(`${44 - kept} left for the next run`);
    const resumed = await coca(...args);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`44 images: ${44 - kept} embedded, ${kept} already in ${file}`);
    const { metadata, rows } = await readIndex(file);
    const paths = JSON.parse(metadata.paths!) as string[];
    expect([...paths].sort()).toEqual(allPaths);
    const reference = (await readIndex(index)).rows;
    paths.forEach((path, i) => expect(maxAbsDiff(rows[i]!, reference[allPaths.indexOf(path)]!), path).toBeLessThanOrEqual(BATCH_TOL));
  });

  it('draws a progress bar in place when stderr is a terminal', async () => {
    // util-linux's script(1) runs the command on a pseudo-terminal and copies what it writes.
    const command = [process.execPath, CLI, 'embed', ...MODEL, '--out', join(scratch, 'tty.jsonl'), few].map((a) => `'${a}'`).join(' ');
    const { stdout } = await run('script', ['-qec', command, '/dev/null'], { env: { ...process.env, COLUMNS: '100' } });
    expect(stdout).toMatch(/\r\x1b\[Kcoca \[#+\] 6\/6 images, \d+\.\d images\/s, 0:00 left/);
    expect(stdout).toMatch(/\r\x1b\[Kcoca: 6 images: 6 embedded \(/);
  });

  it('usage errors exit with 2 before anything is loaded; a missing PATH with 1, leaving no file', async () => {
    const usage: [string[], RegExp][] = [
      [['caption', ...MODEL, '--out', 'x.txt', few], /^coca: OptionsError: --out must name a \.jsonl file \(got "x\.txt"\)/],
      [['embed', ...MODEL, '--out', 'x.csv', few], /^coca: OptionsError: --out must name a \.jsonl or \.safetensors file/],
      [['embed', ...MODEL, '--json', '--out', 'x.jsonl', few], /^coca: OptionsError: --json prints results on stdout and --out writes them to a file/],
      [['embed', ...MODEL, '--out', 'x.jsonl', '--text', 'a cat'], /^coca: OptionsError: --out stores image embeddings/],
      [['embed', ...MODEL, '--batch', '0', few], /^coca: OptionsError: --batch must be an integer from 1 to 64 \(got 0\)/],
      [['search', ...MODEL, 'a cat'], /^coca: OptionsError: search needs --index FILE\.safetensors/],
      [['search', ...MODEL, '--index', index, 'a', 'cat'], /^coca: OptionsError: search takes one QUERY text \(got 2\)/],
      [['search', ...MODEL, '--index', index, '-k', '0', 'a cat'], /^coca: OptionsError: -k must be a positive integer/],
    ];
    for (const [args, message] of usage) {
      const failure = await coca(...args);
      expect([failure.code, failure.stdout], args.join(' ')).toEqual([2, '']);
      expect(failure.stderr).toMatch(message);
    }
    const out = join(scratch, 'never.jsonl');
    const missing = await coca('caption', ...MODEL, '--out', out, join(scratch, 'no-such-folder'));
    expect([missing.code, missing.stderr]).toEqual([1, `coca: ImageDecodeError: ${join(scratch, 'no-such-folder')}: no such file or folder\n`]);
    expect(existsSync(out)).toBe(false);
  });
});
