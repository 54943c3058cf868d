// The activations a loaded model keeps between and across its passes, in one table: each slot's dtype and
// its shape as a function of the call's sizes (llm.c's fill_in_activation_sizes). Every pass asks for a slot
// by its typed name, so a slot's size is written once, here. The towers' own scratch (vision.ts, text.ts,
// decoder.ts, blocks.ts) is named in those modules and lives in the same arena.
import type { Arena } from '../gpu/buffers';
import type { Gpu } from '../gpu/gpu';
import type { DType, Tensor } from '../gpu/tensor';
import { BEAM_RECORD_WORDS } from '../kernels/decode';
import type { CocaConfig } from './config';
import type { StepCaches } from './decoder';

interface SlotSpec {
  /** The arena's name for the slot; per-layer and per-set copies append their index. */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: (...sizes: number[]) => number[];
}

function slotTable(c: CocaConfig) {
  const S = c.vision.imageSize;
  const V = c.decoder.vocabSize;
  const L = c.text.contextLength;
  const imageTokens = c.vision.poolerQueries - 1;
  const textKV = 2 * c.text.width;
  const decoderKV = 2 * c.decoder.width;
  return {
    /** Preprocessed images [B, 3, S, S]. */
    pixels: { name: 'in.pixels', dtype: 'f32', shape: (images: number) => [images, 3, S, S] },
    /** Token ids [T, length], padded with 0. */
    tokens: { name: 'in.tokens', dtype: 'u32', shape: (texts: number, length: number) => [texts, length] },
    /** The pooler's queries after ln_q and the q projection [Q, E]: the same for every image, made at load. */
    poolerQueries: { name: 'pool.q', dtype: 'f32', shape: () => [c.vision.poolerQueries, c.embedDim] },

    /** The image tokens of the image a caption of a batch attends to [1, Q, D] (a row of the batch's vision output). */
    captionTokens: { name: 'caption.tokens', dtype: 'f32', shape: () => [1, c.vision.poolerQueries, c.embedDim] },
    /** Which image of the batch that is. */
    captionRow: { name: 'caption.row', dtype: 'u32', shape: () => [1] },
    /** A decoding step's input ids, one per row (beam): the previous step's choice, made on the GPU. */
    stepIds: { name: 'step.ids', dtype: 'u32', shape: (rows: number) => [rows] },
    /** Next-token logits of a decoding step [rows, V]. */
    stepLogits: { name: 'dec.logits', dtype: 'f32', shape: (rows: number) => [rows, V] },
    /** Row r of the next step continues the caches of row parents[r] (beam search's step writes them). */
    stepParents: { name: 'step.parents', dtype: 'u32', shape: (rows: number) => [rows] },
    /**
     * Each row's tokens so far, two sets [2, rows, L] (beam search reads one and writes the reordered rows to
     * the other): the repetition penalty's ids, and the caption the host reads back.
     */
    tokenHistory: { name: 'step.history', dtype: 'u32', shape: (rows: number) => [2, rows, L] },
    /** Beam search's running score per beam. */
    beamScores: { name: 'step.scores', dtype: 'f32', shape: (rows: number) => [rows] },
    /** Beam search's record of every step's ranked candidates, for the host [L, BEAM_RECORD_WORDS]. */
    beamRecords: { name: 'step.records', dtype: 'u32', shape: () => [L, BEAM_RECORD_WORDS] },
    /** log Σ exp(logits) per row: the normaliser of beam search's log-probabilities and of sampling. */
    stepLse: { name: 'step.lse', dtype: 'f32', shape: (rows: number) => [rows] },
    /** The k best candidates per row: ids and values. */
    pickIds: { name: 'pick.indices', dtype: 'u32', shape: (rows: number, k: number) => [rows, k] },
    pickValues: { name: 'pick.values', dtype: 'f32', shape: (rows: number, k: number) => [rows, k] },
    /** Per text layer and cache set: k | v of every position of every row [rows, L, 2·Wt]. */
    textCache: { name: 'cache.text', dtype: 'f32', shape: (rows: number) => [rows, L, textKV] },
    /** Per decoder layer and cache set: k | v of every position of every row [rows, L, 2·D]. */
    decoderCache: { name: 'cache.dec', dtype: 'f32', shape: (rows: number) => [rows, L, decoderKV] },
    /** Per decoder layer: cross-attention k | v of the captioned image's tokens [1, Q−1, 2·D], shared by every row. */
    crossCache: { name: 'cache.cross', dtype: 'f32', shape: () => [1, imageTokens, decoderKV] },

    /** Whole-sequence decoding (OpenCLIP's way; diagnostics): per decoder layer, each image's cross k | v [B, Q−1, 2·D]. */
    fullCrossKV: { name: 'full.cross', dtype: 'f32', shape: (images: number) => [images, imageTokens, decoderKV] },
    /** Logits of every position of every sequence [B·length, V]. */
    fullLogits: { name: 'full.logits', dtype: 'f32', shape: (positions: number) => [positions, V] },
    /** The best token of each sequence's last position, and its logit [B, 1]. */
    fullPickIds: { name: 'full.pick', dtype: 'u32', shape: (sequences: number) => [sequences, 1] },
    fullPickValues: { name: 'full.pick_values', dtype: 'f32', shape: (sequences: number) => [sequences, 1] },
  } as const satisfies Record<string, SlotSpec>;
}

