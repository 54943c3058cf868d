// The device kit's program (bundled by `npm run bench:device`, started by the kit's run.sh): on the GPU at
// hand, the model benchmark and the per-dispatch profile of each config, with the adapter, its limits and
// nvidia-smi's clocks, all in one JSON file — rewritten after every section, so that a run cut short still
// leaves what it measured.
//   coca-bench.mjs --out result.json [--config coca_ViT-B-32,coca_ViT-L-14 | --config-file F] [--quick]
//                  [--dtype fp16|fp32] [--budget-s 200] [--allow-software]
import { resolveDtype, type WeightDtype } from '../options';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WebGPUUnavailableError } from '../errors';
import type { Gpu } from '../gpu/gpu';
import { PRESET_NAMES, type PresetName } from '../model/config';
import { runModelBench, type BenchRecord } from './model-bench';
import { flagValue, nodeBenchGpu, nodeConfigs } from './node-setup';
import { profileModel, type ModelProfile } from './profile-model';

interface Args {
  out: string;
  configs: PresetName[];
  configFile: string | undefined;
  quick: boolean;
  dtype: WeightDtype;
  budgetS: number;
  allowSoftware: boolean;
}

/** Seconds a run may start new sections for: the kit's whole run must stay under 4 minutes. */
const DEFAULT_BUDGET_S = 200;
/** How often nvidia-smi is sampled while the benchmarks run (clocks rise and fall with the load). */
const NVIDIA_SMI_INTERVAL_MS = 5000;
const NVIDIA_SMI_FIELDS = ['name', 'driver_version', 'pstate', 'clocks.sm', 'clocks.mem', 'clocks.max.sm', 'clocks.max.mem', 'power.draw', 'temperature.gpu', 'utilization.gpu', 'memory.used', 'memory.total'];

function parse(argv: string[]): Args {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const out = value('--out');
  if (!out) throw new Error('--out FILE is required');
  const configs = (value('--config') ?? PRESET_NAMES.join(',')).split(',') as PresetName[];
  for (const c of configs) if (!PRESET_NAMES.includes(c)) throw new Error(`--config takes ${PRESET_NAMES.join(', ')} (comma-separated), not ${c}`);
  const dtype = resolveDtype(value('--dtype'), '--dtype');
  const budgetS = Number(value('--budget-s') ?? DEFAULT_BUDGET_S);
  if (!(budgetS > 0)) throw new Error('--budget-s must be a positive number of seconds');
  return { out, configs, configFile: value('--config-file'), quick: argv.includes('--quick'), dtype, budgetS, allowSoftware: argv.includes('--allow-software') };
}

