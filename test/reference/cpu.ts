// Float64 CPU references for every GPU kernel. The kernel tests check WGSL results against these, so
// they are written to be obviously correct: plain loops, row-major layouts, no optimisation.
// Inputs may be Float32Array (what the GPU gets) or Float64Array; outputs are always Float64Array.

export type Floats = Float32Array | Float64Array;

/** A reference was called with arrays whose lengths do not fit the shape it was given. */
export class ReferenceShapeError extends Error {
  override name = 'ReferenceShapeError';
}

function expectLength(what: string, array: ArrayLike<number>, length: number): void {
  if (array.length !== length) {
    throw new ReferenceShapeError(`${what} has ${array.length} elements, expected ${length}`);
  }
}

/** Rows of a row-major [rows, cols] array, checking that cols divides its length. */
function rowsOf(what: string, array: ArrayLike<number>, cols: number): number {
  if (cols <= 0 || array.length % cols !== 0) {
    throw new ReferenceShapeError(`${what} has ${array.length} elements, not a multiple of ${cols}`);
  }
  return array.length / cols;
}

// ---------------------------------------------------------------------------------------------
// erf and GELU

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π, the double nearest 1.12837916709551257…
const ONE_OVER_SQRT_PI = 0.5641895835477563; // 1/√π

/**
 * e^(−a²) without the rounding of a² itself, which would cost up to a²·2⁻⁵³ relative error: a = hi + lo
 * with hi of 24 bits, so hi² is exact and a² = hi² + lo·(a + hi).
 */
function expMinusSquare(a: number): number {
  const hi = Math.fround(a);
  return Math.exp(-hi * hi) * Math.exp(-(a - hi) * (a + hi));
}

