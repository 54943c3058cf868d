// y = x · Wᵀ + b for CPU adapters (llvmpipe, SwiftShader), W stored [N, K]: a workgroup of 8 lanes runs
// the register-blocked tile of lib/matmul_cpu_tile.wgsl (which explains the design) over TILE_ROWS rows and
// params.tilesPerGroup tiles of 32 columns. Needs K, x's offset and strides and W's offset in whole vec4s
// (multiples of 4 elements); the wrapper checks and sends other shapes to the tiled kernel.
// Batches index workgroup z. Defines: SUBGROUPS, F16_WEIGHTS (lib/matmul_cpu_tile), BIAS, GELU, ACCUMULATE
// (lib/matmul_epilogue), and the LayerNorm fusions (γ = ln_gamma, β = ln_beta, ε = params.eps):
//   LN_IN   (≤ 8 rows, no SUBGROUPS) x's rows are layer-normalized first, by all lanes together, into
//           workgroup memory (XN_VEC4 vec4s), which the tile then reads; a workgroup covers several column
//           tiles so that the normalization is paid once for many columns. A decoding step's pre-norm.
//   LN_OUT  a workgroup covers all N columns of its rows, then writes LN(y) of those rows into h (dense
//           [rows, N]): the input of the next pre-norm block, with no LayerNorm pass of its own.
// Bindings (generated from src/kernels/matmul/cpu.ts): params, x (vec4s), w (vec4s, or fp16 as vec2<u32>),
// bias, y, and ln_gamma, ln_beta (read through ln_gamma_at / ln_beta_at), h (LN_OUT). The spec enables
// subgroups for SUBGROUPS.
#include lib/matmul_epilogue
#include lib/matmul_cpu_tile

#if LN_IN
#include lib/layernorm_rows_cpu
fn x_vec(i: u32) -> vec4<f32> { return xn[i]; }
#else
fn x_vec(i: u32) -> vec4<f32> { return x[i]; }
#endif

// Index of weight row n's first 4 weights, in units of w's element (clamped to a real row, so
// lanes past N read valid memory; their results are dropped at the store).
fn weightRow(n: u32) -> u32 {
  return (params.wOffset + min(n, params.N - 1u) * params.K) / 4u;
}

// First vec4 of x's row m (clamped to a real row).
fn xRow(base: u32, m: u32) -> u32 {
  return (base + min(m, params.M - 1u) * params.xRowStride) / 4u;
}


#if LN_OUT
/** Values summed per block before joining a row total: rounding grows with BLOCK + N / BLOCK, not N. */
const BLOCK: u32 = 32u;

// LN of row m of y (all its columns written by this workgroup) into row m of h.
fn normalize_output_row(yRow: u32, hRow: u32) {
  let N = params.N;
  var sum = 0.0;
  for (var start = 0u; start < N; start += BLOCK) {
    var block = 0.0;
    for (var n = start; n < min(N, start + BLOCK); n++) { block += y[yRow + n]; }
    sum += block;
  }
  let mean = sum / f32(N);
  var squares = 0.0;
  for (var start = 0u; start < N; start += BLOCK) {
    var block = 0.0;
    for (var n = start; n < min(N, start + BLOCK); n++) {
      let c = y[yRow + n] - mean;
      block += c * c;
    }
    squares += block;
  }
  let invStd = inverseSqrt(squares / f32(N) + params.eps);
  for (var n = 0u; n < N; n++) {
    h[hRow + n] = (y[yRow + n] - mean) * invStd * ln_gamma_at(n) + ln_beta_at(n);
  }
}
#endif

@compute @workgroup_size(8)
#if SUBGROUPS
fn main(@builtin(workgroup_id) group: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
#else
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
#endif
  let m0 = group.x * TILE_ROWS;
  let rows = min(TILE_ROWS, params.M - m0); // ≥ 1: the grid has no empty tiles
  let xBase = params.xOffset + group.z * params.xBatchStride;
  let yBase = params.yOffset + group.z * params.yBatchStride;
  let steps = params.K / 4u;
  var xr: array<u32, X_ROWS>;
#if LN_IN
  normalize_rows(xBase, m0, rows, lane);
  for (var r = 0u; r < X_ROWS; r++) { xr[r] = min(r, rows - 1u) * steps; }
#else
#if SUBGROUPS
  for (var j = 0u; j < X_ROWS; j++) { xr[j] = xRow(xBase, m0 + lane + 8u * j); }
#else
  for (var r = 0u; r < X_ROWS; r++) { xr[r] = xRow(xBase, m0 + r); }
#endif
#endif

  for (var t = 0u; t < params.tilesPerGroup; t++) {
    let n0 = (group.y * params.tilesPerGroup + t) * 32u;
    if (n0 >= params.N) { break; }
    let n = n0 + 4u * lane;
    let acc = tile_sums(xr, rows, vec4<u32>(weightRow(n), weightRow(n + 1u), weightRow(n + 2u), weightRow(n + 3u)), steps);
    for (var c = 0u; c < 4u; c++) {
      if (n + c >= params.N) { break; }
      for (var r = 0u; r < TILE_ROWS; r++) { // a constant bound: unrolled, so acc stays in registers
        if (r >= rows) { break; }
        store_output(acc[r][c], n + c, yBase + (m0 + r) * params.yRowStride + n + c);
      }
    }
  }

#if LN_OUT
  storageBarrier(); // every lane's columns of these rows are in y
  // Lane l normalizes rows m0 + l (+ 8, + 16, + 24 with SUBGROUPS).
  for (var r = lane; r < rows; r += 8u) {
    let m = m0 + r;
    normalize_output_row(yBase + m * params.yRowStride, (group.z * params.M + m) * params.N);
  }
#endif
}