/** CPU implementations of Vulkan/WebGPU (lavapipe, SwiftShader): measured only when asked for. */
export function isSoftwareAdapter(gpu: Gpu): boolean {
  const a = gpu.info.adapter;
  return a.isFallbackAdapter || a.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${a.description} ${a.device}`);
}

function adapterReport(gpu: Gpu): Record<string, unknown> {
  const limits: Record<string, number> = {};
  for (const key in gpu.info.limits) {
    const v = (gpu.info.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  return { name: gpu.adapterName, ...gpu.info.adapter, software: isSoftwareAdapter(gpu), timestamps: gpu.info.hasTimestampQuery, features: [...gpu.device.features].sort(), limits };
}

type SmiSample = Record<string, string> & { at_s: string };

async function nvidiaSmi(): Promise<Record<string, string>[] | { error: string }> {
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', [`--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`, '--format=csv,noheader,nounits'], { timeout: 10_000 });
    return stdout
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split(',').map((v, i) => [NVIDIA_SMI_FIELDS[i]!, v.trim()])));
  } catch (error) {
    return { error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
  }
}

function kitInfo(): unknown {
  const file = fileURLToPath(new URL('./kit.json', import.meta.url));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as unknown) : null;
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  const started = performance.now();
  const elapsedS = (): number => (performance.now() - started) / 1000;
  const result = {
    kit: kitInfo(),
    argv: process.argv.slice(2),
    started_at: new Date().toISOString(),
    finished_at: null as string | null,
    elapsed_s: 0,
    complete: false,
    machine: { platform: process.platform, arch: process.arch, node: process.version, cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '', memory_gb: totalmem() / 2 ** 30 },
    vulkan: { driver_files: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? null, chosen_by: process.env.COCA_KIT_ICD_CHOICE ?? null, loader: process.env.COCA_KIT_LOADER ?? null },
    gpu: null as string | null,
    adapter: null as Record<string, unknown> | null,
    nvidia_smi: { before: await nvidiaSmi(), during: [] as SmiSample[], after: null as unknown },
    bench: [] as BenchRecord[],
    profile: [] as ModelProfile[],
    skipped: [] as { section: string; why: string }[],
    errors: [] as { section: string; message: string }[],
  };
  const save = (): void => {
    result.elapsed_s = elapsedS();
    writeFileSync(`${args.out}.tmp`, `${JSON.stringify(result, null, 1)}\n`);
    renameSync(`${args.out}.tmp`, args.out);
  };
  const describe = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  const sampler = Array.isArray(result.nvidia_smi.before)
    ? setInterval(() => void nvidiaSmi().then((rows) => Array.isArray(rows) && result.nvidia_smi.during.push(...rows.map((r) => ({ ...r, at_s: elapsedS().toFixed(1) })))), NVIDIA_SMI_INTERVAL_MS)
    : null;
  const finish = async (): Promise<void> => {
    if (sampler) clearInterval(sampler);
    result.nvidia_smi.after = await nvidiaSmi();
    result.finished_at = new Date().toISOString();
    result.complete = result.errors.length === 0 && result.skipped.length === 0;
    save();
    process.stderr.write(`device kit: wrote ${args.out} in ${elapsedS().toFixed(0)} s${result.complete ? '' : ' (incomplete: see "errors" and "skipped")'}\n`);
  };
  save();

  let gpu: Gpu;
  try {
    gpu = await nodeBenchGpu();
    result.gpu = gpu.adapterName;
    result.adapter = adapterReport(gpu);
    if (isSoftwareAdapter(gpu) && !args.allowSoftware) {
      gpu.destroy();
      throw new WebGPUUnavailableError(`the adapter found is ${gpu.adapterName}, a CPU software driver, not a GPU: give the machine a Vulkan GPU driver, or measure the software driver on purpose (run.sh --allow-lavapipe; --allow-software here)`);
    }
  } catch (error) {
    result.errors.push({ section: 'adapter', message: `${describe(error)} (Vulkan drivers offered: ${result.vulkan.driver_files ?? 'the loader\'s default search'})` });
    await finish();
    throw error;
  }
  process.stderr.write(`device kit: ${gpu.adapterName}\n`);
  save();
  for (const config of nodeConfigs(args)) {
    const section = `${config.name} bench`;
    if (elapsedS() > args.budgetS) {
      result.skipped.push({ section, why: `time budget of ${args.budgetS} s spent` });
      continue;
    }
    try {
      process.stderr.write(`device kit: ${section} (${elapsedS().toFixed(0)} s)\n`);
      await runModelBench({
        gpu,
        runtime: 'node',
        config,
        dtype: args.dtype,
        quick: args.quick,
        emit: (r) => {
          result.bench.push(r);
          save();
        },
        withModel: async (model) => {
          if (elapsedS() > args.budgetS) {
            result.skipped.push({ section: `${config.name} profile`, why: `time budget of ${args.budgetS} s spent` });
            return;
          }
          process.stderr.write(`device kit: ${config.name} profile (${elapsedS().toFixed(0)} s)\n`);
          result.profile.push(await profileModel(model, args.quick ? 1 : 3));
          save();
        },
      });
    } catch (error) {
      result.errors.push({ section, message: describe(error) });
      save();
      if (gpu.isLost) break;
    }
  }
  await finish();
  gpu.destroy();
  return result.errors.length === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`device kit: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
    process.exit(1);
  },
);