/**
 * erf(x) to within 1e-15 (5.6e-16 at worst against CPython's math.erf on a 0.001 grid over [−7, 7]). Below |x| = 1 it sums the
 * Maclaurin series erf(x) = 2/√π · Σ (−1)ⁿ x^(2n+1) / (n!·(2n+1)), whose terms shrink fast there.
 * From 1 on it takes 1 − erfc(x), with erfc from Laplace's continued fraction
 *   erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated from 200 levels down (enough from x = 1 on); erfc ≤ 0.16 there, so its rounding stays
 * below erf's last bit.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x); // erfc(6) ≈ 2e-17, below half an ulp of 1
  if (a < 1) {
    let power = a; // (−1)ⁿ a^(2n+1) / n!
    let sum = a;
    for (let n = 1; Math.abs(power) > 1e-17 * Math.abs(sum); n++) {
      power *= (-a * a) / n;
      sum += power / (2 * n + 1);
    }
    return Math.sign(x) * TWO_OVER_SQRT_PI * sum;
  }
  let fraction = a;
  for (let n = 200; n >= 1; n--) fraction = a + n / 2 / fraction;
  const erfc = (ONE_OVER_SQRT_PI * expMinusSquare(a)) / fraction;
  return Math.sign(x) * (1 - erfc);
}

/** Exact GELU, 0.5·x·(1 + erf(x/√2)), of one value. */
export function geluScalar(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** Elementwise exact GELU. */
export function gelu(x: Floats): Float64Array {
  return Float64Array.from(x, geluScalar);
}

// ---------------------------------------------------------------------------------------------
// Linear layers

export interface MatmulShape {
  /** Rows of x per batch item. */
  M: number;
  /** Input width: columns of x and of w. */
  K: number;
  /** Output width: rows of w. */
  N: number;
}

export interface MatmulOptions {
  /** Apply exact GELU to x·Wᵀ + b. */
  gelu?: boolean;
  /** [B·M, N], added after the GELU (the transformer's residual connection). */
  residual?: Floats;
  /** Batch count B: x is [B, M, K] and w is shared. Default 1. */
  batch?: number;
}

/** y = x·Wᵀ + b (PyTorch Linear), then optional GELU, then optional + residual. x: [B, M, K], w: [N, K] → [B, M, N]. */
export function matmul(
  x: Floats,
  w: Floats,
  shape: MatmulShape,
  b?: Floats,
  opts: MatmulOptions = {},
): Float64Array {
  const { M, K, N } = shape;
  const rows = (opts.batch ?? 1) * M; // the batch shares w, so it is just more rows
  expectLength('matmul x', x, rows * K);
  expectLength('matmul w', w, N * K);
  if (b) expectLength('matmul bias', b, N);
  if (opts.residual) expectLength('matmul residual', opts.residual, rows * N);
  const y = new Float64Array(rows * N);
  for (let i = 0; i < rows; i++) {
    for (let n = 0; n < N; n++) {
      let sum = b ? b[n] : 0;
      for (let k = 0; k < K; k++) sum += x[i * K + k] * w[n * K + k];
      if (opts.gelu) sum = geluScalar(sum);
      if (opts.residual) sum += opts.residual[i * N + n];
      y[i * N + n] = sum;
    }
  }
  return y;
}

/** Elementwise a + b. */
export function add(a: Floats, b: Floats): Float64Array {
  expectLength('add b', b, a.length);
  return Float64Array.from(a, (value, i) => value + b[i]);
}

// ---------------------------------------------------------------------------------------------
// Normalisation

export interface LayerNormResult {
  /** [M, D] normalized rows. */
  out: Float64Array;
  /** [M, D] the rows that were normalized: x + residual, or x. The GPU kernel writes this back as the new residual stream. */
  sum: Float64Array;
}

/** LayerNorm over the last axis (biased variance, as PyTorch). x, residual: [M, D]; gamma, beta: [D]. */
export function layerNorm(
  x: Floats,
  gamma: Floats,
  beta: Floats,
  eps = 1e-5,
  residual?: Floats,
): LayerNormResult {
  const D = gamma.length;
  const M = rowsOf('layerNorm x', x, D);
  expectLength('layerNorm beta', beta, D);
  const sum = residual ? add(x, residual) : Float64Array.from(x);
  const out = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    const row = sum.subarray(m * D, (m + 1) * D);
    const mean = row.reduce((acc, v) => acc + v, 0) / D;
    const variance = row.reduce((acc, v) => acc + (v - mean) ** 2, 0) / D;
    const invStd = 1 / Math.sqrt(variance + eps);
    for (let d = 0; d < D; d++) out[m * D + d] = (row[d] - mean) * invStd * gamma[d] + beta[d];
  }
  return { out, sum };
}

/** Each row divided by its Euclidean norm. x: [M, D]. */
export function l2Normalize(x: Floats, D: number): Float64Array {
  const M = rowsOf('l2Normalize x', x, D);
  const out = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    let squares = 0;
    for (let d = 0; d < D; d++) squares += x[m * D + d] ** 2;
    const norm = Math.sqrt(squares);
    for (let d = 0; d < D; d++) out[m * D + d] = x[m * D + d] / norm;
  }
  return out;
}

