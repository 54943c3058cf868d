// The device kit (issue 9 §4): `npm run bench:device` builds a folder under 64 MiB, and its run.sh, in quick
// mode on the tiny config with lavapipe explicitly allowed, writes a result whose counts equal what the same
// model records in this process (a known answer on the same adapter), with GPU times since lavapipe has
// timestamps. Without that permission it refuses to measure a software driver.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countWork, timed } from '../src/bench/harness';
import { randomImage, type BenchRecord } from '../src/bench/model-bench';
import type { ModelProfile } from '../src/bench/profile-model';
import { randomCheckpoint } from '../src/bench/random-checkpoint';
import type { Gpu } from '../src/gpu/gpu';
import { CocaModel } from '../src/model/coca';
import { parseOpenClipConfig } from '../src/model/config';
import { testGpu } from './helpers/gpu';

/** What a lent device machine carries along: the kit must fit. */
const KIT_LIMIT_MIB = 64;
/** The printed size has one decimal. */
const PRINTED_MIB_ROUNDING = 0.05;
/** Greedy caption whose host waits the bench counts (model-bench.ts WAIT_CAPTION_TOKENS). */
const WAIT_CAPTION_TOKENS = 30;

const repo = fileURLToPath(new URL('../', import.meta.url));
const tinyConfigFile = fileURLToPath(new URL('../../shared/golden/coca-tiny/open_clip_config.json', import.meta.url));
const run = promisify(execFile);

/** The environment of a fresh shell: no Vulkan driver chosen, no Dawn flags. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES', 'COCA_DAWN_FLAGS', 'COCA_SHADERS_DIR']) delete env[key];
  return env;
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
}

interface KitResult {
  gpu: string | null;
  complete: boolean;
  vulkan: { driver_files: string | null; chosen_by: string | null; loader: string | null };
  adapter: { software: boolean; timestamps: boolean; features: string[]; limits: Record<string, number> } | null;
  bench: BenchRecord[];
  profile: ModelProfile[];
  errors: { section: string; message: string }[];
}

describe('device kit', () => {
  let work: string;
  let kit: string;
  let buildOutput: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'coca-kit-'));
    kit = join(work, 'kit');
    buildOutput = (await run('npx', ['tsx', 'src/bench/device-kit.ts', '--out', kit], { cwd: repo, env: cleanEnv() })).stdout;
  }, 180_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds, prints its size, and stays under 64 MiB', () => {
    const printed = /\((\d+\.\d) MiB of 64 MiB\)/.exec(buildOutput);
    expect(printed, buildOutput).not.toBeNull();
    const mib = folderBytes(kit) / 2 ** 20;
    expect(Math.abs(Number(printed![1]) - mib)).toBeLessThanOrEqual(PRINTED_MIB_ROUNDING);
    expect(mib).toBeLessThan(KIT_LIMIT_MIB);
    expect(readdirSync(kit).sort()).toEqual(['coca-bench.mjs', 'kit.json', 'lib', 'node.xz', 'node_modules', 'run.sh', 'shaders']);
  });

  it('run.sh --quick on lavapipe (allowed explicitly) measures what the model records in this process', async () => {
    const out = join(work, 'result.json');
    await run(join(kit, 'run.sh'), ['--allow-lavapipe', '--quick', '--config-file', tinyConfigFile, '--out', out], { env: cleanEnv(), timeout: 170_000 });
    const result = JSON.parse(readFileSync(out, 'utf8')) as KitResult;
    expect(result.errors).toEqual([]);
    expect(result.complete).toBe(true);

    const gpu: Gpu = await testGpu();
    expect(result.gpu).toBe(gpu.adapterName);
    expect(result.adapter!.software).toBe(true);
    expect(result.vulkan.chosen_by).toBe('run.sh search, lavapipe allowed');
    expect(result.vulkan.driver_files).toMatch(/lvp_icd[^:]*\.json/);
    expect(result.adapter!.limits.maxStorageBufferBindingSize).toBe(gpu.info.limits.maxStorageBufferBindingSize);
    expect(result.adapter!.features).toContain('timestamp-query');

    const config = parseOpenClipConfig(JSON.parse(readFileSync(tinyConfigFile, 'utf8')) as unknown, tinyConfigFile);
    const model = await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: 'fp16' });
    try {
      const image = randomImage(config, 1);
      const encode = await countWork(gpu, () => model.encodeImages([image]));
      // One greedy step: a caption one token longer, both with the end token blocked.
      const greedy = (n: number) => countWork(gpu, () => model.caption(image, { minLength: n, maxLength: n + 1 }));
      const step = (await greedy(4)).dispatches - (await greedy(3)).dispatches;
      const waits = await countWork(gpu, () => model.caption(image, { minLength: WAIT_CAPTION_TOKENS, maxLength: WAIT_CAPTION_TOKENS }));
      const { passes } = await timed(gpu, 'dispatch', () => model.encodeImages([image]));

      const metric = (name: string, strategy?: string): BenchRecord => {
        const found = result.bench.find((r) => r.metric === name && (strategy === undefined || r.strategy === strategy) && (r.batch === undefined || r.batch === 1));
        expect(found, name).toBeDefined();
        return found!;
      };
      expect(metric('dispatches_per_image_encode').value).toBe(encode.dispatches);
      expect(metric('submits_per_image_encode').value).toBe(encode.submits);
      expect(metric('dispatches_per_token', 'greedy').value).toBe(step);
      expect(metric('host_waits_per_caption', 'greedy').value).toBe(waits.hostWaits);
      expect(metric('gpu_timestamps').value).toBe(1);
      for (const name of ['image_encode_gpu_ms', 'text_encode_gpu_ms']) expect(metric(name).median).toBeGreaterThan(0);
      for (const strategy of ['greedy', 'beam']) expect(Number.isFinite(metric('decode_gpu_ms_per_token', strategy).median)).toBe(true);

      const [profile] = result.profile;
      const encodePass = profile!.calls.find((c) => c.name === 'image encode (batch 1)')!.passes[0]!;
      expect(encodePass.perDispatch!.map((d) => `[${d.kernel}] ${d.label}`)).toEqual(passes[0]!.perDispatch!.map((d) => `[${d.kernel}] ${d.label}`));
      expect(encodePass.perDispatch!.reduce((s, d) => s + d.gpuMs, 0)).toBeLessThanOrEqual(encodePass.perDispatchPassMs! + 1e-9);
    } finally {
      model.dispose();
    }
  }, 180_000);

  it('run.sh refuses to measure the software driver unless asked', async () => {
    const out = join(work, 'refused.json');
    const refused = await run(join(kit, 'run.sh'), ['--quick', '--config-file', tinyConfigFile, '--out', out], { env: cleanEnv(), timeout: 60_000 }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    if (!existsSync(out)) {
      // No GPU driver manifest at all: run.sh stops before starting Node.
      expect(refused!.stderr).toMatch(/no Vulkan GPU driver found.*--allow-lavapipe/);
      return;
    }
    // GPU drivers without a device (Mesa's Intel, AMD, ... manifests): no adapter, or only the software one, is refused.
    const result = JSON.parse(readFileSync(out, 'utf8')) as KitResult;
    expect(result.bench).toEqual([]);
    expect(result.errors.map((e) => e.section)).toEqual(['adapter']);
    expect(result.vulkan.driver_files ?? '').not.toMatch(/lvp/);
  });
});
