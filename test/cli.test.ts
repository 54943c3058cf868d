// The CLI contract, run as a user would (node src/cli/coca.mjs …) on the golden folder, and on the same
// model served by a local stand-in for the hub: outputs against OpenCLIP's golden values and against the
// library's engine; usage errors with exit status 2, other failures 1, never a raw TypeError or ENOENT.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbs, maxAbsDiff } from './helpers/gpu';
import { golden, goldenJson, SHARED, TINY } from './helpers/golden';
import { startHubServer, type HubServer } from './helpers/hub-server';
import { CocaEngine } from '../src/engine/engine';
import { nodeHost } from '../src/engine/host-node';
import { openCheckpoint } from '../src/io/checkpoint';
import { openFileSource } from '../src/io/source-node';
import { decodeImageBytes } from '../src/image/decode-node';
import { orientUpright } from '../src/image/exif';
import { preprocess } from '../src/image/index';
import { pngChunk, pngFile } from './helpers/image-files';
import type { CaptionSettings } from '../src/options';

const run = promisify(execFile);
const CLI = new URL('../src/cli/coca.mjs', import.meta.url).pathname;
const VOCAB = `${SHARED}vocab/bpe_simple_vocab_16e6.txt.gz`;
const image = (name: string): string => `${SHARED}images/${name}`;

// golden/README.md tolerances (fp32 weights): features 1e-4, logits 1e-3 relative to max(1, max|ref|).
const ACTIVATION_TOL = 1e-4;
const LOGIT_TOL = 1e-3;
// Preprocessing: one 8-bit step after normalization (golden/README.md).
const PIXEL_TOL = 1 / 255 / 0.26130258;

async function coca(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 * 2 ** 20 });
  return JSON.parse(stdout);
}

