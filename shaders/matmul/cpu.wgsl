// y = x · Wᵀ + b for CPU adapters (llvmpipe, SwiftShader), W stored [N, K]. Needs K, x's offset and
// strides and W's offset in whole vec4s (multiples of 4 elements); the wrapper checks and sends other
// shapes to the tiled kernel.
//
// Why not the tiled kernel: a CPU Vulkan driver runs a subgroup's invocations as SIMD lanes and turns
// every storage-buffer load whose address is not a compile-time constant into a loop over the lanes
// with a bounds check per element (about six instructions per 32-bit element), while one FMA serves
// all lanes. Workgroup memory costs the same per element and barriers are coroutine switches. So this
// kernel has no workgroup memory and no barrier, loads only vec4s (the widest load; fp16 weights as
// vec2<u32>), and makes each loaded element feed as many outputs as it can:
// - a workgroup is one subgroup of 8 lanes; lane l owns the 4 adjacent columns n0 + 4l .. n0 + 4l + 3,
//   so 4 k's of its 4 weight rows form a 4×4 matrix and each row of x meets it in one vec4 × mat4x4;
// - with SUBGROUPS a tile has 32 rows of x: lane l loads rows m0 + l, + 8, + 16 and + 24, and
//   subgroupBroadcast hands each to the other lanes, so one vec4 load serves 8 rows × 32 columns.
//   Without, a tile has 8 rows and each lane loads every row itself (rows past M sit under a uniform
//   branch and load nothing), which also suits a decoding step's 1–8 rows.
// The loop body stays small on purpose: longer bodies (8 k's a step, 8 columns a lane) overflow the
// instruction cache and ran slower. Measured on llvmpipe (2 cores, AVX2): ViT-B/32's M=50 products went
// from ~2.5 GFLOP/s (tiled kernel) to 12–17 without subgroups and 18–30 with them.
// Batches index workgroup z. Defines: SUBGROUPS (needs subgroups of exactly 8 lanes), F16_WEIGHTS,
// BIAS, GELU (exact erf GELU on x·Wᵀ + b), ACCUMULATE (y += result: the residual add, in place): lib/matmul_epilogue.
// Bindings (generated from src/kernels/matmul/cpu.ts): params, x (vec4s), w (vec4s, or fp16 as vec2<u32>),
// bias, y. The spec enables subgroups for SUBGROUPS.
#include lib/matmul_epilogue

// Index of weight row n's first 4 weights, in units of w's element (clamped to a real row, so
// lanes past N read valid memory; their results are dropped at the store).
fn weightRow(n: u32) -> u32 {
  return (params.wOffset + min(n, params.N - 1u) * params.K) / 4u;
}

// Weights 4s .. 4s + 3 of the row starting at `row`.
fn weights4(row: u32, s: u32) -> vec4<f32> {
#if F16_WEIGHTS
  let v = w[row + s];
  return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
#else
  return w[row + s];
#endif
}

// First vec4 of x's row m (clamped to a real row).
fn xRow(base: u32, m: u32) -> u32 {
  return (base + min(m, params.M - 1u) * params.xRowStride) / 4u;
}

