// What the attention variants share: the call's arguments, their checks, and the uniform struct.
import { ShapeError } from '../../errors';
import type { Gpu } from '../../gpu/gpu';
import { expectDtype, numel, type DType, type Tensor } from '../../gpu/tensor';
import { defineUniforms, type UniformValues } from '../../gpu/uniforms';

/** Scores of one GPU workgroup live in workgroup memory: rowsPerGroup × keys ≤ this (8 KiB of f32). */
export const SCORE_CAPACITY = 2048;
/** Longest key sequence one call accepts (one query row per GPU workgroup then). */
export const ATTENTION_MAX_KEYS = SCORE_CAPACITY;
/** Widest head; the GPU kernel's query tile holds a few rows of it. */
export const ATTENTION_MAX_HEAD_DIM = 128;

export const AttentionParams = defineUniforms({
  heads: 'u32',
  headDim: 'u32',
  queries: 'u32',
  keys: 'u32',
  queryPos0: 'u32',
  batch: 'u32',
  maskMode: 'u32',
  rowsPerGroup: 'u32',
  scale: 'f32',
  qOffset: 'u32',
  qRowStride: 'u32',
  qBatchStride: 'u32',
  kOffset: 'u32',
  kRowStride: 'u32',
  kBatchStride: 'u32',
  vOffset: 'u32',
  vRowStride: 'u32',
  vBatchStride: 'u32',
  outOffset: 'u32',
  outRowStride: 'u32',
  outBatchStride: 'u32',
  auxOffset: 'u32',
  auxRowStride: 'u32',
  auxBatchStride: 'u32',
});

export type AttentionMaskMode = 'none' | 'causal' | 'coca-cls' | 'explicit';

/** 'gpu': attention/gpu.wgsl; 'cpu': attention/cpu.wgsl (no workgroup memory, no barriers). */
export type AttentionKernel = 'gpu' | 'cpu';

/** The kernel family attention runs on when not told: CPU adapters get the barrier-free kernels. */
export function attentionFamily(gpu: Gpu, forced?: AttentionKernel): AttentionKernel {
  return forced ?? (gpu.facts.cpu ? 'cpu' : 'gpu');
}

/** The shader's maskMode values. */
const MASK_MODE_IDS: Record<AttentionMaskMode, number> = { none: 0, causal: 1, 'coca-cls': 2, explicit: 3 };

/**
 * Where a [batch, rows, heads·headDim] operand lives in a tensor, in elements: row i of batch item b
 * starts at offset + b·batchStride + i·rowStride. E.g. k inside a fused qkv output [L, 3D]:
 * { tensor: qkv, offset: D, rowStride: 3D }.
 */
export interface AttnInput {
  tensor: Tensor;
  /** Elements before row 0 of batch item 0 (a column offset, or a layer's place in a cache). Default 0. */
  offset?: number;
  rowStride: number;
  /** Elements between batch items; 0 shares the rows across the batch. Required when batch > 1. */
  batchStride?: number;
}

/**
 * The mask's data. 'coca-cls': token ids (u32 or i32) [keys − 1] per batch item, padding = 0.
 * 'explicit': additive f32 mask [queries, keys] per batch item; values ≤ −1e30 (−∞ included) block.
 */
export interface AttnAux {
  tensor: Tensor;
  offset?: number;
  batchStride: number;
  /** 'explicit' only: elements between the mask rows of consecutive queries. Default `keys`. */
  rowStride?: number;
}

export interface AttentionArgs {
  q: AttnInput;
  k: AttnInput;
  v: AttnInput;
  /** Written: [batch, queries, heads·headDim] through its offset and strides. Must not share a buffer with the inputs. */
  out: AttnInput;
  heads: number;
  headDim: number;
  queries: number;
  /** Valid keys (and values): with a KV cache, the filled length, not the cache's capacity. */
  keys: number;
  /** Default 1. */
  batch?: number;
  /**
   * Absolute position of query row 0 among the keys, for the causal masks: 0 for a whole sequence,
   * the current position when decoding one token from a KV cache (then keys = queryPos0 + 1). Default 0.
   */
  queryPos0?: number;
  /**
   * 'causal': query at position p sees keys 0..p. 'coca-cls': causal, and the row at position keys − 1
   * (CoCa's class token) also skips key j ≥ 1 when token j − 1 is padding (docs/COCA.md, text tower
   * step 3). 'explicit': additive mask from `aux`.
   */
  mask: AttentionMaskMode;
  aux?: AttnAux;
  label: string;
  /** Forces a kernel (tests, benchmarks); by default defaultAttentionKernel(). */
  kernel?: AttentionKernel;
}

/** Largest value a u32 uniform (an index) may take. */
const U32_MAX = 0xffffffff;

function expectCount(what: string, value: number, min: number, max = U32_MAX): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ShapeError(`${what} is ${value}; expected an integer in ${min}..${max}`);
  }
}

/** Elements a tensor holds, for the dtypes whose elements are one 32-bit word each. */
function wordCount(t: Tensor, dtypes: readonly DType[], what: string): number {
  expectDtype(t, dtypes, what);
  return numel(t.shape);
}

interface Placement {
  offset: number;
  rowStride: number;
  batchStride: number;
}

