// Checkpoint → GPU. The runtime's weights are a fixed list of converted tensors (the layout), laid end
// to end in one byte stream: matrices that matmul reads as fp16 pairs (the default) or f32, LayerNorm
// parameters, biases and embeddings added to the residual stream as f32 (tiny, and where rounding would
// show first). The stream is what the browser cache stores in chunks, so a cached model goes to the GPU
// without touching the checkpoint again. Conversion is tensor by tensor: host memory holds one tensor at
// a time, never the checkpoint.
import type { Checkpoint, TensorInfo } from '../io/checkpoint';
import { assertFiniteWeights, F16_OVERFLOW } from '../io/tensor-info';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToF16, f32BitsToF16Bits, packF16Pairs } from '../io/fp16';
import type { Gpu } from '../gpu/gpu';
import { WeightStore } from '../gpu/buffers';
import { bytesFor, numel, type Tensor } from '../gpu/tensor';
import { expectedTensors, validateCheckpoint, type CocaConfig } from './config';
import { resolveDtype, type WeightDtype } from '../options';

/**
 * Bumped whenever the converted layout changes (tensor order, transposes, packing): a cache written by
 * another version is then not read back as if it were this one.
 */
export const WEIGHT_LAYOUT_VERSION = 1;

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

/** One runtime tensor: where its converted bytes sit in the stream and how they are made. */
export interface WeightEntry {
  /** The runtime's name (the checkpoint's, or `${POOL_BIAS}.q` for a derived third). */
  name: string;
  /** The checkpoint tensor it is made from. */
  source: string;
  /** Shape as stored (transposed matrices swapped). */
  shape: number[];
  dtype: 'f16x2' | 'f32';
  /** 'copy', 'transpose' ([r, c] → [c, r]), or a range of the source's elements. */
  transform: { kind: 'copy' } | { kind: 'transpose'; rows: number; cols: number } | { kind: 'slice'; start: number; end: number };
  byteOffset: number;
  byteLength: number;
}

export interface WeightLayout {
  dtype: WeightDtype;
  entries: WeightEntry[];
  /** Length of the whole converted stream. */
  byteLength: number;
}

/** The converted tensors a config implies, in the checkpoint's state-dict order; derived thirds follow their source. */
export function weightLayout(config: CocaConfig, dtype: WeightDtype): WeightLayout {
  const entries: WeightEntry[] = [];
  let offset = 0;
  const push = (entry: Omit<WeightEntry, 'byteOffset' | 'byteLength'>): void => {
    const byteLength = bytesFor(entry.dtype, numel(entry.shape));
    entries.push({ ...entry, byteOffset: offset, byteLength });
    offset += byteLength; // every length is whole 4-byte words, so every entry stays word-aligned
  };
  for (const [name, shape] of expectedTensors(config)) {
    if (name === 'logit_scale') continue; // a scalar the host keeps (exp'd), never a GPU tensor
    const matrixDtype = dtype === 'fp16' && isMatrix(name) ? 'f16x2' : 'f32';
    if (TRANSPOSED.has(name)) {
      push({ name, source: name, shape: [shape[1]!, shape[0]!], dtype: matrixDtype, transform: { kind: 'transpose', rows: shape[0]!, cols: shape[1]! } });
    } else {
      push({ name, source: name, shape: [...shape], dtype: matrixDtype, transform: { kind: 'copy' } });
    }
    if (name === POOL_BIAS) {
      const third = shape[0]! / 3;
      ['q', 'k', 'v'].forEach((part, i) =>
        push({ name: `${POOL_BIAS}.${part}`, source: name, shape: [third], dtype: 'f32', transform: { kind: 'slice', start: i * third, end: (i + 1) * third } }),
      );
    }
  }
  return { dtype, entries, byteLength: offset };
}

/** A source tensor (as f32) → the entry's stored bytes. */
export function convertEntry(entry: WeightEntry, values: Float32Array): Uint8Array {
  const t = entry.transform;
  let stored: Float32Array | Uint32Array;
  if (t.kind === 'transpose') {
    // Straight into the stored form: no second full-size f32 copy of a 100 MB projection.
    stored = entry.dtype === 'f16x2' ? transposeToF16Pairs(values, t.rows, t.cols) : transpose(values, t.rows, t.cols);
  } else {
    const out = t.kind === 'slice' ? values.subarray(t.start, t.end) : values;
    stored = entry.dtype === 'f16x2' ? packF16Pairs(f32ArrayToF16(out)) : out;
  }
  return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
}

