// Known answers worked out by hand, proving the CPU references that the GPU kernels are checked against.
import { describe, expect, it } from 'vitest';
import {
  ReferenceShapeError,
  add,
  argmax,
  attention,
  cocaTextMask,
  embeddingGather,
  erf,
  erfc,
  f16Bits,
  f16Value,
  gelu,
  l2Normalize,
  layerNorm,
  matmul,
  multiHeadAttentionFull,
  patchEmbed,
  roundToF16,
  softmaxRows,
  topK,
} from './cpu';
import { randn, uniform, uniformInts } from './random';

/** Hand answers that go through exp, log or sqrt: float64 leaves a few ulps on numbers of order 1–100. */
const HAND_ANSWER_TOLERANCE = 1e-13;
/** erf is specified to about 1e-15; the known values are correctly rounded doubles. */
const ERF_TOLERANCE = 1e-15;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = HAND_ANSWER_TOLERANCE): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tolerance) {
      throw new Error(`element ${i}: ${actual[i]} vs expected ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}

const f32 = (values: number[]) => Float32Array.from(values);
const f64 = (values: number[]) => Float64Array.from(values);
const I = -Infinity;

describe('erf and gelu', () => {
  it('erf matches known values', () => {
    const known: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [0.7, 0.6778011938374184],
      [1, 0.8427007929497149],
      [1.5, 0.9661051464753108],
      [2, 0.9953222650189527],
      [2.5, 0.999593047982555],
      [-3, -0.9999779095030014],
      [4, 0.9999999845827421],
      [5, 0.9999999999984626],
      [7, 1],
    ];
    for (const [x, value] of known) expect(Math.abs(erf(x) - value)).toBeLessThanOrEqual(ERF_TOLERANCE);
    expect(Math.abs(erf(1e-8) / 1.1283791670955126e-8 - 1)).toBeLessThanOrEqual(ERF_TOLERANCE);
    expect(erf(0)).toBe(0);
  });

  it('gelu(x) = x·Φ(x), with Φ(±1) the normal CDF values', () => {
    const x = f32([-1, 0, 1, 3]);
    expectClose(gelu(x), [-0.15865525393145707, 0, 0.8413447460685429, 2.99595030590511], ERF_TOLERANCE * 4);
  });
});

describe('matmul', () => {
  // x [2, 3], w [2, 3] (PyTorch Linear [out, in]): x·Wᵀ = [[1−3, 2+2], [4−6, 8+5]].
  const x = f32([1, 2, 3, 4, 5, 6]);
  const w = f32([1, 0, -1, 2, 1, 0]);

  it('computes x·Wᵀ + b', () => {
    expect(Array.from(matmul(x, w, { M: 2, K: 3, N: 2 }))).toEqual([-2, 4, -2, 13]);
    expect(Array.from(matmul(x, w, { M: 2, K: 3, N: 2 }, f32([10, 20])))).toEqual([8, 24, 8, 33]);
  });

  it('applies GELU before adding the residual', () => {
    // gelu(1) = Φ(1); the residual 1 then adds on top. Adding it first would give gelu(2) = 1.954…
    const y = matmul(f32([1]), f32([1]), { M: 1, K: 1, N: 1 }, f32([0]), { gelu: true, residual: f32([1]) });
    expectClose(y, [1.8413447460685429], ERF_TOLERANCE * 4);
  });

  it('shares w across a batch', () => {
    // x [2, 1, 2], w [1, 2] = [1, 1]: rows sum to 3 and 7; residual [2, 1, 1].
    const y = matmul(f32([1, 2, 3, 4]), f32([1, 1]), { M: 1, K: 2, N: 1 }, undefined, {
      batch: 2,
      residual: f32([10, 20]),
    });
    expect(Array.from(y)).toEqual([13, 27]);
  });

  it('rejects arrays that do not fit the shape', () => {
    expect(() => matmul(x, w, { M: 3, K: 3, N: 2 })).toThrow(ReferenceShapeError);
  });
});

describe('elementwise and row ops', () => {
  it('adds', () => {
    expect(Array.from(add(f32([1, 2]), f64([3, 4.5])))).toEqual([4, 6.5]);
  });

  it('softmax of [0, ln 2] is [1/3, 2/3], also shifted by 1000 and with a −∞ entry', () => {
    const x = f64([0, Math.LN2, 1000, 1000 + Math.LN2, 0, I]);
    expectClose(softmaxRows(x, 2), [1 / 3, 2 / 3, 1 / 3, 2 / 3, 1, 0]);
  });

  it('l2-normalizes rows: 3-4-5 and 5-12-13 triangles', () => {
    expectClose(l2Normalize(f32([3, 4, -5, 12]), 2), [0.6, 0.8, -5 / 13, 12 / 13]);
  });
});

describe('layerNorm', () => {
  const ones = f32([1, 1, 1]);
  const zeros = f32([0, 0, 0]);
  const sqrtThreeHalves = 1.224744871391589; // [1, 2, 3]: mean 2, variance 2/3, so ±1/√(2/3)

  it('normalizes [1, 2, 3] to [−√1.5, 0, √1.5] without eps', () => {
    expectClose(layerNorm(f32([1, 2, 3]), ones, zeros, 0).out, [-sqrtThreeHalves, 0, sqrtThreeHalves]);
  });

  it('uses eps = 1e-5 inside the square root by default', () => {
    const scaled = 1.2247356859083902; // 1/√(2/3 + 1e-5)
    expectClose(layerNorm(f32([1, 2, 3]), ones, zeros).out, [-scaled, 0, scaled]);
  });

  it('applies gamma and beta per column, and a constant row becomes beta', () => {
    const { out } = layerNorm(f32([1, 2, 3, 5, 5, 5]), f32([1, 2, 3]), f32([0.5, 0.5, -1]), 0.5);
    const s = 1 / Math.sqrt(2 / 3 + 0.5);
    expectClose(out, [-s + 0.5, 0.5, 3 * s - 1, 0.5, 0.5, -1]);
  });

  it('normalizes x + residual and returns that sum', () => {
    const { out, sum } = layerNorm(f32([0, 1, 1]), ones, zeros, 0, f32([1, 1, 2]));
    expect(Array.from(sum)).toEqual([1, 2, 3]);
    expectClose(out, [-sqrtThreeHalves, 0, sqrtThreeHalves]);
  });
});

describe('embeddings', () => {
  it('gathers rows by id', () => {
    const table = f32([0, 1, 10, 11, 20, 21]); // [3, 2]
    expect(Array.from(embeddingGather(table, Int32Array.from([2, 0, 2]), 2))).toEqual([20, 21, 0, 1, 20, 21]);
    expect(() => embeddingGather(table, Int32Array.from([3]), 2)).toThrow(ReferenceShapeError);
  });

  it('embeds the four 2×2 patches of a 4×4 image in row-major order', () => {
    const pixels = Float32Array.from({ length: 16 }, (_, i) => i); // row r holds 4r … 4r+3
    // Output channel 0 sums the patch; channel 1 picks its top-left pixel.
    const convWeight = f32([1, 1, 1, 1, 1, 0, 0, 0]); // [2, 1, 2, 2]
    const y = patchEmbed(pixels, convWeight, { C: 1, H: 4, W: 4, P: 2 });
    // patches: {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}
    expect(Array.from(y)).toEqual([10, 0, 18, 2, 42, 8, 50, 10]);
  });

  it('sums over channels with weights laid out [out, C, P, P]', () => {
    const pixels = f32([1, 2, 3, 4, 10, 20, 30, 40]); // [2, 2, 2]
    const convWeight = f32([1, 0, 0, 0, 0, 0, 0, 1]); // channel 0 top-left + channel 1 bottom-right
    expect(Array.from(patchEmbed(pixels, convWeight, { C: 2, H: 2, W: 2, P: 2 }))).toEqual([41]);
  });
});

describe('argmax and topK', () => {
  it('argmax takes the first of tied maxima', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax(f32([-1, -1]))).toBe(0);
  });

  it('topK sorts by value descending, ties by lower index', () => {
    const { indices, values } = topK(f32([1, 3, 3, 2, 3]), 4);
    expect(Array.from(indices)).toEqual([1, 2, 4, 3]);
    expect(Array.from(values)).toEqual([3, 3, 3, 2]);
  });
});

describe('attention', () => {
  it('one query: a weighted average of v with weights 1/4, 3/4', () => {
    // dh = 2, scale 1/√2: scores are 0 and (√2·ln 3)/√2 = ln 3, so softmax = [1/4, 3/4].
    const y = attention({
      q: f64([1, 0]),
      k: f64([0, 0, Math.SQRT2 * Math.log(3), 0]),
      v: f64([4, 0, 0, 8]),
      heads: 1,
      headDim: 2,
      mask: 'none',
    });
    expectClose(y, [1, 6]); // [4/4, 8·3/4]
  });

  it('keeps heads apart: each uses its own columns', () => {
    // dh = 1. Head 0 has q = 0, so it averages v; head 1 scores [0, ln 3].
    const y = attention({
      q: f64([0, 1]),
      k: f64([5, 0, 7, Math.log(3)]),
      v: f64([2, 4, 4, 8]),
      heads: 2,
      headDim: 1,
      mask: 'none',
    });
    expectClose(y, [3, 1 + 6]);
  });

  // With q = 0 every allowed key scores the same, so each output row is the mean of its allowed v rows.
  const zeros = (n: number) => new Float64Array(n);
  const positions = (n: number) => Float64Array.from({ length: n }, (_, i) => i);

  it("'causal' lets query i see keys 0 … i + qOffset", () => {
    const v = f64([3, 6, 9]);
    const full = attention({ q: zeros(3), k: zeros(3), v, heads: 1, headDim: 1, mask: 'causal' });
    expectClose(full, [3, 4.5, 6]);
    const cached = attention({ q: zeros(2), k: zeros(3), v, heads: 1, headDim: 1, mask: 'causal', qOffset: 1 });
    expectClose(cached, [4.5, 6]);
  });

  it('adds an explicit [Lq, Lk] mask', () => {
    const y = attention({ q: zeros(1), k: zeros(3), v: f64([3, 6, 9]), heads: 1, headDim: 1, mask: f32([0, I, 0]) });
    expectClose(y, [6]);
  });

  it("'coca-cls': the class row skips keys whose previous token is padding", () => {
    // 5 tokens → 6 rows. Class row 5 sees key 0, keys 1–3 (tokens 0–2 are real), not keys 4–5 (tokens 3–4 are 0).
    const tokens = Int32Array.from([49406, 320, 49407, 0, 0]);
    const y = attention({ q: zeros(6), k: zeros(6), v: positions(6), heads: 1, headDim: 1, mask: 'coca-cls', tokens });
    expectClose(y, [0, 0.5, 1, 1.5, 2, 1.5]); // causal would give 2.5 in the last row
  });

  it('cocaTextMask written out for a 5-token example', () => {
    const mask = cocaTextMask(Int32Array.from([49406, 320, 49407, 0, 0]));
    // prettier-ignore
    expect(Array.from(mask)).toEqual([
      0, I, I, I, I, I,
      0, 0, I, I, I, I,
      0, 0, 0, I, I, I,
      0, 0, 0, 0, I, I,
      0, 0, 0, 0, 0, I,
      0, 0, 0, 0, I, I,
    ]);
    // Without padding the class row sees everything: the mask is plain causal.
    expect(Array.from(cocaTextMask(Int32Array.from([49406, 49407])))).toEqual([0, I, I, 0, 0, I, 0, 0, 0]);
  });
});

describe('multiHeadAttentionFull', () => {
  const zeros2 = f64([0, 0]);
  const identity2 = f64([1, 0, 0, 1]);

  it('separate q/k/v weights with different input widths (attentional pooler layout)', () => {
    // D = 2, Dq = 1, Dkv = 3, one head. q = [√2·ln 3, 0]; k_j = [x_j0, 0] = [0, 0], [1, 0] → weights [1/4, 3/4].
    // v_j = [x_j1, x_j2] + [1, 0] = [2, 2], [4, 4] → mixed [3.5, 3.5]; out_proj [[1, 0], [1, −1]] + [0, 10].
    const y = multiHeadAttentionFull({
      xq: f64([1]),
      xkv: f64([0, 1, 2, 1, 3, 4]),
      qProjWeight: f64([Math.SQRT2 * Math.log(3), 0]),
      kProjWeight: f64([1, 0, 0, 0, 0, 0]),
      vProjWeight: f64([0, 1, 0, 0, 0, 1]),
      inProjBias: f64([0, 0, 0, 0, 1, 0]),
      outProjWeight: f64([1, 0, 1, -1]),
      outProjBias: f64([0, 10]),
      heads: 1,
      mask: 'none',
    });
    expectClose(y, [3.5, 10]);
  });

  it('packed in_proj_weight [3D, D] with two heads', () => {
    // Wq = Wk = Wv = out_proj = I, so this is attention(xq, xkv, xkv) with dh = 1:
    // head 0 has q = 0 → mean of [5, 7]; head 1 scores [0, ln 3] → 0·1/4 + 1·3/4.
    const y = multiHeadAttentionFull({
      xq: f64([0, Math.log(3)]),
      xkv: f64([5, 0, 7, 1]),
      inProjWeight: f64([1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1]),
      inProjBias: new Float64Array(6),
      outProjWeight: identity2,
      outProjBias: zeros2,
      heads: 2,
      mask: 'none',
    });
    expectClose(y, [6, 0.75]);
  });

  it('packed and separate weights agree when the separate ones are the packed slices', () => {
    const D = 8;
    const inProjWeight = randn(3 * D * D, 1);
    const common = {
      xq: randn(3 * D, 2),
      xkv: randn(5 * D, 3),
      inProjBias: randn(3 * D, 4),
      outProjWeight: randn(D * D, 5),
      outProjBias: randn(D, 6),
      heads: 2,
      mask: 'causal' as const,
      qOffset: 2,
    };
    const packed = multiHeadAttentionFull({ ...common, inProjWeight });
    const separate = multiHeadAttentionFull({
      ...common,
      qProjWeight: inProjWeight.slice(0, D * D),
      kProjWeight: inProjWeight.slice(D * D, 2 * D * D),
      vProjWeight: inProjWeight.slice(2 * D * D),
    });
    expect(Array.from(separate)).toEqual(Array.from(packed));
  });
});

describe('half precision', () => {
  it('rounds to known binary16 bit patterns', () => {
    const cases: [number, number, number][] = [
      // [input, bits, value]
      [1 / 3, 0x3555, 0.333251953125],
      [1, 0x3c00, 1],
      [-2, 0xc000, -2],
      [0.1, 0x2e66, 0.0999755859375],
      [65504, 0x7bff, 65504],
      [65519, 0x7bff, 65504], // just under the midpoint to 65536
      [65520, 0x7c00, Infinity], // the midpoint ties to even: 65536, which overflows
      [-65520, 0xfc00, -Infinity],
      [2 ** -14, 0x0400, 6.103515625e-5], // smallest normal
      [2 ** -24, 0x0001, 5.960464477539063e-8], // smallest subnormal
      [2 ** -25, 0x0000, 0], // half the smallest subnormal ties to even: 0
      [3 * 2 ** -26, 0x0001, 5.960464477539063e-8],
      [2049, 0x6800, 2048], // step 2 above 2048: 2049 ties to the even 2048
      [2051, 0x6802, 2052], // 2051 ties to the even 2052
    ];
    const rounded = roundToF16(f32(cases.map(([input]) => input)));
    cases.forEach(([input, bits, value], i) => {
      expect(f16Bits(input)).toBe(bits);
      expect(f16Value(bits)).toBe(value);
      expect(rounded[i]).toBe(value);
    });
  });

  it('keeps −0, ±∞ and NaN', () => {
    expect(Array.from(roundToF16(f32([-0, Infinity, -Infinity, NaN])))).toEqual([-0, Infinity, -Infinity, NaN]);
  });

  it('every finite binary16 value survives the round trip', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue; // ∞ and NaN
      if (f16Bits(f16Value(bits)) !== bits) throw new Error(`0x${bits.toString(16)} does not round-trip`);
    }
  });

  it('agrees with a brute-force nearest-value search (ties to the even bit pattern)', () => {
    const finite = Array.from({ length: 0x7c00 }, (_, bits) => f16Value(bits)); // 0 … 65504
    const inputs = randn(300, 7, 1000);
    const rounded = roundToF16(inputs);
    inputs.forEach((x, s) => {
      let best = 0;
      for (let bits = 1; bits < finite.length; bits++) {
        const distance = Math.abs(Math.abs(x) - finite[bits]);
        const bestDistance = Math.abs(Math.abs(x) - finite[best]);
        if (distance < bestDistance || (distance === bestDistance && bits % 2 === 0)) best = bits;
      }
      expect(rounded[s]).toBe(Math.sign(x) * finite[best]);
    });
  });
});

describe('seeded random inputs', () => {
  /** Sampling error of a mean over 100 000 draws is ≈ 0.003·scale; 0.02 is over 6 standard errors. */
  const STATISTICS_TOLERANCE = 0.02;
  const n = 100_001; // odd, so Box–Muller's unpaired last sample is covered

  const mean = (x: Float32Array) => x.reduce((acc, v) => acc + v, 0) / x.length;

  it('randn is reproducible and has the requested scale', () => {
    const a = randn(n, 42, 3);
    expect(Array.from(randn(n, 42, 3))).toEqual(Array.from(a));
    expect(randn(4, 43)).not.toEqual(randn(4, 42));
    const std = Math.sqrt(a.reduce((acc, v) => acc + v * v, 0) / n);
    expect(Math.abs(mean(a)) / 3).toBeLessThan(STATISTICS_TOLERANCE);
    expect(Math.abs(std / 3 - 1)).toBeLessThan(STATISTICS_TOLERANCE);
    expect(a[n - 1]).not.toBe(0);
  });

  it('uniform stays in [lo, hi] with mean (lo + hi)/2', () => {
    const a = uniform(n, 5, -2, 6);
    expect(a.every((v) => v >= -2 && v <= 6)).toBe(true);
    expect(Math.abs(mean(a) - 2) / 8).toBeLessThan(STATISTICS_TOLERANCE);
  });

  it('uniformInts covers exactly [lo, hi)', () => {
    const ids = uniformInts(1000, 9, 3, 8);
    expect(new Set(ids)).toEqual(new Set([3, 4, 5, 6, 7]));
  });
});

describe('erfc', () => {
  /** Relative: the tail values span 300 decades. CPython's math.erfc, correctly rounded or within an ulp. */
  const ERFC_REL_TOLERANCE = 1e-14;
  it('matches known values, deep in the upper tail too', () => {
    const known: [number, number][] = [
      [-3, 1.9999779095030015],
      [-1, 1.842700792949715],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [1.5, 0.033894853524689274],
      [3, 2.2090496998585438e-5],
      [5, 1.5374597944280351e-12],
      [10, 2.088487583762545e-45],
      [26, 5.663192408856143e-296],
    ];
    for (const [x, value] of known) expect(Math.abs(erfc(x) / value - 1)).toBeLessThanOrEqual(ERFC_REL_TOLERANCE);
  });
});
