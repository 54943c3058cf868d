// The CLI contract, run as a user would (node src/cli/coca.mjs …) on the golden folder.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { maxAbs, maxAbsDiff } from './helpers/gpu';
import { golden, goldenJson, SHARED, TINY } from './helpers/golden';
import { openCheckpoint } from '../src/io/checkpoint';
import { openFileSource } from '../src/io/source-node';

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

  it('errors go to stderr with a non-zero exit status', async () => {
    const failure = await run(process.execPath, [CLI, 'embed', '--model', `${SHARED}images`, '--json']).then(
      () => null,
      (e: { code: number; stderr: string; stdout: string }) => e,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr).toMatch(/^coca: ModelFormatError: .*open_clip_config\.json/m);
  });
});