@compute @workgroup_size(8)
#if SUBGROUPS
fn main(@builtin(workgroup_id) group: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
#else
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
#endif
#if SUBGROUPS
  let m0 = group.x * 32u;
#else
  let m0 = group.x * 8u;
#endif
  let n = group.y * 32u + 4u * lane;
  let xBase = params.xOffset + group.z * params.xBatchStride;
  let yBase = params.yOffset + group.z * params.yBatchStride;
  let w0 = weightRow(n);
  let w1 = weightRow(n + 1u);
  let w2 = weightRow(n + 2u);
  let w3 = weightRow(n + 3u);
#if SUBGROUPS
  let xl0 = xRow(xBase, m0 + lane);
  let xl1 = xRow(xBase, m0 + 8u + lane);
  let xl2 = xRow(xBase, m0 + 16u + lane);
  let xl3 = xRow(xBase, m0 + 24u + lane);
#else
  let xr0 = xRow(xBase, m0);
  let xr1 = xRow(xBase, m0 + 1u);
  let xr2 = xRow(xBase, m0 + 2u);
  let xr3 = xRow(xBase, m0 + 3u);
  let xr4 = xRow(xBase, m0 + 4u);
  let xr5 = xRow(xBase, m0 + 5u);
  let xr6 = xRow(xBase, m0 + 6u);
  let xr7 = xRow(xBase, m0 + 7u);
  let rows = params.M - m0; // ≥ 1: the grid has no empty tiles
#endif
  // a<r>[c] accumulates row m0 + r, column n + c.
  var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
  var a4 = vec4<f32>(); var a5 = vec4<f32>(); var a6 = vec4<f32>(); var a7 = vec4<f32>();
#if SUBGROUPS
  var a8 = vec4<f32>(); var a9 = vec4<f32>(); var a10 = vec4<f32>(); var a11 = vec4<f32>();
  var a12 = vec4<f32>(); var a13 = vec4<f32>(); var a14 = vec4<f32>(); var a15 = vec4<f32>();
  var a16 = vec4<f32>(); var a17 = vec4<f32>(); var a18 = vec4<f32>(); var a19 = vec4<f32>();
  var a20 = vec4<f32>(); var a21 = vec4<f32>(); var a22 = vec4<f32>(); var a23 = vec4<f32>();
  var a24 = vec4<f32>(); var a25 = vec4<f32>(); var a26 = vec4<f32>(); var a27 = vec4<f32>();
  var a28 = vec4<f32>(); var a29 = vec4<f32>(); var a30 = vec4<f32>(); var a31 = vec4<f32>();
#endif

  let steps = params.K / 4u;
  for (var k = 0u; k < steps; k++) {
    // This lane's 4 columns × 4 k's: x · wm is a row's 4 partial sums.
    let wm = mat4x4<f32>(weights4(w0, k), weights4(w1, k), weights4(w2, k), weights4(w3, k));
#if SUBGROUPS
    let p0 = x[xl0 + k];
    a0 += subgroupBroadcast(p0, 0u) * wm;
    a1 += subgroupBroadcast(p0, 1u) * wm;
    a2 += subgroupBroadcast(p0, 2u) * wm;
    a3 += subgroupBroadcast(p0, 3u) * wm;
    a4 += subgroupBroadcast(p0, 4u) * wm;
    a5 += subgroupBroadcast(p0, 5u) * wm;
    a6 += subgroupBroadcast(p0, 6u) * wm;
    a7 += subgroupBroadcast(p0, 7u) * wm;
    let p1 = x[xl1 + k];
    a8 += subgroupBroadcast(p1, 0u) * wm;
    a9 += subgroupBroadcast(p1, 1u) * wm;
    a10 += subgroupBroadcast(p1, 2u) * wm;
    a11 += subgroupBroadcast(p1, 3u) * wm;
    a12 += subgroupBroadcast(p1, 4u) * wm;
    a13 += subgroupBroadcast(p1, 5u) * wm;
    a14 += subgroupBroadcast(p1, 6u) * wm;
    a15 += subgroupBroadcast(p1, 7u) * wm;
    let p2 = x[xl2 + k];
    a16 += subgroupBroadcast(p2, 0u) * wm;
    a17 += subgroupBroadcast(p2, 1u) * wm;
    a18 += subgroupBroadcast(p2, 2u) * wm;
    a19 += subgroupBroadcast(p2, 3u) * wm;
    a20 += subgroupBroadcast(p2, 4u) * wm;
    a21 += subgroupBroadcast(p2, 5u) * wm;
    a22 += subgroupBroadcast(p2, 6u) * wm;
    a23 += subgroupBroadcast(p2, 7u) * wm;
    let p3 = x[xl3 + k];
    a24 += subgroupBroadcast(p3, 0u) * wm;
    a25 += subgroupBroadcast(p3, 1u) * wm;
    a26 += subgroupBroadcast(p3, 2u) * wm;
    a27 += subgroupBroadcast(p3, 3u) * wm;
    a28 += subgroupBroadcast(p3, 4u) * wm;
    a29 += subgroupBroadcast(p3, 5u) * wm;
    a30 += subgroupBroadcast(p3, 6u) * wm;
    a31 += subgroupBroadcast(p3, 7u) * wm;
#else
    a0 += x[xr0 + k] * wm;
    if (rows > 1u) { a1 += x[xr1 + k] * wm; }
    if (rows > 2u) { a2 += x[xr2 + k] * wm; }
    if (rows > 3u) { a3 += x[xr3 + k] * wm; }
    if (rows > 4u) { a4 += x[xr4 + k] * wm; }
    if (rows > 5u) { a5 += x[xr5 + k] * wm; }
    if (rows > 6u) { a6 += x[xr6 + k] * wm; }
    if (rows > 7u) { a7 += x[xr7 + k] * wm; }
#endif
  }

#if SUBGROUPS
  let acc = array<vec4<f32>, 32>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
      a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31);
  let tileRows = 32u;
#else
  let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
  let tileRows = 8u;
#endif
  for (var c = 0u; c < 4u; c++) {
    if (n + c >= params.N) { break; }
    for (var r = 0u; r < tileRows; r++) {
      if (m0 + r >= params.M) { break; }
      store_output(acc[r][c], n + c, yBase + (m0 + r) * params.yRowStride + n + c);
    }
  }
}
