// Half-precision conversions on raw bit patterns. Weights are stored on the GPU as fp16 pairs in u32 words
// (WGSL unpack2x16float needs no shader-f16 feature), so fp32 checkpoints are rounded here, once, at load.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** fp32 bit pattern → fp16 bit pattern, rounding to nearest, ties to even; overflow → ±inf; NaN stays NaN. */
export function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;

  if (exponent === 0xff) {
    // Keep NaN quiet and keep the top payload bits, so a NaN never turns into inf.
    return mantissa === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mantissa >>> 13);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;

  if (halfExponent <= 0) {
    // Subnormal half: value = m · 2^-24. Below 2^-25 everything rounds to zero (2^-25 itself ties to even 0).
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent; // 14..24
    let half = significand >>> shift;
    const remainder = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++;
    // half may reach 0x400: that is exactly the smallest normal's encoding.
    return sign | half;
  }

  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa bumps the exponent, and from the largest finite value lands on inf: both right.
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** fp16 bit pattern → fp32 bit pattern (exact: every half is a float). */
export function f16BitsToF32Bits(half: number): number {
  const sign = (half & 0x8000) << 16;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal half → normal float: shift the leading 1 into the implicit position.
  let shift = 0;
  let m = mantissa;
  while ((m & 0x400) === 0) {
    m <<= 1;
    shift++;
  }
  return (sign | ((127 - 15 - shift + 1) << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** Number → fp16 bits (the number is first rounded to fp32, as a Float32Array store would). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  return f32BitsToF16Bits(u32Scratch[0]!);
}

/** fp16 bits → number. */
export function f16ToF32(half: number): number {
  u32Scratch[0] = f16BitsToF32Bits(half);
  return f32Scratch[0]!;
}

/** bf16 bits → number (bf16 is the top half of an fp32). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0]!;
}

let f16ToF32Table: Uint32Array | null = null;

/** All 65536 halves as fp32 bits: 256 KiB, built on first use, makes bulk conversion a lookup. */
function halfTable(): Uint32Array {
  if (f16ToF32Table === null) {
    f16ToF32Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16ToF32Table[h] = f16BitsToF32Bits(h);
  }
  return f16ToF32Table;
}

/** fp16 array → fp32 array. */
export function f16ArrayToF32(halves: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(halves.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < halves.length; i++) outBits[i] = table[halves[i]!]!;
  return out;
}

/** bf16 array → fp32 array. */
export function bf16ArrayToF32(bf16: Uint16Array): Float32Array {
  const out = new Float32Array(bf16.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bf16.length; i++) outBits[i] = bf16[i]! << 16;
  return out;
}

/** fp32 array → fp16 array, round to nearest even. */
export function f32ArrayToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/**
 * Packs fp16 values two per u32 word, element 2i in the low half and 2i+1 in the high half, which is
 * what WGSL `unpack2x16float(w)` returns as (x, y). An odd count is padded with +0.
 */
export function packF16Pairs(halves: Uint16Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(halves.length / 2));
  const pairs = halves.length >>> 1;
  for (let i = 0; i < pairs; i++) words[i] = (halves[2 * i]! | (halves[2 * i + 1]! << 16)) >>> 0;
  if (halves.length % 2 === 1) words[pairs] = halves[halves.length - 1]!;
  return words;
}

/** fp32 array → packed fp16 pairs in one pass (no intermediate Uint16Array for 100 MB embeddings). */
export function packF32AsF16Pairs(values: Float32Array): Uint32Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const words = new Uint32Array(Math.ceil(values.length / 2));
  const pairs = values.length >>> 1;
  for (let i = 0; i < pairs; i++) {
    words[i] = (f32BitsToF16Bits(bits[2 * i]!) | (f32BitsToF16Bits(bits[2 * i + 1]!) << 16)) >>> 0;
  }
  if (values.length % 2 === 1) words[pairs] = f32BitsToF16Bits(bits[values.length - 1]!);
  return words;
}
