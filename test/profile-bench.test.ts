// The bench on an adapter without timestamp-query (SwiftShader in older Chromium, many mobile GPUs): the
// *_gpu_* metrics are left out and a record says so, while every other metric is still measured. Simulated
// on lavapipe by a Gpu that is told its adapter has no timestamps.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countWork } from '../src/bench/harness';
import { randomImage, runModelBench, type BenchRecord } from '../src/bench/model-bench';
import { randomCheckpoint } from '../src/bench/random-checkpoint';
import { nodeGpu } from '../src/gpu/dawn-node';
import { acquireDevice } from '../src/gpu/device';
import { Gpu } from '../src/gpu/gpu';
import { nodeShaders } from '../src/gpu/shaders-node';
import { CocaModel } from '../src/model/coca';
import { parseOpenClipConfig } from '../src/model/config';

const tinyConfigFile = fileURLToPath(new URL('../../shared/golden/coca-tiny/open_clip_config.json', import.meta.url));

describe('bench without timestamp-query', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    const info = await acquireDevice({ gpu: nodeGpu() });
    gpu = new Gpu({ ...info, hasTimestampQuery: false }, nodeShaders());
  });
  afterAll(() => gpu?.destroy());

  it('omits the GPU-time metrics, says so, and measures the rest', async () => {
    const config = parseOpenClipConfig(JSON.parse(readFileSync(tinyConfigFile, 'utf8')) as unknown, 'coca-tiny');
    const records: BenchRecord[] = [];
    await runModelBench({ gpu, runtime: 'node', config, dtype: 'fp16', quick: true, emit: (r) => records.push(r) });

    const metrics = records.map((r) => r.metric);
    expect(metrics.filter((m) => m.includes('_gpu_'))).toEqual([]);
    const flag = records.find((r) => r.metric === 'gpu_timestamps')!;
    expect(flag.value).toBe(0);
    expect(flag.note).toMatch(/no timestamp-query: the \*_gpu_\* metrics are omitted/);
    expect(metrics).toEqual(expect.arrayContaining(['image_encode_ms', 'text_encode_ms', 'decode_ms_per_token', 'dispatches_per_image_encode', 'dispatches_per_token', 'host_waits_per_caption']));

    const model = await CocaModel.load(gpu, randomCheckpoint(config), config, { dtype: 'fp16' });
    try {
      const encode = await countWork(gpu, () => model.encodeImages([randomImage(config, 1)]));
      expect(records.find((r) => r.metric === 'dispatches_per_image_encode')!.value).toBe(encode.dispatches);
    } finally {
      model.dispose();
    }
  });
});