/** Source tensors up to this size stay in memory after conversion: the pooler's bias is read once for its four entries. */
const KEEP_SOURCE_BYTES = 1 << 20;

/**
 * Reads and converts entries from a checkpoint, keeping the last source tensor so that entries made
 * from the same tensor (the pooler's bias and its thirds) read it once.
 */
export class EntryConverter {
  private last: { source: string; values: Float32Array } | null = null;
  /** Milliseconds spent waiting for checkpoint bytes (the rest of convert() is conversion). */
  readMs = 0;

  constructor(
    readonly checkpoint: Checkpoint,
    /** Called with the checkpoint bytes of each source tensor as it is read. */
    private readonly onRead?: (bytes: number, source: string) => void,
  ) {}

  async convert(entry: WeightEntry): Promise<Uint8Array> {
    if (this.last?.source !== entry.source) {
      this.last = null; // let the previous tensor go before the next one is read
      const started = performance.now();
      const values = await this.checkpoint.readF32(entry.source);
      this.readMs += performance.now() - started;
      // Entries sharing a source (the pooler's bias and its thirds) share its dtype, so one check serves them.
      assertFiniteWeights(values, entry.source, this.checkpoint.source.name, storedLimit(entry));
      this.onRead?.(this.checkpoint.tensors.get(entry.source)!.byteLength, entry.source);
      if (values.byteLength > KEEP_SOURCE_BYTES) return convertEntry(entry, values);
      this.last = { source: entry.source, values };
    }
    return convertEntry(entry, this.last.values);
  }

  /**
   * Bytes [from, to) of a 'copy' entry's stored form (offsets relative to the entry, multiples of 4),
   * reading only the source elements they hold: a chunk that ends inside a 100 MB embedding costs its
   * share of the download, not the whole tensor.
   */
  async convertRange(entry: WeightEntry, from: number, to: number): Promise<Uint8Array> {
    const info = this.checkpoint.tensors.get(entry.source)!;
    const range = sourceRange(entry, info, from, to);
    const started = performance.now();
    const raw = await this.checkpoint.source.read(range.byteOffset, range.byteLength);
    this.readMs += performance.now() - started;
    this.onRead?.(raw.byteLength, entry.source);
    const values =
      info.dtype === 'F32'
        ? new Float32Array(raw.buffer, raw.byteOffset, range.count)
        : (info.dtype === 'F16' ? f16ArrayToF32 : bf16ArrayToF32)(new Uint16Array(raw.buffer, raw.byteOffset, range.count));
    const firstIndex = (range.byteOffset - info.byteOffset) / (info.dtype === 'F32' ? 4 : 2);
    assertFiniteWeights(values, entry.source, this.checkpoint.source.name, storedLimit(entry), firstIndex);
    const stored = entry.dtype === 'f16x2' ? packF16Pairs(f32ArrayToF16(values)) : values;
    return new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
  }

  /** exp(logit_scale), the similarity scale. */
  async logitScale(): Promise<number> {
    const log = await this.checkpoint.readF32('logit_scale');
    assertFiniteWeights(log, 'logit_scale', this.checkpoint.source.name);
    return Math.exp(log[0]!);
  }
}

/** NaN and ±Inf are corruption; weights stored as fp16 must also fit a half. */
function storedLimit(entry: WeightEntry): number {
  return entry.dtype === 'f16x2' ? F16_OVERFLOW : Infinity;
}

/** The checkpoint bytes holding stored bytes [from, to) of a 'copy' entry (offsets relative to the entry, multiples of 4). */
export function sourceRange(entry: WeightEntry, info: TensorInfo, from: number, to: number): { byteOffset: number; byteLength: number; count: number } {
  if (entry.transform.kind !== 'copy') throw new Error(`sourceRange: ${entry.name} is not a plain copy`);
  const perWord = entry.dtype === 'f16x2' ? 2 : 1;
  const first = (from / 4) * perWord;
  const end = Math.min(numel(entry.shape), (to / 4) * perWord);
  const elementBytes = info.dtype === 'F32' ? 4 : 2;
  return { byteOffset: info.byteOffset + first * elementBytes, byteLength: (end - first) * elementBytes, count: end - first };
}

