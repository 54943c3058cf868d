// One decoding step's multi-head attention with its LayerNorm and input projection inside, for CPU
// adapters: a workgroup of 8 lanes per head, for all R rows (one per beam, params.batch of them):
//  1. the rows of x, layer-normalized into workgroup memory by all lanes (lib/layernorm_rows_cpu.wgsl);
//  2. the head's q (and, unless CROSS, its k and v) of every row with the 8-row tile of
//     lib/matmul_cpu_tile.wgsl: q into workgroup memory, k and v into row params.queryPos0 of each row's
//     cache (kv, read through params' k/v offsets and strides);
//  3. per row, the lanes split the keys 0 .. keys − 1 (an online softmax each, no barrier) and then merge
//     their partial results: out = Σ_l e^(m_l − m)·acc_l / Σ_l e^(m_l − m)·l_l.
// Every key of the cache up to params.keys is attended (no mask: a decoding step's row sees all earlier
// positions, and cross-attention sees every image token). Three dispatches (LayerNorm, q, k/v) and an
// attention pass in one. Defines: F16_WEIGHTS, XN_VEC4, HEAD_VECTORS (the head width in vec4s), CROSS.
// Bindings (generated from src/kernels/attention/step.ts): params, x (vec4s), ln_gamma, ln_beta, w (vec4s,
// or fp16 as vec2<u32>), bias, kv (vec4s; read-write unless CROSS), out.
#include lib/matmul_cpu_tile
#include lib/layernorm_rows_cpu

const LANES: u32 = 8u;
const HEAD_VECTORS: u32 = {{HEAD_VECTORS}}u;
/** A score below every real one (finite: WGSL may assume no infinities). */
const LOWEST: f32 = -3.0e38;
#if CROSS
const PARTS: u32 = 1u;
#else
const PARTS: u32 = 3u;
#endif

var<workgroup> queries: array<vec4<f32>, 8u * HEAD_VECTORS>; // [row][HEAD_VECTORS]
var<workgroup> partMax: array<f32, LANES>;
var<workgroup> partSum: array<f32, LANES>;
var<workgroup> partAcc: array<vec4<f32>, LANES * HEAD_VECTORS>; // [lane][HEAD_VECTORS]

fn x_vec(i: u32) -> vec4<f32> { return xn[i]; }

fn xRow(base: u32, m: u32) -> u32 {
  return base + m * (params.K / 4u);
}

// The weight row (= bias element) of column c of this head's projection: part c / dh (q, k, v), clamped
// to a real column so lanes past the last read valid memory (their sums are dropped).
fn projectionRow(head: u32, c: u32) -> u32 {
  let dh = params.headDim;
  let column = min(c, PARTS * dh - 1u);
  return (column / dh) * params.heads * dh + head * dh + column % dh;
}

// Stores column `column` of part 1 (k) or 2 (v) of row r's new cache row.
fn storeKv(r: u32, part: u32, column: u32, value: f32) {
#if !CROSS
  var at = params.vOffset + r * params.vBatchStride + params.queryPos0 * params.vRowStride + column;
  if (part == 1u) { at = params.kOffset + r * params.kBatchStride + params.queryPos0 * params.kRowStride + column; }
  kv[at / 4u][at % 4u] = value;
#endif
}

// The attention of row r of this head over keys j ≡ lane (mod LANES), merged across the lanes into out.
fn attend_row(r: u32, head: u32, lane: u32) {
  let dh = params.headDim;
  let kBase = params.kOffset + r * params.kBatchStride + head * dh;
  let vBase = params.vOffset + r * params.vBatchStride + head * dh;
  var query: array<vec4<f32>, HEAD_VECTORS>;
  for (var c = 0u; c < HEAD_VECTORS; c++) { query[c] = queries[r * HEAD_VECTORS + c]; }
  var acc = array<vec4<f32>, HEAD_VECTORS>();
  var m = LOWEST;
  var l = 0.0;
  for (var j = lane; j < params.keys; j += LANES) {
    let kRow = (kBase + j * params.kRowStride) / 4u;
    var dot = vec4<f32>();
    for (var c = 0u; c < HEAD_VECTORS; c++) { dot += query[c] * kv[kRow + c]; }
    let s = ((dot.x + dot.y) + (dot.z + dot.w)) * params.scale;
    let mNew = max(m, s);
    let rescale = exp(m - mNew); // 0 while nothing was seen (m = LOWEST)
    let p = exp(s - mNew);
    l = l * rescale + p;
    let vRow = (vBase + j * params.vRowStride) / 4u;
    for (var c = 0u; c < HEAD_VECTORS; c++) { acc[c] = acc[c] * rescale + p * kv[vRow + c]; }
    m = mNew;
  }
  partMax[lane] = m;
  partSum[lane] = l;
  for (var c = 0u; c < HEAD_VECTORS; c++) { partAcc[lane * HEAD_VECTORS + c] = acc[c]; }
  workgroupBarrier();
  var top = LOWEST;
  for (var i = 0u; i < LANES; i++) { top = max(top, partMax[i]); }
  var total = 0.0;
  for (var i = 0u; i < LANES; i++) { total += exp(partMax[i] - top) * partSum[i]; }
  let outBase = params.outOffset + r * params.outBatchStride + head * dh;
  // The lanes split the head's vec4s; a lane that saw no key weighs e^(LOWEST − top) = 0.
  for (var c = lane; c < HEAD_VECTORS; c += LANES) {
    var o = vec4<f32>();
    for (var i = 0u; i < LANES; i++) { o += exp(partMax[i] - top) * partAcc[i * HEAD_VECTORS + c]; }
    o /= total;
    for (var e = 0u; e < 4u; e++) { out[outBase + 4u * c + e] = o[e]; }
  }
  workgroupBarrier(); // the partials are reused by the next row
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  let head = group.x;
  let rows = params.batch;
  let dh = params.headDim;
  let steps = params.K / 4u;
  normalize_rows(0u, 0u, rows, lane);
  var xr: array<u32, X_ROWS>;
  for (var r = 0u; r < X_ROWS; r++) { xr[r] = min(r, rows - 1u) * steps; }
  for (var c0 = 0u; c0 < PARTS * dh; c0 += 32u) {
    let c = c0 + 4u * lane;
    let wRow = vec4<u32>(projectionRow(head, c), projectionRow(head, c + 1u), projectionRow(head, c + 2u), projectionRow(head, c + 3u)) * steps;
    let acc = tile_sums(xr, rows, wRow, steps);
    for (var i = 0u; i < 4u; i++) {
      let column = c + i;
      if (column >= PARTS * dh) { break; }
      let value = bias[projectionRow(head, column)];
      let part = column / dh;
      let within = column % dh;
      for (var r = 0u; r < TILE_ROWS; r++) { // a constant bound: unrolled, so acc stays in registers
        if (r >= rows) { break; }
        if (part == 0u) { queries[r * HEAD_VECTORS + within / 4u][within % 4u] = acc[r][i] + value; }
        else { storeKv(r, part, head * dh + within, acc[r][i] + value); }
      }
    }
  }
  storageBarrier(); // the new k and v rows of every lane are in the cache
  workgroupBarrier(); // and the queries in workgroup memory
  for (var r = 0u; r < rows; r++) {
    attend_row(r, head, lane);
  }
}
