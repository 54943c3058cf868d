// Multi-head attention over whole sequences with the input projection inside, for CPU adapters: one
// workgroup of 8 lanes per (head, batch item) first computes its head's q, k and v (CROSS: q only) for
// every row, with the tile of lib/matmul_cpu_tile.wgsl, into qkv; then attends from there with
// lib/attend_cpu.wgsl. One dispatch where the projection and the attention were two; the work is the same.
//   qkv[part] = x·W[part·D + head·dh ..]ᵀ + b (part q, k, v)    out = softmax(q·kᵀ·scale + mask)·v
// x is the (already normalized) input [batch, queries, K], dense. q, k and v are written and read through
// params' offsets and strides (q, k and v side by side in qkv: offsets 0, D, 2D); CROSS reads k and v
// from kv instead. Defines: SUBGROUPS, F16_WEIGHTS (lib/matmul_cpu_tile), CROSS, and lib/attend_cpu's.
// Bindings (generated from src/kernels/attention/sequence-cpu.ts): params, x (vec4s), w (vec4s, or fp16 as
// vec2<u32>), bias, qkv (vec4s, read-write), kv (CROSS; vec4s), aux (u32), out.
#include lib/matmul_cpu_tile
#include lib/attend_cpu

#if CROSS
const PARTS: u32 = 1u;
#else
const PARTS: u32 = 3u;
#endif

fn x_vec(i: u32) -> vec4<f32> { return x[i]; }

fn loadQ(base: u32, c: u32, dh: u32) -> vec4<f32> { return qkv[base / 4u + c]; }
#if CROSS
fn loadK(base: u32, c: u32, dh: u32) -> vec4<f32> { return kv[base / 4u + c]; }
fn loadV(base: u32, c: u32, dh: u32) -> vec4<f32> { return kv[base / 4u + c]; }
#else
fn loadK(base: u32, c: u32, dh: u32) -> vec4<f32> { return qkv[base / 4u + c]; }
fn loadV(base: u32, c: u32, dh: u32) -> vec4<f32> { return qkv[base / 4u + c]; }
#endif

// The weight row (= bias element) of column c of this head's projection: part c / dh (q, k, v), clamped
// to a real column so lanes past the last read valid memory (their sums are dropped).
fn projectionRow(head: u32, c: u32) -> u32 {
  let dh = params.headDim;
  let column = min(c, PARTS * dh - 1u);
  return (column / dh) * params.heads * dh + head * dh + column % dh;
}

// Where element (row m of batch item b, column c of the head's projection) goes in qkv.
fn projectionTarget(b: u32, m: u32, head: u32, c: u32) -> u32 {
  let dh = params.headDim;
  let part = c / dh;
  let column = head * dh + c % dh;
  if (part == 0u) { return params.qOffset + b * params.qBatchStride + m * params.qRowStride + column; }
  if (part == 1u) { return params.kOffset + b * params.kBatchStride + m * params.kRowStride + column; }
  return params.vOffset + b * params.vBatchStride + m * params.vRowStride + column;
}

// First vec4 of row m of batch item b of x (clamped to a real row).
fn xRow(b: u32, m: u32) -> u32 {
  return (b * params.queries + min(m, params.queries - 1u)) * (params.K / 4u);
}

@compute @workgroup_size(LANES)
#if SUBGROUPS
fn main(@builtin(workgroup_id) group: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
#else
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
#endif
  let head = group.x;
  let b = group.y;
  let columns = PARTS * params.headDim;
  let steps = params.K / 4u;
  for (var m0 = 0u; m0 < params.queries; m0 += TILE_ROWS) {
    let rows = min(TILE_ROWS, params.queries - m0);
    var xr: array<u32, X_ROWS>;
#if SUBGROUPS
    for (var j = 0u; j < X_ROWS; j++) { xr[j] = xRow(b, m0 + lane + 8u * j); }
#else
    for (var r = 0u; r < X_ROWS; r++) { xr[r] = xRow(b, m0 + r); }
#endif
    for (var c0 = 0u; c0 < columns; c0 += 32u) {
      let c = c0 + 4u * lane;
      let wRow = vec4<u32>(projectionRow(head, c), projectionRow(head, c + 1u), projectionRow(head, c + 2u), projectionRow(head, c + 3u)) * steps;
      let acc = tile_sums(xr, rows, wRow, steps);
      for (var i = 0u; i < 4u; i++) {
        if (c + i >= columns) { break; }
        let bias_i = bias[projectionRow(head, c + i)];
        for (var r = 0u; r < TILE_ROWS; r++) { // a constant bound: unrolled, so acc stays in registers
          if (r >= rows) { break; }
          let at = projectionTarget(b, m0 + r, head, c + i);
          qkv[at / 4u][at % 4u] = acc[r][i] + bias_i;
        }
      }
    }
  }
  storageBarrier(); // every lane's q, k and v of this head are in qkv
  for (var row0 = 0u; row0 < params.queries; row0 += LANES * R) {
    attend_row_group(b, head, row0, lane);
  }
}