export class CocaWeights {
  private constructor(
    readonly store: WeightStore,
    readonly layout: WeightLayout,
    /** exp(logit_scale). */
    readonly logitScale: number,
  ) {}

  get dtype(): WeightDtype {
    return this.layout.dtype;
  }

  get(name: string): Tensor {
    return this.store.tensor(name);
  }

  /** GPU buffers for every entry of `layout`, allocated and not yet written (see writeStream). */
  static allocate(gpu: Gpu, layout: WeightLayout, logitScale: number): CocaWeights {
    const store = new WeightStore(gpu);
    for (const entry of layout.entries) store.add(entry.name, entry.shape, entry.dtype);
    store.allocate();
    return new CocaWeights(store, layout, logitScale);
  }

  /**
   * Uploads `bytes`, the converted stream from `streamOffset` on. The piece may start and end inside
   * tensors (cache chunks do): each overlapped tensor gets its part at the matching place.
   */
  writeStream(gpu: Gpu, streamOffset: number, bytes: Uint8Array): void {
    const end = streamOffset + bytes.byteLength;
    const entries = this.layout.entries;
    for (let i = firstEntryAt(entries, streamOffset); i < entries.length && entries[i]!.byteOffset < end; i++) {
      const entry = entries[i]!;
      const from = Math.max(streamOffset, entry.byteOffset);
      const to = Math.min(end, entry.byteOffset + entry.byteLength);
      if (to <= from) continue;
      const tensor = this.store.tensor(entry.name);
      const part = { ...tensor, byteOffset: tensor.byteOffset + (from - entry.byteOffset), byteLength: to - from };
      gpu.write(part, bytes.subarray(from - streamOffset, to - streamOffset));
    }
  }

  /** Straight from a checkpoint (Node CLI, tests): read, convert and upload one tensor at a time. */
  static async load(
    gpu: Gpu,
    checkpoint: Checkpoint,
    config: CocaConfig,
    options: { dtype?: WeightDtype; onProgress?: (p: WeightProgress) => void; signal?: AbortSignal } = {},
  ): Promise<CocaWeights> {
    validateCheckpoint(checkpoint, config);
    const layout = weightLayout(config, resolveDtype(options.dtype));
    const total = [...expectedTensors(config).keys()].reduce((sum, name) => sum + checkpoint.tensors.get(name)!.byteLength, 0);
    let done = 0;
    const converter = new EntryConverter(checkpoint, (bytes, tensor) => {
      done += bytes;
      options.onProgress?.({ done, total, tensor });
    });
    const weights = CocaWeights.allocate(gpu, layout, 1);
    try {
      for (const entry of layout.entries) {
        options.signal?.throwIfAborted();
        weights.writeStream(gpu, entry.byteOffset, await converter.convert(entry));
      }
      const logitScale = await converter.logitScale();
      done += checkpoint.tensors.get('logit_scale')!.byteLength;
      options.onProgress?.({ done, total, tensor: 'logit_scale' });
      return new CocaWeights(weights.store, layout, logitScale);
    } catch (error) {
      weights.destroy();
      throw error;
    }
  }

  destroy(): void {
    this.store.destroy();
  }
}

/** Index of the entry holding stream byte `offset` (entries are sorted and contiguous). */
export function firstEntryAt(entries: readonly WeightEntry[], offset: number): number {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (entries[mid]!.byteOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** [rows, cols] f32 → [cols, rows] as fp16 pairs, the same bits as packF16Pairs(f32ArrayToF16(transpose(…))). */
export function transposeToF16Pairs(values: Float32Array, rows: number, cols: number): Uint32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const words = new Uint32Array(Math.ceil(values.length / 2));
  let k = 0;
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++, k++) {
      const half = f32BitsToF16Bits(bits[r * cols + c]!);
      if (k & 1) words[k >>> 1] = (words[k >>> 1]! | (half << 16)) >>> 0;
      else words[k >>> 1] = half;
    }
  }
  return words;
}

/** [rows, cols] → [cols, rows]. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  }
  return out;
}
