// Fuzz cases for config parsing, built from the golden open_clip_config.json: every field set to huge,
// negative, zero, fractional, non-finite and wrongly typed values, fields removed and added, and the JSON
// text cut and mangled. A config must be refused with ModelConfigError, or be accepted with every
// dimension inside CONFIG_LIMITS and a tensor list that is quick to build.

import { readFileSync } from 'node:fs';
import { CONFIG_LIMITS, MAX_CONFIG_CHARS, parameterCount, parseConfigText, parseOpenClipConfig, type CocaConfig } from '../../src/model/config';
import { GOLDEN_CONFIG } from '../io-fixtures';
import { FuzzMismatch, seededInts, type FuzzCase } from './case';

const text = readFileSync(GOLDEN_CONFIG, 'utf8');
const golden = JSON.parse(text) as Record<string, unknown>;

/** Every path to a value in the golden config (objects are walked, arrays and scalars are leaves). */
function leafPaths(value: unknown, path: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [path];
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, [...path, key]));
}

function objectPaths(value: unknown, path: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  return [path, ...Object.entries(value).flatMap(([key, child]) => objectPaths(child, [...path, key]))];
}

/** A copy of the golden config with `edit` applied to the object holding `path`'s last key. */
function edited(path: readonly string[], edit: (holder: Record<string, unknown>, key: string) => void): Record<string, unknown> {
  const copy = structuredClone(golden);
  let holder = copy;
  for (const key of path.slice(0, -1)) holder = holder[key] as Record<string, unknown>;
  edit(holder, path[path.length - 1]!);
  return copy;
}

/** An accepted config must be one the runtime can hold: every dimension in bounds, its tensor list small. */
function checkAccepted(config: CocaConfig): void {
  const { vision: v, text: t, decoder: d } = config;
  const bounded: [string, number, number][] = [
    ['embed_dim', config.embedDim, CONFIG_LIMITS.width],
    ['vision layers', v.layers, CONFIG_LIMITS.layers],
    ['vision width', v.width, CONFIG_LIMITS.width],
    ['vision head width', v.headWidth, CONFIG_LIMITS.headWidth],
    ['image size', v.imageSize, CONFIG_LIMITS.imageSize],
    ['image tokens', (v.imageSize / v.patchSize) ** 2 + 1, CONFIG_LIMITS.imageTokens],
    ['pooler queries', v.poolerQueries, CONFIG_LIMITS.poolerQueries],
    ['text layers', t.layers, CONFIG_LIMITS.layers],
    ['text width', t.width, CONFIG_LIMITS.width],
    ['text head width', t.width / t.heads, CONFIG_LIMITS.headWidth],
    ['context', t.contextLength, CONFIG_LIMITS.contextLength],
    ['vocabulary', t.vocabSize, CONFIG_LIMITS.vocabSize],
    ['decoder layers', d.layers, CONFIG_LIMITS.layers],
    ['decoder head width', d.width / d.heads, CONFIG_LIMITS.headWidth],
    ['parameters', parameterCount(config), CONFIG_LIMITS.parameters],
  ];
  for (const [what, value, limit] of bounded) {
    if (!Number.isSafeInteger(value) || value < 1 || value > limit) throw new FuzzMismatch(`accepted a config with ${what} ${value} (limit ${limit})`);
  }
  if (!Number.isInteger(v.imageSize / v.patchSize)) throw new FuzzMismatch(`accepted image_size ${v.imageSize} with patch_size ${v.patchSize}`);
}

const VALUES: [string, unknown][] = [
  ['1e6', 1e6], ['1e9', 1e9], ['2^53', 2 ** 53], ['1e308', 1e308], ['-1', -1], ['0', 0], ['-0', -0], ['0.5', 0.5], ['48.5', 48.5],
  ['NaN', NaN], ['Infinity', Infinity], ['"64"', '64'], ['null', null], ['true', true], ['[]', []], ['{}', {}], ['[64, 64]', [64, 64]],
  ['[1e9, 1e9]', [1e9, 1e9]], ['"x".repeat(1e5)', 'x'.repeat(100_000)], ['[[[[1]]]]', [[[[1]]]]],
];

export async function cases(): Promise<FuzzCase[]> {
  const cases: FuzzCase[] = [];
  const parse = (label: string, json: () => unknown): void => {
    cases.push({ label, run: async () => checkAccepted(parseOpenClipConfig(json(), 'fuzz.json')) });
  };
  const parseText = (label: string, source: () => string): void => {
    cases.push({ label, run: async () => checkAccepted(parseConfigText(source(), 'fuzz.json')) });
  };

  parse('golden: unchanged', () => golden);
  for (const path of leafPaths(golden)) {
    for (const [label, value] of VALUES) parse(`field: ${path.join('.')} = ${label}`, () => edited(path, (holder, key) => (holder[key] = value)));
    parse(`field: ${path.join('.')} removed`, () => edited(path, (holder, key) => delete holder[key]));
  }
  const settings: [string, unknown][] = [
    ['layers', 1e9], ['width', 2 ** 31], ['heads', 1e6], ['head_width', 4096], ['mlp_ratio', 1e9], ['patch_size', 1], ['image_size', 8192],
    ['context_length', 1e7], ['vocab_size', 2 ** 40], ['attn_pooler_queries', 1e6], ['attn_pooler_heads', 1e6], ['fill_color', 256],
    ['interpolation', 'lanczos'], ['resize_mode', 'crop'], ['mode', 'RGBA'], ['size', [64, 96]], ['unknown_setting', 1], ['__proto__', { layers: 1e9 }],
  ];
  for (const path of objectPaths(golden)) {
    for (const [key, value] of settings) {
      parse(`setting: ${[...path, key].join('.')} = ${JSON.stringify(value)}`, () => edited([...path, key], (holder, k) => Object.defineProperty(holder, k, { value, enumerable: true, configurable: true, writable: true })));
    }
  }
  for (const root of [null, 1, 'config', [], [golden], { model_cfg: null }, { model_cfg: [] }, { model_cfg: golden.model_cfg, preprocess_cfg: 'x' }]) {
    parse(`root: ${JSON.stringify(root)?.slice(0, 40)}`, () => root);
  }

  // The text: cut anywhere, bytes replaced, far too long, nested deep.
  const next = seededInts(303);
  for (let i = 0; i < 60; i++) {
    const cut = next(text.length);
    parseText(`text: cut at ${cut}`, () => text.slice(0, cut));
  }
  const palette = [...'{}[],:"\\ 0123456789-.eExnul\u0000\u00ff\ud800'];
  for (let i = 0; i < 120; i++) {
    const at = next(text.length);
    const char = palette[next(palette.length)]!;
    parseText(`text: character ${at} → ${JSON.stringify(char)}`, () => text.slice(0, at) + char + text.slice(at + 1));
  }
  parseText('text: longer than MAX_CONFIG_CHARS', () => text + ' '.repeat(MAX_CONFIG_CHARS));
  parseText('text: arrays nested 500,000 deep', () => `${'['.repeat(500_000)}${']'.repeat(500_000)}`);
  parseText('text: 200,000 keys', () => `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":1`).join(',')}}`);
  parseText('text: empty', () => '');
  return cases;
}
