// Seeded random inputs for kernel tests, so a failing GPU test fails the same way on every run and
// every machine. Float32Array because that is what gets uploaded to the GPU.

/** mulberry32: a tiny 32-bit PRNG; plenty for test data, and its state is one integer (the seed). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; // [0, 1)
  };
}

/** n normal samples with mean 0 and standard deviation `scale` (Box–Muller). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - next(); // (0, 1]: keeps log finite
    const u2 = next();
    const radius = Math.sqrt(-2 * Math.log(u1)) * scale;
    out[i] = radius * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** n samples uniform in [lo, hi). */
export function uniform(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * next();
  return out;
}

/** n integers uniform in [lo, hi), e.g. token ids for gather tests. */
export function uniformInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  const next = mulberry32(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + Math.floor((hi - lo) * next());
  return out;
}
