// One decoding step's multi-head attention with its LayerNorm and input projection inside, for GPUs: a
// workgroup of WORKGROUP threads per head, for all R rows (one per beam, params.batch of them):
//  1. the mean and 1/σ of every row (lib/row_stats.wgsl);
//  2. the head's q (and, unless CROSS, its k and v) of every row, one column a thread, x normalized as it
//     is read: q into workgroup memory, k and v into row params.queryPos0 of each row's cache (kv);
//  3. per row, lib/attend_gpu.wgsl's phases over keys 0 .. keys − 1 of that row's cache.
// Every key up to params.keys is attended (a decoding step sees all earlier positions; cross-attention
// every image token). Defines: F16_WEIGHTS (w read through w_at), F16_MATH (products in f16), CROSS, and
// lib/attend_gpu's. Bindings (generated from src/kernels/attention/step.ts): params, x, ln_gamma,
// ln_beta, w, bias, kv (read-write unless CROSS), aux (u32, unread: mask mode none), out.
#include lib/attend_gpu

#if CROSS
const PARTS: u32 = 1u;
#else
const PARTS: u32 = 3u;
#endif
/** Rows' statistics (lib/row_stats.wgsl): MAX_STEP_ROWS rows at once, the rest of the workgroup a row each. */
const MAX_STEP_ROWS: u32 = 8u;
const STAT_ROWS: u32 = MAX_STEP_ROWS;
const STAT_THREADS: u32 = WORKGROUP / MAX_STEP_ROWS;
#include lib/row_stats
fn stat_row(r: u32) -> u32 { return min(r, params.batch - 1u) * params.K; }

var<workgroup> queries: array<f32, MAX_STEP_ROWS * MAX_HEAD_DIM>; // [row][dh]

fn k_at(i: u32) -> f32 { return kv[i]; }
fn v_at(i: u32) -> f32 { return kv[i]; }

// acc + w·x: fused in f32, or (F16_MATH) the product in f16 and the sum in f32.
fn mac(acc: f32, wv: f32, xv: f32) -> f32 {
#if F16_MATH
  return acc + f32(f16(wv) * f16(xv));
#else
  return fma(wv, xv, acc);
#endif
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) t: u32) {
  let head = group.x;
  let rows = params.batch;
  let dh = params.headDim;
  let K = params.K;
  row_stats(t);
  for (var column = t; column < PARTS * dh; column += WORKGROUP) {
    let part = column / dh;
    let within = column % dh;
    let wRow = part * params.heads * dh + head * dh + within;
    var acc = array<f32, MAX_STEP_ROWS>();
    for (var k = 0u; k < K; k++) {
      let wv = w_at(wRow * K + k);
      let g = ln_gamma_at(k);
      let b = ln_beta_at(k);
      for (var r = 0u; r < rows; r++) {
        acc[r] = mac(acc[r], wv, (x[r * K + k] - rowMean[r]) * rowInvStd[r] * g + b);
      }
    }
    for (var r = 0u; r < rows; r++) {
      let value = acc[r] + bias[wRow];
      if (part == 0u) {
        queries[r * MAX_HEAD_DIM + within] = value;
      } else {
#if !CROSS
        let at = select(params.vOffset + r * params.vBatchStride + params.queryPos0 * params.vRowStride,
            params.kOffset + r * params.kBatchStride + params.queryPos0 * params.kRowStride, part == 1u);
        kv[at + head * dh + within] = value;
#endif
      }
    }
  }
  storageBarrier(); // the new k and v rows are in the cache
  workgroupBarrier(); // and the queries in workgroup memory
  for (var r = 0u; r < rows; r++) {
    for (var e = t; e < dh; e += WORKGROUP) { queryTile[e] = queries[r * MAX_HEAD_DIM + e]; }
    workgroupBarrier();
    attend_group(t, head, r, 0u, 1u);
    workgroupBarrier(); // queryTile and the scratch of attend_group are reused by the next row
  }
}