type SlotTable = ReturnType<typeof slotTable>;
export type Slot = keyof SlotTable;
type SizesOf<K extends Slot> = Parameters<SlotTable[K]['shape']>;

/** Two cache sets: beam search gathers reordered rows from one into the other. */
export type CacheSet = 0 | 1;

export class Activations {
  private readonly table: SlotTable;

  constructor(
    private readonly gpu: Gpu,
    private readonly arena: Arena,
    private readonly config: CocaConfig,
  ) {
    this.table = slotTable(config);
  }

  /** The slot's tensor at these sizes; its buffer grows only when a larger size first appears. */
  get<K extends Slot>(slot: K, ...sizes: SizesOf<K>): Tensor {
    return this.tensor(slot, '', sizes);
  }

  /** One of a slot's indexed copies (per layer, per cache set). */
  at<K extends Slot>(slot: K, index: readonly number[], ...sizes: SizesOf<K>): Tensor {
    return this.tensor(slot, `.${index.join('.')}`, sizes);
  }

  private tensor(slot: Slot, suffix: string, sizes: readonly number[]): Tensor {
    const spec: SlotSpec = this.table[slot];
    return this.arena.tensor(`${spec.name}${suffix}`, spec.shape(...sizes), spec.dtype);
  }

  /** K/V caches for `rows` sequences of one caption, in cache set `set`. */
  stepCaches(rows: number, set: CacheSet = 0): StepCaches {
    return {
      maxLength: this.config.text.contextLength,
      text: (layer) => this.at('textCache', [set, layer], rows),
      decoder: (layer) => this.at('decoderCache', [set, layer], rows),
      cross: (layer) => this.at('crossCache', [layer]),
    };
  }

  /** Preprocessed images ([3, S, S] each) into the pixels slot. */
  uploadPixels(images: readonly Float32Array[]): Tensor {
    const S = this.config.vision.imageSize;
    const per = 3 * S * S;
    const pixels = this.get('pixels', images.length);
    const all = new Float32Array(per * images.length);
    images.forEach((img, i) => {
      if (img.length !== per) throw new RangeError(`image ${i} has ${img.length} values, expected 3×${S}×${S}`);
      all.set(img, i * per);
    });
    this.gpu.write(pixels, all);
    return pixels;
  }

  /** Token ids (the first `length` of each row) into the tokens slot. */
  uploadTokens(tokens: readonly Int32Array[], length: number): Tensor {
    const t = this.get('tokens', tokens.length, length);
    const all = new Uint32Array(tokens.length * length);
    tokens.forEach((row, i) => all.set(row.subarray(0, length), i * length));
    this.gpu.write(t, all);
    return t;
  }
}
