// Full-size model configs with weights generated in place (no download): a Checkpoint whose tensors are
// a cheap deterministic pattern with sensible scales (LayerNorm weights near 1, small matrices), so the
// benchmark exercises exactly the loading and inference code real checkpoints do.
import type { Checkpoint } from '../io/checkpoint';
import { MemorySource } from '../io/source';
import type { TensorInfo } from '../io/tensor-info';
import { expectedTensors, type CocaConfig } from '../model/config';

export function randomCheckpoint(config: CocaConfig, seed = 1): Checkpoint {
  const tensors = new Map<string, TensorInfo>();
  let offset = 0;
  for (const [name, shape] of expectedTensors(config)) {
    const byteLength = 4 * shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { name, dtype: 'F32', shape, byteOffset: offset, byteLength });
    offset += byteLength;
  }
  const readF32 = async (name: string): Promise<Float32Array> => {
    const info = tensors.get(name);
    if (!info) throw new Error(`no tensor ${name}`);
    const n = info.byteLength / 4;
    const out = new Float32Array(n);
    const isNormWeight = /ln_\w+\.weight$|ln_\w+_kv\.weight$/.test(name);
    const fanIn = info.shape[info.shape.length - 1] ?? 1;
    const scale = name === 'logit_scale' ? 0 : isNormWeight ? 0.1 : 1 / Math.sqrt(fanIn);
    let state = (seed * 2654435761 + name.length * 97 + n) >>> 0;
    for (let i = 0; i < n; i++) {
      // xorshift32: fast, deterministic, roughly uniform in [-1, 1)
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[i] = ((state >>> 0) / 2147483648 - 1) * scale + (isNormWeight ? 1 : 0);
    }
    if (name === 'logit_scale') out[0] = Math.log(100);
    return out;
  };
  return {
    kind: 'safetensors',
    source: new MemorySource(new Uint8Array(0), `random ${config.name}`),
    tensors,
    readF32,
    async readBytes(name) {
      const values = await readF32(name);
      return new Uint8Array(values.buffer);
    },
    async readPackedF16() {
      throw new Error('randomCheckpoint: read as f32 and pack');
    },
  };
}
