// y = x · Wᵀ + b, W stored [N, K] as PyTorch's Linear does. The kernel for GPUs (CPU adapters use
// matmul/cpu.wgsl).
// Tiled: a 16×16 workgroup computes a 64×64 block of y, each thread 4×4 outputs (rows ty + 16r,
// columns tx + 16c, so neighbouring threads read neighbouring words of the tiles), stepping K by 32
// through workgroup memory. Edges are guarded, so M, N, K can be anything.
// SMALL_TILES: 32×32 blocks, 2×2 outputs a thread, for products too small to give a big GPU enough
// 64×64 blocks (ViT-B/32's 50 rows make 12–48 of them, for 132 SMs on an H100/H200).
// Defines: F16_WEIGHTS (W is fp16 pairs in u32 words), BIAS, GELU (exact erf GELU on x·Wᵀ + b),
// ACCUMULATE (y += result: the residual add, in place), SMALL_TILES, F16_MATH (tiles held and multiplied
// in f16, products summed in f32; the spec enables f16). Batches index workgroup z.
// LN_IN: x's rows are layer-normalized as the tile loads them (γ = ln_gamma, β = ln_beta, ε = params.eps),
// their mean and 1/σ computed first by the workgroup: a pre-norm block's LayerNorm folded into the product.
// Bindings (generated from src/kernels/matmul/tiled.ts): params, x, w (w_at reads one weight), bias, y,
// ln_gamma and ln_beta (LN_IN; ln_gamma_at, ln_beta_at).
#include lib/matmul_epilogue

#if SMALL_TILES
const TILE_M = 32u;
const TILE_N = 32u;
const PER_THREAD = 2u; // outputs a thread computes along each of M and N
#else
const TILE_M = 64u;
const TILE_N = 64u;
const PER_THREAD = 4u;
#endif
const TILE_K = 32u;
const LOADS = TILE_M * TILE_K / 256u; // tile elements each of the 256 threads loads, per tile

#if F16_MATH
alias tile_t = f16;
#else
alias tile_t = f32;
#endif
var<workgroup> xTile: array<tile_t, TILE_K * TILE_M>; // [TILE_K][TILE_M]
var<workgroup> wTile: array<tile_t, TILE_K * TILE_N>; // [TILE_K][TILE_N]

#if LN_IN
// The tile's rows' statistics (lib/row_stats.wgsl): 256 / TILE_M threads a row; rows past M repeat the last.
const STAT_ROWS = TILE_M;
const STAT_THREADS = 256u / TILE_M;
#include lib/row_stats
var<private> statBase: u32; // x's first element of the tile's batch item
var<private> statRow0: u32; // the tile's first row
fn stat_row(r: u32) -> u32 { return statBase + min(statRow0 + r, params.M - 1u) * params.xRowStride; }
#endif

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_id) local: vec3u) {
  let tx = local.x;
  let ty = local.y;
  let thread = ty * 16u + tx;
  let m0 = group.y * TILE_M;
  let n0 = group.x * TILE_N;
  let xBase = params.xOffset + group.z * params.xBatchStride;
  let yBase = params.yOffset + group.z * params.yBatchStride;

#if LN_IN
  statBase = xBase;
  statRow0 = m0;
  row_stats(thread);
#endif
  var acc: array<array<f32, PER_THREAD>, PER_THREAD>;
  for (var k0 = 0u; k0 < params.K; k0 += TILE_K) {
    // Each thread loads LOADS elements of each tile; consecutive threads take consecutive k.
    for (var i = 0u; i < LOADS; i++) {
      let idx = thread + 256u * i;
      let r = idx / TILE_K;
      let kk = idx % TILE_K;
      let k = k0 + kk;
      let m = m0 + r;
      var xv = 0.0;
      if (m < params.M && k < params.K) {
        xv = x[xBase + m * params.xRowStride + k];
#if LN_IN
        xv = (xv - rowMean[r]) * rowInvStd[r] * ln_gamma_at(k) + ln_beta_at(k);
#endif
      }
      xTile[kk * TILE_M + r] = tile_t(xv);
    }
#if F16_WEIGHTS
    if (params.K % 2u == 0u && params.wOffset % 2u == 0u) {
      // Rows start on a word: each thread reads whole u32 words, two k values each.
      for (var i = 0u; i < LOADS / 2u; i++) {
        let idx = thread + 256u * i;
        let r = idx / (TILE_K / 2u);
        let kk = 2u * (idx % (TILE_K / 2u));
        let k = k0 + kk;
        let n = n0 + r;
        var pair = vec2f(0.0);
        if (n < params.N && k < params.K) { pair = unpack2x16float(w[(params.wOffset + n * params.K + k) >> 1u]); }
        wTile[kk * TILE_N + r] = tile_t(pair.x);
        wTile[(kk + 1u) * TILE_N + r] = tile_t(pair.y);
      }
    } else {
      for (var i = 0u; i < LOADS; i++) {
        let idx = thread + 256u * i;
        let r = idx / TILE_K;
        let kk = idx % TILE_K;
        let k = k0 + kk;
        let n = n0 + r;
        var wv = 0.0;
        if (n < params.N && k < params.K) { wv = w_at(params.wOffset + n * params.K + k); }
        wTile[kk * TILE_N + r] = tile_t(wv);
      }
    }
#else
    for (var i = 0u; i < LOADS; i++) {
      let idx = thread + 256u * i;
      let r = idx / TILE_K;
      let kk = idx % TILE_K;
      let k = k0 + kk;
      let n = n0 + r;
      var wv = 0.0;
      if (n < params.N && k < params.K) { wv = w[params.wOffset + n * params.K + k]; }
      wTile[kk * TILE_N + r] = tile_t(wv);
    }
#endif
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      var a: array<tile_t, PER_THREAD>;
      var b: array<tile_t, PER_THREAD>;
      for (var r = 0u; r < PER_THREAD; r++) { a[r] = xTile[kk * TILE_M + ty + 16u * r]; }
      for (var c = 0u; c < PER_THREAD; c++) { b[c] = wTile[kk * TILE_N + tx + 16u * c]; }
      for (var r = 0u; r < PER_THREAD; r++) {
#if F16_MATH
        for (var c = 0u; c < PER_THREAD; c++) { acc[r][c] += f32(a[r] * b[c]); }
#else
        for (var c = 0u; c < PER_THREAD; c++) { acc[r][c] = fma(a[r], b[c], acc[r][c]); }
#endif
      }
    }
    workgroupBarrier();
  }

  for (var r = 0u; r < PER_THREAD; r++) {
    let m = m0 + ty + 16u * r;
    if (m >= params.M) { continue; }
    for (var c = 0u; c < PER_THREAD; c++) {
      let n = n0 + tx + 16u * c;
      if (n >= params.N) { continue; }
      store_output(acc[r][c], n, yBase + m * params.yRowStride + n);
    }
  }
}
