// The CLI's batch commands: the safetensors writer against files the reference writer made, the image
// listing, the progress display and the JSONL results file against hand-worked answers; then `coca caption`,
// `coca embed` and `coca search` over a folder of photos generated from ../shared/images, run as a user
// would (node src/cli/coca.mjs …) on the golden tiny CoCa, against the same commands on one image at a time,
// an independent cosine ranking, OpenCLIP's golden features, and crashes in the middle of a run.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { SHARED } from './helpers/golden';

const concatChunks = (chunks: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
};

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
        expect(Buffer.from(concatChunks(chunks)).equals(readFileSync(path)), name).toBe(true);
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
    const bytes = concatChunks(encodeSafetensors([{ name: 'zeta', shape: [2, 3], data: a }, { name: 'alpha', shape: [1], data: b }, { name: 'none', shape: [0, 4], data: empty }], metadata));
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
