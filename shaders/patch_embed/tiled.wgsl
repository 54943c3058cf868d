// Patch embedding: Conv2d(C → Wd, kernel = stride = P, no bias) as a tiled matmul
//   out[b, outRowOffset + n, o] = Σ_k patch(b, n)[k] · weight[o, k]   (+ pos[outRowOffset + n, o])
// with k = (c·P + dy)·P + dx over K = C·P·P (3072 for ViT-B/32), and patches n row-major over the
// (H/P)×(W/P) grid. The im2col is never materialized: each K-tile of pixels is gathered straight into
// workgroup memory. Tile: 32 patches × 64 output channels × 16 k; each of 256 threads owns 2×4 outputs.
// Defines: POS, add a positional table row outRowOffset + n (the vision tower's, class token at row 0).
// Weights and positions are f32 or fp16 pairs (the spec's choice, hidden behind weight_at and pos_at).
// Bindings (generated from src/kernels/patch-embed/tiled.ts): params, pixels, weight (read through
// weight_at), pos (with POS; pos_at), out.
#include lib/positions

const TILE_M = 32u; // patches
const TILE_N = 64u; // output channels
const TILE_K = 16u;
const ROWS_PER_THREAD = 2u; // TILE_M / 16
const COLS_PER_THREAD = 4u; // TILE_N / 16

var<workgroup> tileA: array<array<f32, TILE_M>, TILE_K>; // [k][patch]
var<workgroup> tileB: array<array<f32, TILE_N>, TILE_K>; // [k][channel]

// Offset of patch m's top-left pixel in `pixels` (m = b·patches + n).
fn patch_origin(m: u32) -> u32 {
  let b = m / params.patches;
  let n = m % params.patches;
  let py = n / params.patchesPerRow;
  let px = n % params.patchesPerRow;
  return b * params.C * params.H * params.W + py * params.P * params.W + px * params.P;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let M = params.M;
  let Wd = params.Wd;
  let K = params.K;
  let P = params.P;
  let PP = P * P;
  let HW = params.H * params.W;
  let mBase = wid.y * TILE_M;
  let nBase = wid.x * TILE_N;

  // This thread's loads: k column kk of the tiles; patch rows loadRow, loadRow + 16; channels loadRow + 16j.
  let kk = tid % TILE_K;
  let loadRow = tid / TILE_K;
  var origin: array<u32, ROWS_PER_THREAD>;
  var rowValid: array<bool, ROWS_PER_THREAD>;
  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let m = mBase + loadRow + 16u * i;
    rowValid[i] = m < M;
    origin[i] = select(0u, patch_origin(m), m < M);
  }

  var acc: array<array<f32, COLS_PER_THREAD>, ROWS_PER_THREAD>;
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    let k = k0 + kk;
    let c = k / PP;
    let rem = k % PP;
    let pixelOffset = c * HW + (rem / P) * params.W + rem % P;
    for (var i = 0u; i < ROWS_PER_THREAD; i++) {
      var v = 0.0;
      if (rowValid[i] && k < K) { v = pixels[origin[i] + pixelOffset]; }
      tileA[kk][loadRow + 16u * i] = v;
    }
    for (var j = 0u; j < COLS_PER_THREAD; j++) {
      let o = nBase + loadRow + 16u * j;
      var w = 0.0;
      if (o < Wd && k < K) { w = weight_at(o * K + k); }
      tileB[kk][loadRow + 16u * j] = w;
    }
    workgroupBarrier();
    for (var t = 0u; t < TILE_K; t++) {
      var a: array<f32, ROWS_PER_THREAD>;
      for (var i = 0u; i < ROWS_PER_THREAD; i++) { a[i] = tileA[t][lid.y + 16u * i]; }
      for (var j = 0u; j < COLS_PER_THREAD; j++) {
        let w = tileB[t][lid.x + 16u * j];
        for (var i = 0u; i < ROWS_PER_THREAD; i++) { acc[i][j] = fma(a[i], w, acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < ROWS_PER_THREAD; i++) {
    let m = mBase + lid.y + 16u * i;
    if (m >= M) { continue; }
    let b = m / params.patches;
    let row = params.outRowOffset + m % params.patches;
    for (var j = 0u; j < COLS_PER_THREAD; j++) {
      let o = nBase + lid.x + 16u * j;
      if (o >= Wd) { continue; }
      out[(b * params.outRows + row) * Wd + o] = with_position(acc[i][j], row, o, Wd);
    }
  }
}
