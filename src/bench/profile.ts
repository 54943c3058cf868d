// `npm run profile [-- --config coca_ViT-B-32|coca_ViT-L-14 | --config-file open_clip_config.json]
//                   [--dtype fp16|fp32] [--runs N] [--json]`
// Where the time of each kind of call goes on the adapter at hand (profile-model.ts): per pass, GPU busy
// time beside the host phases; per dispatch, GPU time named after kernel and model stage, summed per kernel.
import { resolveDtype, type WeightDtype } from '../options';
import { CocaModel } from '../model/coca';
import { PRESET_NAMES, type PresetName } from '../model/config';
import { flagValue, nodeBenchGpu, nodeConfigs } from './node-setup';
import { formatProfile, profileModel } from './profile-model';
import { randomCheckpoint } from './random-checkpoint';

function parse(argv: string[]): { configs: PresetName[]; configFile: string | undefined; dtype: WeightDtype; runs: number; json: boolean } {
  const value = (flag: string): string | undefined => flagValue(argv, flag);
  const config = value('--config') ?? 'coca_ViT-B-32';
  if (!PRESET_NAMES.includes(config as PresetName)) throw new Error(`--config must be one of ${PRESET_NAMES.join(', ')}`);
  const dtype = resolveDtype(value('--dtype'), '--dtype');
  const runs = Number(value('--runs') ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  return { configs: [config as PresetName], configFile: value('--config-file'), dtype, runs, json: argv.includes('--json') };
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const gpu = await nodeBenchGpu();
  try {
    for (const config of nodeConfigs(args)) {
      const model = await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: args.dtype });
      try {
        const profile = await profileModel(model, args.runs);
        console.log(args.json ? JSON.stringify({ dtype: args.dtype, ...profile }) : `${formatProfile(profile)}\nWeights: ${args.dtype}.`);
      } finally {
        model.dispose();
      }
    }
  } finally {
    gpu.destroy();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`profile: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