/** Softmax of each row, shifted by the row max so large logits do not overflow. x: [M, N]. */
export function softmaxRows(x: Floats, N: number): Float64Array {
  const M = rowsOf('softmaxRows x', x, N);
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    let max = -Infinity;
    for (let n = 0; n < N; n++) max = Math.max(max, x[m * N + n]);
    let total = 0;
    for (let n = 0; n < N; n++) total += out[m * N + n] = Math.exp(x[m * N + n] - max);
    for (let n = 0; n < N; n++) out[m * N + n] /= total;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Embeddings

/** Rows of table [V, D] picked by ids → [L, D]. */
export function embeddingGather(table: Floats, ids: Int32Array, D: number): Float64Array {
  const V = rowsOf('embeddingGather table', table, D);
  const out = new Float64Array(ids.length * D);
  ids.forEach((id, row) => {
    if (id < 0 || id >= V) throw new ReferenceShapeError(`embeddingGather id ${id} outside [0, ${V})`);
    for (let d = 0; d < D; d++) out[row * D + d] = table[id * D + d];
  });
  return out;
}

export interface PatchEmbedShape {
  /** Channels. */
  C: number;
  /** Image height and width, multiples of P. */
  H: number;
  W: number;
  /** Patch size = conv kernel = stride. */
  P: number;
}

/**
 * Conv2d with kernel = stride = P and no bias, as the vision tower's conv1.
 * pixels: [C, H, W], convWeight: [Wd, C, P, P] → [(H/P)·(W/P), Wd], patches in row-major order.
 */
export function patchEmbed(pixels: Floats, convWeight: Floats, shape: PatchEmbedShape): Float64Array {
  const { C, H, W, P } = shape;
  if (H % P !== 0 || W % P !== 0) throw new ReferenceShapeError(`patchEmbed ${H}×${W} is not a multiple of ${P}`);
  expectLength('patchEmbed pixels', pixels, C * H * W);
  const width = rowsOf('patchEmbed convWeight', convWeight, C * P * P);
  const patchesPerRow = W / P;
  const patches = (H / P) * patchesPerRow;
  const out = new Float64Array(patches * width);
  for (let p = 0; p < patches; p++) {
    const top = Math.floor(p / patchesPerRow) * P;
    const left = (p % patchesPerRow) * P;
    for (let o = 0; o < width; o++) {
      let sum = 0;
      for (let c = 0; c < C; c++) {
        for (let dy = 0; dy < P; dy++) {
          for (let dx = 0; dx < P; dx++) {
            const pixel = pixels[(c * H + top + dy) * W + left + dx];
            sum += pixel * convWeight[((o * C + c) * P + dy) * P + dx];
          }
        }
      }
      out[p * width + o] = sum;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Picking tokens

/** Index of the largest value; the first one on ties (as torch.argmax). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export interface TopK {
  indices: Int32Array;
  values: Float64Array;
}

/** The k largest values, by value descending and on ties by lower index first. */
export function topK(row: ArrayLike<number>, k: number): TopK {
  if (k < 0 || k > row.length) throw new ReferenceShapeError(`topK k = ${k} with ${row.length} values`);
  const order = Array.from({ length: row.length }, (_, i) => i);
  order.sort((a, b) => row[b] - row[a] || a - b);
  const indices = Int32Array.from(order.slice(0, k));
  return { indices, values: Float64Array.from(indices, (i) => row[i]) };
}

// ---------------------------------------------------------------------------------------------
// Attention

/** 'none', 'causal', CoCa's text-tower mask, or an explicit additive [Lq, Lk] mask (−Infinity = blocked). */
export type AttentionMask = 'none' | 'causal' | 'coca-cls' | Floats;

/**
 * CoCa's text-tower mask (docs/COCA.md, "Text tower" step 3) for tokens [L] → additive [L+1, L+1]
 * (77×77 for the 76-token context): causal everywhere, and the last row (the class token) also blocks
 * key j ≥ 1 when tokens[j−1] is padding (0). The shift by one is how OpenCLIP builds it.
 */
export function cocaTextMask(tokens: Int32Array): Float64Array {
  const L = tokens.length + 1;
  const mask = new Float64Array(L * L);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const future = j > i;
      const clsSeesPadding = i === L - 1 && j >= 1 && tokens[j - 1] === 0;
      mask[i * L + j] = future || clsSeesPadding ? -Infinity : 0;
    }
  }
  return mask;
}

export interface AttentionInput {
  /** [Lq, H·dh] */
  q: Floats;
  /** [Lk, H·dh] */
  k: Floats;
  /** [Lk, H·dh] */
  v: Floats;
  /** H: head h uses columns h·dh … (h+1)·dh − 1. */
  heads: number;
  /** dh */
  headDim: number;
  mask: AttentionMask;
  /** [Lk − 1] token ids, for mask 'coca-cls'. */
  tokens?: Int32Array;
  /** Position of query row 0 among the keys, for 'causal' with a KV cache (Lq < Lk). Default 0. */
  qOffset?: number;
}

/** Additive mask for 'causal' / 'coca-cls' / explicit masks as a lookup (query i, key j). */
function maskLookup(input: AttentionInput, Lq: number, Lk: number): (i: number, j: number) => number {
  const { mask, qOffset = 0 } = input;
  if (mask === 'none') return () => 0;
  if (mask === 'causal') return (i, j) => (j > i + qOffset ? -Infinity : 0);
  if (mask === 'coca-cls') {
    if (!input.tokens) throw new ReferenceShapeError("attention mask 'coca-cls' needs tokens");
    if (Lq !== Lk || qOffset !== 0) throw new ReferenceShapeError("attention mask 'coca-cls' needs Lq = Lk and no qOffset");
    expectLength('attention tokens', input.tokens, Lk - 1);
    const explicit = cocaTextMask(input.tokens);
    return (i, j) => explicit[i * Lk + j];
  }
  expectLength('attention mask', mask, Lq * Lk);
  return (i, j) => mask[i * Lk + j];
}

/** Per head: softmax(q·kᵀ/√dh + mask)·v. Returns [Lq, H·dh]. */
export function attention(input: AttentionInput): Float64Array {
  const { q, k, v, heads, headDim } = input;
  const width = heads * headDim;
  const Lq = rowsOf('attention q', q, width);
  const Lk = rowsOf('attention k', k, width);
  expectLength('attention v', v, Lk * width);
  const maskAt = maskLookup(input, Lq, Lk);
  const scale = 1 / Math.sqrt(headDim);
  const out = new Float64Array(Lq * width);
  for (let h = 0; h < heads; h++) {
    const column = h * headDim;
    for (let i = 0; i < Lq; i++) {
      const scores = new Float64Array(Lk);
      for (let j = 0; j < Lk; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[i * width + column + d] * k[j * width + column + d];
        scores[j] = dot * scale + maskAt(i, j);
      }
      const weights = softmaxRows(scores, Lk);
      for (let j = 0; j < Lk; j++) {
        for (let d = 0; d < headDim; d++) out[i * width + column + d] += weights[j] * v[j * width + column + d];
      }
    }
  }
  return out;
}

/** nn.MultiheadAttention weights: packed in_proj_weight, or separate q/k/v weights (CoCa's attentional pooler). */
export type InProjection =
  | { inProjWeight: Floats }
  | { qProjWeight: Floats; kProjWeight: Floats; vProjWeight: Floats };

export type MultiHeadAttentionHeadsInput = InProjection & {
  /** [Lq, Dq] */
  xq: Floats;
  /** [Lk, Dkv] */
  xkv: Floats;
  /** [3D]: q, k, v biases. */
  inProjBias: Floats;
  heads: number;
  mask: AttentionMask;
  tokens?: Int32Array;
  qOffset?: number;
};

export type MultiHeadAttentionInput = MultiHeadAttentionHeadsInput & {
  /** [D, D] */
  outProjWeight: Floats;
  /** [D] */
  outProjBias: Floats;
};

/**
 * nn.MultiheadAttention's forward without its out_proj → [Lq, D], the heads side by side:
 * q = xq·Wqᵀ + bq, k = xkv·Wkᵀ + bk, v = xkv·Wvᵀ + bv, attention per head.
 * Packed in_proj_weight [3D, D] holds Wq, Wk, Wv stacked; separate ones are Wq [D, Dq], Wk and Wv [D, Dkv].
 */
export function multiHeadAttentionHeads(input: MultiHeadAttentionHeadsInput): { heads: Float64Array; k: Float64Array; v: Float64Array } {
  const D = rowsOf('multiHeadAttentionFull inProjBias', input.inProjBias, 3);
  const [wq, wk, wv] =
    'inProjWeight' in input
      ? [0, 1, 2].map((part) => input.inProjWeight.subarray(part * D * D, (part + 1) * D * D))
      : [input.qProjWeight, input.kProjWeight, input.vProjWeight];
  const Dq = rowsOf('multiHeadAttentionFull q weight', wq, D);
  const Dkv = rowsOf('multiHeadAttentionFull k weight', wk, D);
  expectLength('multiHeadAttentionFull v weight', wv, D * Dkv);
  const Lq = rowsOf('multiHeadAttentionFull xq', input.xq, Dq);
  const Lk = rowsOf('multiHeadAttentionFull xkv', input.xkv, Dkv);
  const bias = (part: number) => input.inProjBias.subarray(part * D, (part + 1) * D);

  const q = matmul(input.xq, wq, { M: Lq, K: Dq, N: D }, bias(0)); // [Lq, D]
  const k = matmul(input.xkv, wk, { M: Lk, K: Dkv, N: D }, bias(1)); // [Lk, D]
  const v = matmul(input.xkv, wv, { M: Lk, K: Dkv, N: D }, bias(2)); // [Lk, D]
  const { heads, mask, tokens, qOffset } = input;
  if (D % heads !== 0) throw new ReferenceShapeError(`multiHeadAttentionFull width ${D} not divisible by ${heads} heads`);
  return { heads: attention({ q, k, v, heads, headDim: D / heads, mask, tokens, qOffset }), k, v }; // [Lq, D]
}

/** The whole PyTorch nn.MultiheadAttention forward → [Lq, D]: multiHeadAttentionHeads, then out_proj. */
export function multiHeadAttentionFull(input: MultiHeadAttentionInput): Float64Array {
  const mixed = multiHeadAttentionHeads(input).heads;
  const D = rowsOf('multiHeadAttentionFull inProjBias', input.inProjBias, 3);
  return matmul(mixed, input.outProjWeight, { M: mixed.length / D, K: D, N: D }, input.outProjBias);
}

// ---------------------------------------------------------------------------------------------
// Half precision

const F16_MAX = 65504;
const F16_MIN_NORMAL_EXPONENT = -14;
const F16_MANTISSA_BITS = 10;

function roundHalfToEven(t: number): number {
  const floor = Math.floor(t);
  const fraction = t - floor;
  if (fraction !== 0.5) return Math.round(t);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** floor(log2(a)) exactly, for a > 0 (Math.log2 alone can land on the wrong side of a power of two). */
function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * The nearest half-precision value (ties to even), as a number: the same value the GPU sees after a
 * f32 → f16 conversion. Subnormals share the smallest normal's step 2^−24; past 65504 it overflows to ±∞.
 */
export function roundToF16Scalar(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  const step = 2 ** (Math.max(exponentOf(a), F16_MIN_NORMAL_EXPONENT) - F16_MANTISSA_BITS);
  const rounded = roundHalfToEven(a / step) * step; // a / step is exact: step is a power of two
  return Math.sign(x) * (rounded > F16_MAX ? Infinity : rounded);
}

/** Elementwise round to half precision and back. */
export function roundToF16(x: Float32Array): Float32Array {
  return Float32Array.from(x, roundToF16Scalar);
}

/** The binary16 bit pattern of the value nearest x. */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(roundToF16Scalar(x));
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** F16_MIN_NORMAL_EXPONENT) return sign | (a / 2 ** -24); // subnormal: exponent field 0
  const e = exponentOf(a);
  const mantissa = a / 2 ** (e - F16_MANTISSA_BITS) - 2 ** F16_MANTISSA_BITS;
  return sign | ((e + 15) << F16_MANTISSA_BITS) | mantissa;
}

/** The value of a binary16 bit pattern. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> F16_MANTISSA_BITS) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// ---------------------------------------------------------------------------------------------
// erfc, for the GELU tail

/**
 * erfc(x) = 1 − erf(x), keeping its relative accuracy in the upper tail where 1 − erf(x) cancels
 * (so 0.5·x·erfc(−x/√2) is GELU with relative accuracy for very negative x, where geluScalar rounds
 * to −0): Laplace's continued fraction, as in erf, from x = 1 on; below, 1 − erf(x) ≥ 0.157 loses nothing.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 1) return 1 - erf(x);
  let fraction = x;
  for (let n = 200; n >= 1; n--) fraction = x + n / 2 / fraction;
  return (ONE_OVER_SQRT_PI * expMinusSquare(x)) / fraction;
}
