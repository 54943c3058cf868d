// `npm run bench:ab -- --base DIR [--config coca_ViT-B-32|coca_ViT-L-14 | --config-file F] [--rounds N]
//                      [--tasks image,text,greedy] [--dtype fp16|fp32] [--json]`
// This checkout against another one (DIR: a checkout or `git worktree` of this repository, with its
// dependencies installed), measured in one process so that both meet the same machine: on a shared 2-core
// machine wall-clock figures drift by ±20% between runs, far more than the changes worth measuring. Each
// side loads the same random weights on a device of its own; every round runs each task on both sides,
// alternating which goes first; per task the report gives each side's median and the median of the
// per-round ratios (this / base), the figure least disturbed by drift. Before timing, both sides' image
// features and greedy tokens are compared, so that the two compute the same thing.
// Tasks: `image` (encode, batch 1), `text` (encode, 1 text), `greedy` (ms per token: a 30-token caption
// minus a 10-token one, over 20). DIR must have the bench modules this reads (src/bench/node-setup.ts,
// random-checkpoint.ts, model-bench.ts and CocaModel.load), as every commit since the profile tool has.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PRESET_NAMES, type CocaConfig, type PresetName } from '../model/config';
import { resolveDtype, type WeightDtype } from '../options';
import { formatTable, maxAbsDiff, summarize } from './harness';
import { flagValue, nodeConfigs } from './node-setup';

/**
 * Greedy ms per token: the time of a CAPTION_LONG-token caption minus a CAPTION_SHORT-token one, per extra
 * token. Both include the image pass, whose noise the 20 extra tokens dilute (ViT-L/14: an 8 s encode).
 */
const CAPTION_SHORT = 10;
const CAPTION_LONG = 30;

export const AB_TASKS = ['image', 'text', 'greedy'] as const;
export type AbTask = (typeof AB_TASKS)[number];

/** One side of the comparison: a checkout's model, and the calls the tasks time. */
export interface Side {
  encodeImage(): Promise<Float32Array>;
  encodeText(): Promise<Float32Array>;
  caption(tokens: number): Promise<number[]>;
  dispose(): void;
}

export interface AbResult {
  task: AbTask;
  unit: string;
  baseMedian: number;
  currentMedian: number;
  /** Median over the rounds of current / base. */
  ratio: number;
  rounds: number;
}

/** Each side's median, and the median of the per-round ratios current / base (paired by round). */
export function pairedComparison(base: readonly number[], current: readonly number[]): { baseMedian: number; currentMedian: number; ratio: number } {
  if (base.length !== current.length || base.length === 0) throw new Error('pairedComparison: give as many samples of each side, at least one');
  return {
    baseMedian: summarize([...base]).median,
    currentMedian: summarize([...current]).median,
    ratio: summarize(base.map((b, i) => current[i]! / b)).median,
  };
}

/** What loadSide imports from a checkout, in this order. */
const SIDE_MODULES = ['src/bench/node-setup.ts', 'src/bench/random-checkpoint.ts', 'src/model/coca.ts', 'src/bench/model-bench.ts'];

/** Loads a checkout's model (random weights, seed 1) through that checkout's own modules. */
export async function loadSide(root: string, config: CocaConfig, dtype: WeightDtype): Promise<Side> {
  const from = (path: string) => import(pathToFileURL(resolve(root, path)).href);
  const [setup, checkpoint, coca, bench] = await Promise.all(SIDE_MODULES.map(from));
  const gpu = await setup.nodeBenchGpu();
  const model = await coca.CocaModel.load(gpu, checkpoint.randomCheckpoint(config), config, { dtype });
  const image: Float32Array = bench.randomImage(config, 1);
  const tokens: Int32Array = bench.randomTokens(config, 3);
  return {
    encodeImage: async () => (await model.encodeImages([image]))[0],
    encodeText: async () => (await model.encodeTexts([tokens]))[0],
    caption: (n) => model.caption(image, { strategy: 'greedy', minLength: n, maxLength: n }),
    dispose: () => {
      model.dispose();
      gpu.destroy();
    },
  };
}

/** The features' largest difference; Infinity when their lengths differ. */
function featureDiff(a: Float32Array, b: Float32Array): number {
  return a.length === b.length ? maxAbsDiff(a, b) : Infinity;
}

