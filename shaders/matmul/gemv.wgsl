// y[r, :] = x[r, :] · Wᵀ + b for a few rows r (decoding: one token per beam), W stored [N, K].
// Bound by reading W, so each weight is read once for all rows: a workgroup owns 8 output columns,
// 32 threads share each column's K (neighbouring threads read neighbouring words), partial sums meet
// in workgroup memory. fp16 weights are read as pairs when the row starts on a word boundary.
// Bindings (generated from src/kernels/matmul/gemv.ts): params, x, w (w_at reads one weight), bias, y,
// ln_gamma and ln_beta (LN_IN; ln_gamma_at, ln_beta_at).
// Defines: F16_WEIGHTS, BIAS, GELU, ACCUMULATE (lib/matmul_epilogue), F16_MATH (products in f16), LN_IN
// (x's rows are layer-normalized as they are read, with γ = ln_gamma, β = ln_beta, ε = params.eps; their
// mean and 1/σ are computed first by the workgroup: a decoding step's pre-norm folded into the product).
#include lib/matmul_epilogue

const MAX_ROWS = 8u;
const COLUMNS = 8u;
const LANES = 32u;

var<workgroup> partial: array<f32, 2048>; // [COLUMNS][LANES][MAX_ROWS]

// acc + w·x: fused in f32, or (F16_MATH) the product in f16 and the sum in f32.
fn mac(acc: f32, w: f32, xv: f32) -> f32 {
#if F16_MATH
  return acc + f32(f16(w) * f16(xv));
#else
  return fma(w, xv, acc);
#endif
}

#if LN_IN
// The rows' statistics (lib/row_stats.wgsl): thread (lane, r) takes every LANES-th value of row r.
const STAT_ROWS = MAX_ROWS;
const STAT_THREADS = LANES;
#include lib/row_stats
fn stat_row(r: u32) -> u32 { return params.xOffset + min(r, params.M - 1u) * params.xRowStride; }
#endif

fn xAt(r: u32, k: u32) -> f32 {
  let v = x[params.xOffset + r * params.xRowStride + k];
#if LN_IN
  return (v - rowMean[r]) * rowInvStd[r] * ln_gamma_at(k) + ln_beta_at(k);
#else
  return v;
#endif
}

// The 8 columns n of this workgroup's pass, for every row: acc[r] = Σ_k W[n, k]·x[r, k] (this lane's share).
fn column_sums(n: u32, lane: u32) -> array<f32, 8> {
  let rows = params.M;
  var acc = array<f32, 8>();
  if (n >= params.N) { return acc; }
  let rowStart = params.wOffset + n * params.K;
#if F16_WEIGHTS
  if (rowStart % 2u == 0u) {
    let pairs = params.K / 2u;
    let wordStart = rowStart / 2u;
    for (var p = lane; p < pairs; p += LANES) {
      let wv = unpack2x16float(w[wordStart + p]);
      let k = 2u * p;
      for (var r = 0u; r < rows; r++) {
        acc[r] = mac(mac(acc[r], wv.y, xAt(r, k + 1u)), wv.x, xAt(r, k));
      }
    }
    if (params.K % 2u == 1u && lane == 0u) {
      let k = params.K - 1u;
      let wv = unpack2x16float(w[(rowStart + k) / 2u]).x;
      for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
    }
  } else {
    for (var k = lane; k < params.K; k += LANES) {
      let i = rowStart + k;
      let wv = w_at(i);
      for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
    }
  }
#else
  for (var k = lane; k < params.K; k += LANES) {
    let wv = w[rowStart + k];
    for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
  }
#endif
  return acc;
}

// Workgroup g takes passes g·passes .. (g + 1)·passes − 1 of 8 columns each (params.passes > 1 spreads the
// LN_IN statistics over many columns).
@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_id) local: vec3u) {
  let lane = local.x;
  let column = local.y;
  let rows = params.M;
#if LN_IN
  row_stats(column * LANES + lane);
#endif
  for (var step = 0u; step < params.passes; step++) {
    let n = ((group.x + group.y * groups.x) * params.passes + step) * COLUMNS + column;
    let acc = column_sums(n, lane);
    for (var r = 0u; r < MAX_ROWS; r++) {
      partial[(column * LANES + lane) * MAX_ROWS + r] = acc[r];
    }
    workgroupBarrier();
    // Tree reduction over the 32 lanes of each column; lane 0 adds the last pair and stores every row's
    // output (it reads only what it wrote), and the level's barrier frees partial for the next pass.
    for (var stride = LANES / 2u; stride > 0u; stride /= 2u) {
      if (lane < stride) {
        for (var r = 0u; r < rows; r++) {
          let at = (column * LANES + lane) * MAX_ROWS + r;
          partial[at] = partial[at] + partial[at + stride * MAX_ROWS];
          if (stride == 1u && n < params.N) { store_output(partial[at], n, params.yOffset + r * params.yRowStride + n); }
        }
      }
      workgroupBarrier();
    }
  }
}
