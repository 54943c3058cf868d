// What the Node benchmarks (bench, profile, bench:ab, the device kit) share: the GPU, the configs to measure,
// and how they read their flags.
import { readFileSync } from 'node:fs';
import { nodeGpu } from '../gpu/dawn-node';
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/gpu';
import { nodeShaders } from '../gpu/shaders-node';
import { parseOpenClipConfig, presetConfig, type CocaConfig, type PresetName } from '../model/config';

/** Dawn's adapter (COCA_DAWN_FLAGS picks another) with the kernels from shaders/ (or $COCA_SHADERS_DIR). */
export async function nodeBenchGpu(): Promise<Gpu> {
  return new Gpu(await acquireDevice({ gpu: nodeGpu() }), nodeShaders());
}

/** The configs a Node run measures: the one in `configFile` (an open_clip_config.json), or the presets named. */
export function nodeConfigs(args: { configs: readonly PresetName[]; configFile: string | undefined }): CocaConfig[] {
  if (args.configFile) return [parseOpenClipConfig(JSON.parse(readFileSync(args.configFile, 'utf8')) as unknown, args.configFile)];
  return args.configs.map(presetConfig);
}

/** The word after `flag` in argv (`--config coca_ViT-B-32`), or undefined when the flag is absent. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}