/** Whether the two sides compute the same: image and text features, and a greedy caption's tokens. */
export async function agreement(base: Side, current: Side): Promise<{ imageMaxAbsDiff: number; textMaxAbsDiff: number; tokensEqual: boolean }> {
  const imageMaxAbsDiff = featureDiff(await base.encodeImage(), await current.encodeImage());
  const textMaxAbsDiff = featureDiff(await base.encodeText(), await current.encodeText());
  const [a, b] = [await base.caption(10), await current.caption(10)];
  return { imageMaxAbsDiff, textMaxAbsDiff, tokensEqual: a.length === b.length && a.every((t, i) => t === b[i]) };
}

async function sample(side: Side, task: AbTask): Promise<number> {
  const time = async (body: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await body();
    return performance.now() - start;
  };
  if (task === 'image') return time(() => side.encodeImage());
  if (task === 'text') return time(() => side.encodeText());
  const short = await time(() => side.caption(CAPTION_SHORT));
  const long = await time(() => side.caption(CAPTION_LONG));
  return (long - short) / (CAPTION_LONG - CAPTION_SHORT);
}

/** Times every task on both sides, `rounds` paired samples each, after one untimed run of each. */
export async function runAb(base: Side, current: Side, tasks: readonly AbTask[], rounds: number): Promise<AbResult[]> {
  const results: AbResult[] = [];
  for (const task of tasks) {
    await sample(base, task);
    await sample(current, task);
    const samples = { base: [] as number[], current: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      const order: ('base' | 'current')[] = round % 2 ? ['current', 'base'] : ['base', 'current'];
      for (const which of order) samples[which].push(await sample(which === 'base' ? base : current, task));
    }
    results.push({ task, unit: task === 'greedy' ? 'ms per token' : 'ms', ...pairedComparison(samples.base, samples.current), rounds });
  }
  return results;
}

interface Args {
  base: string;
  config: PresetName;
  configFile: string | undefined;
  rounds: number;
  tasks: AbTask[];
  dtype: WeightDtype;
  json: boolean;
}

function parse(argv: string[]): Args {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const base = value('--base');
  if (!base) throw new Error('--base DIR is required: the checkout to compare this one with');
  const missing = SIDE_MODULES.filter((m) => !existsSync(resolve(base, m)));
  if (missing.length) throw new Error(`--base ${base}: not a checkout with the bench modules (missing ${missing.join(', ')}); make one with git worktree add DIR COMMIT, then npm ci there`);
  const config = value('--config') ?? 'coca_ViT-B-32';
  if (!PRESET_NAMES.includes(config as PresetName)) throw new Error(`--config must be one of ${PRESET_NAMES.join(', ')}`);
  const rounds = Number(value('--rounds') ?? 8);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
  const tasks = (value('--tasks') ?? AB_TASKS.join(',')).split(',');
  const unknown = tasks.filter((t) => !(AB_TASKS as readonly string[]).includes(t));
  if (unknown.length) throw new Error(`--tasks: unknown ${unknown.join(', ')}; choose from ${AB_TASKS.join(', ')}`);
  return { base: resolve(base), config: config as PresetName, configFile: value('--config-file'), rounds, tasks: tasks as AbTask[], dtype: resolveDtype(value('--dtype'), '--dtype'), json: argv.includes('--json') };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const here = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
  const [config] = nodeConfigs({ configs: [args.config], configFile: args.configFile });
  const base = await loadSide(args.base, config!, args.dtype);
  const current = await loadSide(here, config!, args.dtype);
  try {
    const agree = await agreement(base, current);
    const results = await runAb(base, current, args.tasks, args.rounds);
    const common = { config: config!.name, dtype: args.dtype, base: args.base, current: here };
    if (args.json) {
      console.log(JSON.stringify({ metric: 'ab_agreement', ...common, ...agree }));
      for (const r of results) console.log(JSON.stringify({ metric: 'ab', ...common, ...r }));
      return;
    }
    console.log(`base ${args.base} vs this checkout ${here}; ${config!.name}, ${args.dtype} weights, ${args.rounds} paired rounds`);
    console.log(`agreement: image features max |Δ| ${agree.imageMaxAbsDiff.toExponential(2)}, text ${agree.textMaxAbsDiff.toExponential(2)}, greedy tokens ${agree.tokensEqual ? 'equal' : 'DIFFER'}`);
    console.log(formatTable(['task', 'unit', 'base', 'this', 'ratio this/base (median of rounds)'], results.map((r) => [r.task, r.unit, r.baseMedian.toFixed(1), r.currentMedian.toFixed(1), r.ratio.toFixed(3)])));
  } finally {
    base.dispose();
    current.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench:ab: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
