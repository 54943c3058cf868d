import { describe, expect, it } from 'vitest';
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16BitsToF32Bits,
  f16ToF32,
  f32ArrayToF16,
  f32BitsToF16Bits,
  f32ToF16,
  packF16Pairs,
  packF32AsF16Pairs,
} from '../src/io/fp16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => {
  f32[0] = x;
  return u32[0]!;
};
const floatOf = (bits: number): number => {
  u32[0] = bits;
  return f32[0]!;
};

// Independent reference: the nearest finite half by search over all of them, ties to the even pattern.
const positiveHalves = Array.from({ length: 0x7c00 }, (_, h) => h);
const halfValue = (h: number): number => {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
};
const halfValues = positiveHalves.map(halfValue);
/** Max finite half (65504) plus half an ulp (16): from here up, rounding goes to inf. */
const OVERFLOW_THRESHOLD = 65520;

function referenceF32ToF16(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= OVERFLOW_THRESHOLD) return sign | 0x7c00;
  let lo = 0;
  let hi = halfValues.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (halfValues[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - halfValues[lo]!;
  const dHi = halfValues[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

describe('f32 → f16 on known bit patterns', () => {
  const cases: [string, number, number][] = [
    ['one', 1, 0x3c00],
    ['minus two', -2, 0xc000],
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['max finite', 65504, 0x7bff],
    ['just below the overflow tie', 65519.99609375, 0x7bff],
    ['overflow tie rounds to even = inf', 65520, 0x7c00],
    ['+inf', Infinity, 0x7c00],
    ['-inf', -Infinity, 0xfc00],
    ['smallest normal', 2 ** -14, 0x0400],
    ['smallest subnormal', 2 ** -24, 0x0001],
    ['largest subnormal', 1023 * 2 ** -24, 0x03ff],
    ['largest subnormal + half ulp ties up to the smallest normal', 1023.5 * 2 ** -24, 0x0400],
    ['half the smallest subnormal ties to even zero', 2 ** -25, 0x0000],
    ['just above half the smallest subnormal', floatOf(0x33000001), 0x0001],
    ['1.5 subnormal ulps ties to even 2', 3 * 2 ** -25, 0x0002],
    ['1 + half ulp ties down to even', 1 + 2 ** -11, 0x3c00],
    ['1 + 3 half ulps ties up to even', 1 + 3 * 2 ** -11, 0x3c02],
    ['one third', 1 / 3, 0x3555],
    ['pi', Math.PI, 0x4248],
    ['0.1', 0.1, 0x2e66],
  ];
  for (const [label, value, expected] of cases) {
    it(label, () => expect(f32ToF16(value).toString(16)).toBe(expected.toString(16)));
  }

  it('keeps NaN a NaN, with its sign and top payload bits', () => {
    expect(f32BitsToF16Bits(0x7fc00000)).toBe(0x7e00);
    expect(f32BitsToF16Bits(0xffc00000)).toBe(0xfe00);
    // A signalling NaN whose payload lives only in the low bits must not become inf.
    expect(f32BitsToF16Bits(0x7f800001)).toBe(0x7e00);
    expect(f32BitsToF16Bits(0x7fa00000)).toBe(0x7e00 | (0x200000 >>> 13));
  });
});

describe('f32 → f16 against a search over all halves', () => {
  it('matches at every midpoint between neighbouring halves and one f32 ulp either side', () => {
    let mismatches = 0;
    for (let h = 0; h < 0x7bff; h++) {
      const midpoint = Math.fround((halfValues[h]! + halfValues[h + 1]!) / 2);
      for (const bits of [bitsOf(midpoint) - 1, bitsOf(midpoint), bitsOf(midpoint) + 1]) {
        const x = floatOf(bits);
        if (f32BitsToF16Bits(bits) !== referenceF32ToF16(x)) mismatches++;
        if (f32BitsToF16Bits((bits | 0x80000000) >>> 0) !== referenceF32ToF16(-x)) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  it('matches on 200k pseudo-random f32 bit patterns', () => {
    let state = 0x12345678;
    let mismatches = 0;
    for (let i = 0; i < 200_000; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      // Bias the exponent into the half range (and a bit beyond) so most samples are interesting.
      const exponent = 96 + (state % 50);
      const bits = ((state & 0x80000000) | (exponent << 23) | ((state * 7919) & 0x7fffff)) >>> 0;
      if (f32BitsToF16Bits(bits) !== referenceF32ToF16(floatOf(bits))) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

describe('f16 → f32', () => {
  it('decodes known patterns', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16ToF32(0x7e00))).toBe(true);
    expect(f16BitsToF32Bits(0x7e01).toString(16)).toBe((0x7fc00000 | (1 << 13)).toString(16));
  });

  it('round-trips every half exactly (f16 → f32 → f16); NaNs come back quieted', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h);
    const widened = f16ArrayToF32(all);
    const back = f32ArrayToF16(widened);
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (back[h] !== (isNaN ? h | 0x200 : h)) mismatches++;
      const value = widened[h]!;
      if (!Number.isNaN(value) && Number.isFinite(value) && value !== (h & 0x8000 ? -halfValue(h & 0x7fff) : halfValue(h))) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

describe('bf16 → f32', () => {
  it('is the top half of the f32 pattern', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc0a0)).toBe(-5);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0x0001)).toBe(floatOf(0x00010000));
    expect(Array.from(bf16ArrayToF32(Uint16Array.from([0x3f80, 0x4049, 0xbf00])))).toEqual([1, floatOf(0x40490000), -0.5]);
  });
});

describe('packF16Pairs', () => {
  it('puts element 2i in the low half and 2i+1 in the high half, as unpack2x16float reads them', () => {
    expect(Array.from(packF16Pairs(Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7bff])))).toEqual([0xc0003c00, 0x7bff0001]);
  });

  it('pads an odd count with +0', () => {
    expect(Array.from(packF16Pairs(Uint16Array.from([0x1234, 0xabcd, 0x3c00])))).toEqual([0xabcd1234, 0x00003c00]);
  });

  it('packs fp32 directly, rounding like f32ToF16', () => {
    expect(Array.from(packF32AsF16Pairs(Float32Array.from([1, -2, 65520, 1 + 3 * 2 ** -11, 2 ** -24])))).toEqual([
      0xc0003c00, 0x3c027c00, 0x00000001,
    ]);
  });
});
