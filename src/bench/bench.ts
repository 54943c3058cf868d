// `npm run bench [-- --json] [--config coca_ViT-B-32|coca_ViT-L-14 | --config-file open_clip_config.json]
//                 [--runtime node|chromium] [--quick] [--dtype fp16|fp32] [--camera-only]`
// Full-size CoCa configs with weights generated in place, timed in Node (Dawn) and/or headless Chromium:
// wall-clock, GPU time (where the adapter has timestamp-query), dispatches and host waits.
import { PRESET_NAMES, type PresetName } from '../model/config';
import { resolveDtype, type WeightDtype } from '../options';
import { formatTable } from './harness';
import { runBenchmarks } from './camera-bench';
import { LIBRARY_BENCH_CONFIG, runLibraryBench } from './library-bench';
import type { BenchRecord } from './model-bench';
import { flagValue, nodeBenchGpu, nodeConfigs } from './node-setup';

interface Args {
  json: boolean;
  quick: boolean;
  configs: PresetName[];
  /** --config-file: one config read from an open_clip_config.json (Node only), instead of the presets. */
  configFile: string | undefined;
  runtimes: ('node' | 'chromium')[];
  dtype: WeightDtype;
  /** The camera metrics alone (they run after the model metrics otherwise). */
  cameraOnly: boolean;
}

function parse(argv: string[]): Args {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const config = value('--config');
  if (config && !PRESET_NAMES.includes(config as PresetName)) throw new Error(`--config must be one of ${PRESET_NAMES.join(', ')}`);
  const runtime = value('--runtime');
  if (runtime && runtime !== 'node' && runtime !== 'chromium') throw new Error('--runtime must be node or chromium');
  const dtype = resolveDtype(value('--dtype'), '--dtype');
  const configFile = value('--config-file');
  if (configFile && runtime !== 'node') throw new Error('--config-file is read in Node only: add --runtime node');
  return {
    json: argv.includes('--json'),
    quick: argv.includes('--quick'),
    configs: config ? [config as PresetName] : [...PRESET_NAMES],
    configFile,
    runtimes: runtime ? [runtime as 'node' | 'chromium'] : ['node', 'chromium'],
    dtype,
    cameraOnly: argv.includes('--camera-only'),
  };
}

async function runNode(args: Args, emit: (r: BenchRecord) => void): Promise<void> {
  const gpu = await nodeBenchGpu();
  try {
    for (const config of nodeConfigs(args)) {
      await runBenchmarks({ gpu, runtime: 'node', config, dtype: args.dtype, quick: args.quick, emit }, args.cameraOnly);
      if (!args.cameraOnly && config.name === LIBRARY_BENCH_CONFIG) await runLibraryBench({ gpu, config: LIBRARY_BENCH_CONFIG, dtype: args.dtype, quick: args.quick, emit });
    }
  } finally {
    gpu.destroy();
  }
}

async function runChromium(args: Args, emit: (r: BenchRecord) => void): Promise<void> {
  const { launchChromium, startViteServer } = await import('../../test/helpers/browser');
  const { server, url } = await startViteServer();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (message) => {
      const text = message.text();
      if (text.startsWith('{"config"')) emit(JSON.parse(text) as BenchRecord);
      else if (text.startsWith('bench-error:')) process.stderr.write(`${text}\n`);
    });
    page.setDefaultTimeout(0);
    const query = new URLSearchParams({ configs: args.configs.join(','), dtype: args.dtype, quick: String(args.quick), cameraOnly: String(args.cameraOnly) });
    await page.goto(`${url}/src/bench/chromium.html?${query}`);
    await page.waitForFunction(() => (window as unknown as { benchDone?: boolean }).benchDone === true, undefined, { timeout: 0, polling: 1000 });
    const failure = await page.evaluate(() => (window as unknown as { benchError?: string }).benchError);
    if (failure) throw new Error(`chromium bench failed: ${failure}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

function toRow(r: BenchRecord): string[] {
  const fmt = (v: unknown, digits = 1): string => (typeof v === 'number' ? v.toFixed(digits) : '');
  const label = [r.metric, r.strategy, r.batch !== undefined ? `batch ${r.batch}` : ''].filter(Boolean).join(' ');
  const extra = [r.gflops !== undefined ? `${fmt(r.gflops, 2)} GFLOP/s` : '', r.gbs !== undefined ? `${fmt(r.gbs, 2)} GB/s` : '', r.dispatches !== undefined ? `${String(r.dispatches)} dispatches` : ''].filter(Boolean).join(', ');
  return [r.config, r.runtime, label, r.median !== undefined ? fmt(r.median, 2) : fmt(r.value, 1), r.min !== undefined ? `${fmt(r.min, 2)}–${fmt(r.max, 2)}` : '', extra];
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const records: BenchRecord[] = [];
  const emit = (r: BenchRecord): void => {
    records.push(r);
    if (r.metric === 'gpu_timestamps' && r.value === 0) process.stderr.write(`bench: ${r.runtime} ${r.adapter}: ${String(r.note)}\n`);
    if (args.json) console.log(JSON.stringify(r));
    else process.stderr.write(`  ${r.runtime} ${r.config} ${r.metric}${r.strategy ? ` ${r.strategy}` : ''}${r.batch ? ` b${r.batch}` : ''}: ${(r.median ?? r.value ?? 0).toFixed(2)}\n`);
  };
  if (args.runtimes.includes('node')) await runNode(args, emit);
  if (args.runtimes.includes('chromium')) await runChromium(args, emit);
  if (!args.json) {
    const adapters = [...new Set(records.map((r) => `${r.runtime}: ${r.adapter}`))];
    console.log(`Adapters: ${adapters.join('; ')}. Weights: ${args.dtype}.\n`);
    console.log(formatTable(['config', 'runtime', 'metric', 'median (ms, or value)', 'min–max', ''], records.map(toRow)));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
