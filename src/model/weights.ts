// Checkpoint → GPU. Every tensor is read, converted and uploaded one at a time, so host memory holds
// one tensor at a time, never the checkpoint. Matrices that matmul reads are stored as fp16 pairs
// (the default) or f32; LayerNorm parameters, biases and embeddings added to the residual stream stay
// f32 (tiny, and where rounding would show first).
import type { Checkpoint } from '../io/checkpoint';
import { f32ArrayToF16, packF16Pairs } from '../io/fp16';
import type { Gpu } from '../gpu/gpu';
import { WeightStore } from '../gpu/buffers';
import type { Tensor } from '../gpu/tensor';
import { expectedTensors, validateCheckpoint, type CocaConfig } from './config';

export type WeightDtype = 'fp16' | 'fp32';

export interface WeightProgress {
  /** Bytes of the checkpoint read so far, and in all. */
  done: number;
  total: number;
  tensor: string;
}

/**
 * Stored transposed, so that every projection is y = x·Wᵀ with W [out, in] like a Linear:
 * OpenCLIP keeps these as x @ P with P [in, out].
 */
const TRANSPOSED = new Set(['visual.proj', 'text.text_projection', 'text_decoder.text_projection']);

/** The matrices that matmul (or the embedding/patch kernels) read: eligible for fp16. */
function isMatrix(name: string): boolean {
  return (
    /(in_proj_weight|out_proj\.weight|c_fc\.weight|c_proj\.weight|q_proj_weight|k_proj_weight|v_proj_weight)$/.test(name) ||
    name === 'visual.conv1.weight' ||
    name === 'text.token_embedding.weight' ||
    TRANSPOSED.has(name)
  );
}

/**
 * The pooler's q, k and v projections are separate matrices sharing one in_proj_bias [3D]; its thirds
 * are stored as `${POOL_BIAS}.q|k|v` (a sub-range binding would break the 256-byte offset alignment).
 */
export const POOL_BIAS = 'visual.attn_pool.attn.in_proj_bias';

export class CocaWeights {
  private constructor(
    readonly store: WeightStore,
    readonly dtype: WeightDtype,
    /** exp(logit_scale). */
    readonly logitScale: number,
  ) {}

  get(name: string): Tensor {
    return this.store.tensor(name);
  }

  static async load(
    gpu: Gpu,
    checkpoint: Checkpoint,
    config: CocaConfig,
    options: { dtype?: WeightDtype; onProgress?: (p: WeightProgress) => void; signal?: AbortSignal } = {},
  ): Promise<CocaWeights> {
    validateCheckpoint(checkpoint, config);
    const dtype = options.dtype ?? 'fp16';
    const expected = expectedTensors(config);
    const store = new WeightStore(gpu);
    const shapes = new Map<string, number[]>();
    for (const [name, shape] of expected) {
      if (name === 'logit_scale') continue;
      const stored = TRANSPOSED.has(name) ? [shape[1]!, shape[0]!] : shape;
      shapes.set(name, stored);
      store.add(name, stored, dtype === 'fp16' && isMatrix(name) ? 'f16x2' : 'f32');
    }
    const poolWidth = expected.get(POOL_BIAS)![0]! / 3;
    for (const part of ['q', 'k', 'v']) store.add(`${POOL_BIAS}.${part}`, [poolWidth], 'f32');
    store.allocate();
    const total = [...expected.keys()].reduce((sum, name) => sum + checkpoint.tensors.get(name)!.byteLength, 0);
    let done = 0;
    try {
      for (const [name, shape] of shapes) {
        options.signal?.throwIfAborted();
        let values = await checkpoint.readF32(name);
        if (TRANSPOSED.has(name)) values = transpose(values, shape[1]!, shape[0]!);
        const tensor = store.tensor(name);
        store.write(name, tensor.dtype === 'f16x2' ? packF16Pairs(f32ArrayToF16(values)) : values);
        if (name === POOL_BIAS) {
          ['q', 'k', 'v'].forEach((part, i) => store.write(`${POOL_BIAS}.${part}`, values.subarray(i * poolWidth, (i + 1) * poolWidth)));
        }
        done += checkpoint.tensors.get(name)!.byteLength;
        options.onProgress?.({ done, total, tensor: name });
      }
      const [logitScaleLog] = await checkpoint.readF32('logit_scale');
      done += checkpoint.tensors.get('logit_scale')!.byteLength;
      options.onProgress?.({ done, total, tensor: 'logit_scale' });
      return new CocaWeights(store, dtype, Math.exp(logitScaleLog!));
    } catch (error) {
      store.destroy();
      throw error;
    }
  }

  destroy(): void {
    this.store.destroy();
  }
}

/** [rows, cols] → [cols, rows]. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  }
  return out;
}
