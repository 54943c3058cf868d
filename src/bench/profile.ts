// `npm run profile [-- --config coca_ViT-B-32]`: where the time of each kind of pass goes, on the adapter at
// hand. For each pass (image encode, text encode, one decoding step): the whole pass as one submit, split
// into host time (recording and encoding) and GPU time; then every dispatch submitted alone, summed by kernel
// and layer kind, to find the kernel that dominates.
import { acquireDevice } from '../gpu/device';
import { nodeGpu } from '../gpu/dawn-node';
import { Gpu } from '../gpu/gpu';
import { nodeShaders } from '../gpu/shaders-node';
import type { Recorder } from '../gpu/recorder';
import { presetConfig, type PresetName } from '../model/config';
import { CocaModel } from '../model/coca';
import { recordDecodeStep } from '../model/decoder';
import { recordText } from '../model/text';
import { recordVision } from '../model/vision';
import { randomCheckpoint } from './random-checkpoint';

interface RecordedStepView {
  step: Parameters<Recorder['dispatch']>[0];
}

async function profile(gpu: Gpu, name: string, build: (rec: Recorder) => void): Promise<void> {
  // Whole pass, three times (the last counts).
  let host = 0;
  let wall = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const rec = gpu.recorder({ label: name });
    build(rec);
    const submitted = rec.submit();
    const t1 = performance.now();
    await submitted;
    await gpu.device.queue.onSubmittedWorkDone();
    const t2 = performance.now();
    host = t1 - t0;
    wall = t2 - t0;
  }
  const rec = gpu.recorder({ label: name });
  build(rec);
  const steps = (rec as unknown as { steps: RecordedStepView[] }).steps;
  const byKernel = new Map<string, { ms: number; n: number }>();
  let sum = 0;
  for (const { step } of steps) {
    const single = gpu.recorder({ label: 'one' });
    single.dispatch(step);
    await single.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    const again = gpu.recorder({ label: 'one' });
    again.dispatch(step);
    await again.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    sum += ms;
    const key = `${step.pipeline.shader.padEnd(12)} ${step.label.replace(/\.\d+\./g, '.N.').replace(/\d+$/, 'N')}`;
    const entry = byKernel.get(key) ?? { ms: 0, n: 0 };
    entry.ms += ms;
    entry.n++;
    byKernel.set(key, entry);
  }
  console.log(`\n## ${name}: ${steps.length} dispatches; one submit ${wall.toFixed(2)} ms (host part ${host.toFixed(2)} ms); dispatches alone sum to ${sum.toFixed(2)} ms`);
  for (const [key, { ms, n }] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(`${ms.toFixed(3).padStart(9)} ms  ${String(n).padStart(3)}×  ${key}`);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const config = presetConfig((argv[argv.indexOf('--config') + 1] as PresetName | undefined) ?? 'coca_ViT-B-32');
  const gpu = new Gpu(await acquireDevice({ gpu: nodeGpu() }), nodeShaders());
  console.log(`Adapter: ${gpu.adapterName}; config ${config.name}; fp16 weights`);
  const model = await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: 'fp16' });
  const { act } = model;
  const S = config.vision.imageSize;
  const L = config.text.contextLength;
  await model.caption(new Float32Array(3 * S * S), { maxLength: 4 });
  await profile(gpu, 'image encode (batch 1)', (rec) => recordVision(model.ctx(rec), config, act.get('pixels', 1), 1, model.poolerQueries));
  await profile(gpu, 'text encode (1 text)', (rec) => recordText(model.ctx(rec), config, act.get('tokens', 1, L), 1, L, true));
  await profile(gpu, 'decoding step (1 row, position 10)', (rec) => recordDecodeStep(model.ctx(rec), config, act.get('stepIds', 1), 1, 10, act.stepCaches(1), act.get('stepLogits', 1)));
  model.dispose();
  gpu.destroy();
}

await main();