/** A run that must fail: its exit status, stdout and stderr. */
async function failing(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args]).then(
    () => {
      throw new Error(`coca ${args.join(' ')} succeeded`);
    },
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

const REPO = 'test/coca-tiny';
let hub: HubServer;

beforeAll(async () => {
  const file = (name: string): Uint8Array => new Uint8Array(readFileSync(`${TINY}${name}`));
  hub = await startHubServer({
    [REPO]: { 'open_clip_config.json': file('open_clip_config.json'), 'open_clip_model.safetensors': file('open_clip_model.safetensors'), 'bpe_simple_vocab_16e6.txt.gz': new Uint8Array(readFileSync(VOCAB)) },
  });
});

afterAll(async () => {
  await hub?.close();
});

describe('npx coca', () => {
  it('tokenize prints the ids without padding, as OpenCLIP tokenizes them', async () => {
    const cases = (JSON.parse(await readFile(`${SHARED}golden/tokenizer.json`, 'utf8')) as { cases: { text: string; ids: number[] }[] }).cases.slice(0, 6);
    const out = await coca('tokenize', '--vocab', VOCAB, '--json', ...cases.map((c) => c.text));
    expect(out).toEqual(cases.map((c) => c.ids));
  });

  it('preprocess prints [3, N, N] matching OpenCLIP’s transform', async () => {
    const out = (await coca('preprocess', '--size', '224', image('chelsea.png'), '--json')) as { shape: number[]; data: number[] };
    expect(out.shape).toEqual([3, 224, 224]);
    const refFile = await openFileSource(`${SHARED}golden/preprocess/preprocess-224.safetensors`);
    const want = (await (await openCheckpoint(refFile)).readF32('pixel_values')).subarray(0, 3 * 224 * 224); // chelsea.png is first
    await refFile.close();
    expect(maxAbsDiff(out.data, want)).toBeLessThanOrEqual(PIXEL_TOL);
  });

  it('preprocess ignores EXIF orientation by default, as PIL does, and turns the image upright with --orientation exif', async () => {
    // A 6×4 RGB PNG whose eXIf chunk says "rotate 90° clockwise to display" (orientation 6).
    const exif = Uint8Array.of(0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0);
    const spec = { width: 6, height: 4, bitDepth: 8, colorType: 2, samples: (x: number, y: number) => [40 * x, 60 * y, 7 * (x + y)] };
    const dir = mkdtempSync(join(tmpdir(), 'coca-orientation-'));
    const file = join(dir, 'rotated.png');
    writeFileSync(file, pngFile({ ...spec, extra: [pngChunk('eXIf', exif)] }));
    try {
      const stored = await decodeImageBytes(pngFile(spec));
      const asStored = (await coca('preprocess', '--size', '4', file)) as { data: number[] };
      const upright = (await coca('preprocess', '--size', '4', '--orientation', 'exif', file)) as { data: number[] };
      expect(asStored.data).toEqual(Array.from(preprocess(stored, { size: 4 })));
      expect(upright.data).toEqual(Array.from(preprocess(orientUpright({ ...stored, orientation: 6 }), { size: 4 })));
      expect(upright.data).not.toEqual(asStored.data);
      const bad = await failing('preprocess', '--size', '4', '--orientation', 'sideways', file);
      expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^coca: OptionsError: --orientation/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('embed prints normalized features, similarity logits and probs matching the golden values', async () => {
    const info = await goldenJson();
    const args = ['embed', '--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32', '--json'];
    for (const name of info.images) args.push('--image', image(name));
    for (const text of info.texts) args.push('--text', text);
    const out = (await coca(...args)) as { image_features: number[][]; text_features: number[][]; similarity_logits: number[][]; probs: number[][] };
    const check = async (got: number[][], name: string, tol: number): Promise<void> => {
      const want = await golden(name);
      expect(maxAbsDiff(got.flat(), want), name).toBeLessThanOrEqual(tol * Math.max(1, maxAbs(want)));
    };
    await check(out.image_features, 'image_features', ACTIVATION_TOL);
    await check(out.text_features, 'text_features', ACTIVATION_TOL);
    await check(out.similarity_logits, 'similarity_logits', LOGIT_TOL);
    await check(out.probs, 'similarity_probs', ACTIVATION_TOL);
  });

  it('caption --greedy prints OpenCLIP’s greedy captions', async () => {
    const info = await goldenJson();
    const files = info.greedy.captions.map((c) => image(c.image));
    const out = (await coca('caption', '--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32', '--greedy', ...files, '--json')) as { image: string; tokens: number[]; caption: string }[];
    expect(out).toEqual(info.greedy.captions.map((c, i) => ({ image: files[i], tokens: c.tokens, caption: c.text })));
  });

  it('caption --strategy beam-openclip --dtype fp32 equals the library’s beam search (the engine, in process)', async () => {
    const info = await goldenJson();
    const files = info.greedy.captions.map((c) => image(c.image));
    const out = (await coca('caption', '--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32', '--strategy', 'beam-openclip', '--json', ...files)) as { image: string; tokens: number[]; caption: string }[];
    // The default strategy is OpenCLIP's generate(), i.e. the same beam search.
    const byDefault = (await coca('caption', '--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32', '--json', files[0]!)) as { tokens: number[] }[];
    const engine = await CocaEngine.load(nodeHost(), { model: TINY, vocab: VOCAB, dtype: 'fp32' });
    try {
      for (const [i, file] of files.entries()) {
        const want = await engine.caption(file, { strategy: 'beam-openclip' });
        expect(out[i]).toEqual({ image: file, tokens: want.tokens, caption: want.text });
      }
      expect(byDefault[0]!.tokens).toEqual(out[0]!.tokens);
      // Every other strategy and parameter reaches the decoder under its kebab-case name.
      const cases: [string[], CaptionSettings][] = [
        [['--strategy', 'beam', '--num-beams', '2', '--length-penalty', '0.5', '--max-length', '12'], { strategy: 'beam', numBeams: 2, lengthPenalty: 0.5, maxLength: 12 }],
        [['--strategy', 'beam-openclip', '--num-beams', '4', '--num-beam-groups', '2', '--min-length', '8', '--repetition-penalty', '1.5'], { strategy: 'beam-openclip', numBeams: 4, numBeamGroups: 2, minLength: 8, repetitionPenalty: 1.5 }],
        [['--strategy', 'sample', '--top-k', '10', '--top-p', '0.9', '--temperature', '0.7', '--seed', '5'], { strategy: 'sample', topK: 10, topP: 0.9, temperature: 0.7, seed: 5 }],
      ];
      for (const [flags, settings] of cases) {
        const [got] = (await coca('caption', '--model', TINY, '--vocab', VOCAB, '--dtype', 'fp32', '--json', ...flags, files[1]!)) as { tokens: number[] }[];
        expect(got!.tokens, flags.join(' ')).toEqual((await engine.caption(files[1]!, settings)).tokens);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('--model takes a hub repo id (with --hub-url) or a base URL, fetched over HTTP', async () => {
    const info = await goldenJson();
    const [first] = info.greedy.captions;
    hub.resetLog();
    for (const model of [[REPO, '--hub-url', hub.url], [hub.baseUrl(REPO)]]) {
      const out = (await coca('caption', '--model', ...model, '--dtype', 'fp32', '--greedy', '--json', image(first!.image))) as { tokens: number[]; caption: string }[];
      expect(out).toEqual([{ image: image(first!.image), tokens: first!.tokens, caption: first!.text }]);
    }
    // The vocabulary came from the model's folder on the server, and the weights by ranged requests.
    expect(hub.requests.filter((r) => r.file === 'bpe_simple_vocab_16e6.txt.gz' && r.status === 200)).toHaveLength(2);
    expect(hub.requests.filter((r) => r.file === 'open_clip_model.safetensors').every((r) => r.status === 206)).toBe(true);
  });

  it('prints help for the CLI and for each command', async () => {
    const { stdout } = await run(process.execPath, [CLI, '--help']);
    for (const command of ['caption', 'embed', 'search', 'tokenize', 'preprocess']) expect(stdout).toContain(`  ${command} `);
    const caption = (await run(process.execPath, [CLI, 'caption', '--help'])).stdout;
    for (const flag of ['--strategy greedy|beam|beam-openclip|sample', '--greedy', '--num-beams N', '--num-beam-groups N', '--length-penalty X', '--min-length N', '--max-length N', '--top-k N', '--top-p X', '--temperature X', '--repetition-penalty X', '--seed N', '--hub-url URL']) {
      expect(caption).toContain(flag);
    }
    expect(caption).toMatch(/--num-beams N\s+beam 3, beam-openclip 6/);
  });

  it('usage errors exit with status 2 and say what is wrong; other failures exit with 1', async () => {
    const usage: [string[], RegExp][] = [
      [[], /^coca: OptionsError: no command given/],
      [['frobnicate'], /^coca: OptionsError: unknown command "frobnicate"/],
      [['caption', '--model', TINY], /^coca: OptionsError: caption needs at least one IMAGE/],
      [['caption', image('chelsea.png')], /^coca: OptionsError: caption needs --model MODEL/],
      [['caption', '--model', TINY, '--nope', image('chelsea.png')], /^coca: OptionsError: caption: Unknown option '--nope'/],
      [['caption', '--model', TINY, '--num-beams'], /^coca: OptionsError: caption: Option '--num-beams <value>' argument missing/],
      [['caption', '--model', TINY, '--strategy', 'beam', '--num-beams', 'many', image('chelsea.png')], /^coca: OptionsError: --num-beams must be a number \(got "many"\)/],
      [['caption', '--model', TINY, '--strategy', 'beam', '--num-beams', '9', image('chelsea.png')], /^coca: OptionsError: --num-beams must be at most 8/],
      [['caption', '--model', TINY, '--greedy', '--top-k', '5', image('chelsea.png')], /^coca: OptionsError: --top-k does not apply to strategy 'greedy'/],
      [['caption', '--model', TINY, '--greedy', '--strategy', 'sample', image('chelsea.png')], /^coca: OptionsError: --greedy and --strategy sample contradict/],
      [['caption', '--model', TINY, '--dtype', 'fp8', image('chelsea.png')], /^coca: OptionsError: --dtype must be 'fp16', 'fp32' \(got 'fp8'\)/],
      [['caption', '--model', `${SHARED}nowhere`, image('chelsea.png')], /^coca: OptionsError: model .*nowhere: no such folder/],
      [['preprocess', '--size', '20000', image('chelsea.png')], /^coca: OptionsError: --size must be an integer from 1 to 1024/],
      [['tokenize', '--vocab', VOCAB], /^coca: OptionsError: tokenize needs at least one TEXT/],
    ];
    for (const [args, message] of usage) {
      const failure = await failing(...args);
      expect(failure.code, args.join(' ')).toBe(2);
      expect(failure.stdout).toBe('');
      expect(failure.stderr).toMatch(message);
    }
    const failures: [string[], RegExp][] = [
      // A folder without model files is "no model files", not a config problem.
      [['embed', '--model', `${SHARED}images`, '--text', 'a cat'], /^coca: ModelFormatError: .*images holds no model files: none of open_clip_config\.json/m],
      [['preprocess', '--size', '224', `${SHARED}no-such.png`], /^coca: ImageDecodeError: .*no-such\.png: no such file/],
      [['preprocess', '--size', '224', `${SHARED}images`], /^coca: ImageDecodeError: .*images is a folder/],
      [['tokenize', '--vocab', `${SHARED}vocab`, 'a cat'], /^coca: VocabularyError: vocabulary .*vocab is a folder/],
      // Not a regular file and not a folder: named for what it is.
      [['preprocess', '--size', '224', '/dev/null'], /^coca: ImageDecodeError: \/dev\/null is a device, not an image file/],
      [['tokenize', '--vocab', '/dev/null', 'a cat'], /^coca: VocabularyError: vocabulary \/dev\/null is a device, not a file/],
      [['tokenize', '--vocab', `${SHARED}nothing.gz`, 'a cat'], /^coca: VocabularyError: vocabulary file .*nothing\.gz does not exist/],
    ];
    for (const [args, message] of failures) {
      const failure = await failing(...args);
      expect(failure.code, args.join(' ')).toBe(1);
      expect(failure.stdout).toBe('');
      expect(failure.stderr).toMatch(message);
    }
  });
});
