// The model benchmark inside a Chromium page: records go to the console as JSON lines for bench.ts.
import { acquireDevice } from '../gpu/device';
import { Gpu } from '../gpu/gpu';
import { viteShaders } from '../gpu/shaders-vite';
import { presetConfig, type PresetName } from '../model/config';
import { resolveDtype } from '../options';
import { runModelBench } from './model-bench';

const params = new URLSearchParams(location.search);
const state = window as unknown as { benchDone?: boolean; benchError?: string };

async function run(): Promise<void> {
  const gpu = new Gpu(await acquireDevice(), viteShaders);
  try {
    for (const config of (params.get('configs') ?? 'coca_ViT-B-32').split(',') as PresetName[]) {
      await runModelBench({ gpu, runtime: 'chromium', config: presetConfig(config), dtype: resolveDtype(params.get('dtype') ?? undefined), quick: params.get('quick') === 'true', emit: (r) => console.log(JSON.stringify(r)) });
    }
  } finally {
    gpu.destroy();
  }
}

run().then(
  () => (state.benchDone = true),
  (error: unknown) => {
    state.benchError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.log(`bench-error: ${state.benchError}`);
    state.benchDone = true;
  },
);