/** Checks that rows [0, rows) × columns [0, width) of every batch item lie inside the tensor. */
function place(what: string, t: Tensor, dtypes: readonly DType[], spec: { offset?: number; rowStride?: number; batchStride?: number }, rows: number, width: number, batch: number): Placement {
  const offset = spec.offset ?? 0;
  const rowStride = spec.rowStride ?? width;
  if (batch > 1 && spec.batchStride === undefined) {
    throw new ShapeError(`${what}: batch is ${batch}, so give a batchStride (0 to share ${t.label} across the batch)`);
  }
  const batchStride = spec.batchStride ?? 0;
  expectCount(`${what} offset`, offset, 0);
  expectCount(`${what} rowStride`, rowStride, 0);
  expectCount(`${what} batchStride`, batchStride, 0);
  const end = offset + (batch - 1) * batchStride + (rows - 1) * rowStride + width;
  const available = wordCount(t, dtypes, what);
  if (end > available) {
    throw new ShapeError(
      `${what}: reading ${batch}×${rows} rows of ${width} from ${t.label} [${t.shape}] (offset ${offset}, row stride ${rowStride}, ` +
        `batch stride ${batchStride}) needs ${end} elements, it has ${available}`,
    );
  }
  return { offset, rowStride, batchStride };
}


/** A checked call: the uniforms (all but the GPU kernel's rowsPerGroup) and the tensors to bind. */
export interface ResolvedAttention {
  values: Omit<UniformValues<typeof AttentionParams.fields>, 'rowsPerGroup'>;
  /** aux: the mask's tensor, or q again when the mask reads none (the binding must hold something). */
  tensors: { q: Tensor; k: Tensor; v: Tensor; aux: Tensor; out: Tensor };
  /** q, k and v can be read as vec4s: the head width and every offset and stride are multiples of 4. */
  vec4: boolean;
}

/** Checks a call against its tensors' extents and the kernels' limits (ShapeError otherwise). */
export function resolveAttention(args: AttentionArgs, maxGroups: number): ResolvedAttention {
  const { heads, headDim, queries, keys, mask, label } = args;
  const what = `attention ${label}`;
  const batch = args.batch ?? 1;
  const queryPos0 = args.queryPos0 ?? 0;
  expectCount(`${what}: heads`, heads, 1, maxGroups);
  expectCount(`${what}: headDim`, headDim, 1, ATTENTION_MAX_HEAD_DIM);
  expectCount(`${what}: keys`, keys, 1, ATTENTION_MAX_KEYS);
  expectCount(`${what}: queries`, queries, 1);
  expectCount(`${what}: batch`, batch, 1, maxGroups);
  expectCount(`${what}: queryPos0`, queryPos0, 0, 2 ** 31 - queries);
  const width = heads * headDim;
  const f32: DType[] = ['f32'];
  const q = place(`${what}: q`, args.q.tensor, f32, args.q, queries, width, batch);
  const k = place(`${what}: k`, args.k.tensor, f32, args.k, keys, width, batch);
  const v = place(`${what}: v`, args.v.tensor, f32, args.v, keys, width, batch);
  const out = place(`${what}: out`, args.out.tensor, f32, args.out, queries, width, batch);
  if (out.rowStride < width || (batch > 1 && out.batchStride < (queries - 1) * out.rowStride + width)) {
    throw new ShapeError(`${what}: out rows or batch items overlap (row stride ${out.rowStride}, batch stride ${out.batchStride}, ${queries} rows of ${width})`);
  }

  if (!Object.hasOwn(MASK_MODE_IDS, mask)) throw new ShapeError(`${what}: unknown mask '${String(mask)}'`);
  const aux = args.aux;
  let auxPlace: Placement = { offset: 0, rowStride: 0, batchStride: 0 };
  if (mask === 'coca-cls' || mask === 'explicit') {
    if (!aux) throw new ShapeError(`${what}: mask '${mask}' needs aux (${mask === 'coca-cls' ? 'token ids' : 'the additive mask'})`);
    auxPlace =
      mask === 'coca-cls'
        ? place(`${what}: aux tokens`, aux.tensor, ['u32', 'i32'], { ...aux, rowStride: 0 }, 1, keys - 1, batch)
        : place(`${what}: aux mask`, aux.tensor, f32, { rowStride: keys, ...aux }, queries, keys, batch);
  } else if (aux) {
    throw new ShapeError(`${what}: mask '${mask}' reads no aux; pass aux only with 'coca-cls' or 'explicit'`);
  }

  const inputs = [args.q.tensor, args.k.tensor, args.v.tensor, aux?.tensor ?? args.q.tensor];
  if (inputs.some((t) => t.buffer === args.out.tensor.buffer)) {
    // WebGPU forbids one buffer bound writable and read-only in the same dispatch, whatever the ranges.
    throw new ShapeError(`${what}: out ${args.out.tensor.label} shares a GPU buffer with an input; attention cannot run in place`);
  }
  return {
    values: {
      heads,
      headDim,
      queries,
      keys,
      queryPos0,
      batch,
      maskMode: MASK_MODE_IDS[mask],
      scale: 1 / Math.sqrt(headDim),
      qOffset: q.offset,
      qRowStride: q.rowStride,
      qBatchStride: q.batchStride,
      kOffset: k.offset,
      kRowStride: k.rowStride,
      kBatchStride: k.batchStride,
      vOffset: v.offset,
      vRowStride: v.rowStride,
      vBatchStride: v.batchStride,
      outOffset: out.offset,
      outRowStride: out.rowStride,
      outBatchStride: out.batchStride,
      auxOffset: auxPlace.offset,
      auxRowStride: auxPlace.rowStride,
      auxBatchStride: auxPlace.batchStride,
    },
    tensors: { q: args.q.tensor, k: args.k.tensor, v: args.v.tensor, aux: inputs[3]!, out: args.out.tensor },
    vec4: headDim % 4 === 0 && [q, k, v].every((p) => p.offset % 4 === 0 && p.rowStride % 4 === 0 && p.batchStride % 4 === 0),
  };
}
