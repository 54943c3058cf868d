// One tile of x·Wᵀ for CPU adapters (llvmpipe, SwiftShader): TILE_ROWS rows × 32 columns per workgroup of
// 8 lanes, W stored [N, K]. Used by matmul/cpu.wgsl and the CPU attention blocks.
//
// Why not a tiled kernel: a CPU Vulkan driver runs a subgroup's invocations as SIMD lanes and turns
// every storage-buffer load whose address is not a compile-time constant into a loop over the lanes
// with a bounds check per element (about six instructions per 32-bit element), while one FMA serves
// all lanes. Workgroup memory costs the same per element and barriers are coroutine switches. So the
// tile needs no workgroup memory and no barrier, loads only vec4s (the widest load; fp16 weights as
// vec2<u32>), and makes each loaded element feed as many outputs as it can:
// - a workgroup is one subgroup of 8 lanes; lane l owns 4 columns (4 weight rows), so 4 k's of its 4
//   weight rows form a 4×4 matrix and each row of x meets it in one vec4 × mat4x4;
// - with SUBGROUPS a tile has 32 rows of x: lane l loads rows m0 + l, + 8, + 16 and + 24, and
//   subgroupBroadcast hands each to the other lanes, so one vec4 load serves 8 rows × 32 columns.
//   Without, a tile has 8 rows and each lane loads every row itself (rows past the last sit under a
//   uniform branch and load nothing), which also suits a decoding step's 1–8 rows.
// The loop body stays small on purpose: longer bodies (8 k's a step, 8 columns a lane) overflow the
// instruction cache and ran slower. Measured on llvmpipe (2 cores, AVX2): ViT-B/32's M=50 products went
// from ~2.5 GFLOP/s (tiled kernel) to 12–17 without subgroups and 18–30 with them.
//
// The includer provides the binding w (vec4<f32>, or vec2<u32> with F16_WEIGHTS) and
// fn x_vec(i: u32) -> vec4<f32>, x's i-th vec4 (from a binding, or rows normalized in workgroup memory).
// Defines: SUBGROUPS (subgroups of exactly 8 lanes), F16_WEIGHTS.
#if SUBGROUPS
const TILE_ROWS: u32 = 32u;
/** Rows of x each lane loads per k step. */
const X_ROWS: u32 = 4u;
#else
const TILE_ROWS: u32 = 8u;
const X_ROWS: u32 = 8u;
#endif

// Weights 4s .. 4s + 3 of the weight row whose first vec4 is `row`.
fn weights4(row: u32, s: u32) -> vec4<f32> {
#if F16_WEIGHTS
  let v = w[row + s];
  return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y));
#else
  return w[row + s];
#endif
}

// result[r][c] = Σ_k x[row m0 + r, k]·W[column c, k] over K = 4·steps, for this lane's 4 columns, whose
// weight rows start at vec4s wRow. SUBGROUPS: xRow[j] is the first vec4 of row m0 + lane + 8j (rows past
// the last clamped to it: their sums are computed and dropped). Otherwise xRow[r] is the first vec4 of
// row m0 + r, and rows r ≥ `rows` load nothing (their sums stay 0). Call from uniform control flow.
fn tile_sums(xRow: array<u32, X_ROWS>, rows: u32, wRow: vec4<u32>, steps: u32) -> array<vec4<f32>, TILE_ROWS> {
  // a<r>[c] accumulates row m0 + r, column c.
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
  for (var k = 0u; k < steps; k++) {
    // This lane's 4 columns × 4 k's: x · wm is a row's 4 partial sums.
    let wm = mat4x4<f32>(weights4(wRow.x, k), weights4(wRow.y, k), weights4(wRow.z, k), weights4(wRow.w, k));
#if SUBGROUPS
    let p0 = x_vec(xRow[0] + k);
    a0 += subgroupBroadcast(p0, 0u) * wm;
    a1 += subgroupBroadcast(p0, 1u) * wm;
    a2 += subgroupBroadcast(p0, 2u) * wm;
    a3 += subgroupBroadcast(p0, 3u) * wm;
    a4 += subgroupBroadcast(p0, 4u) * wm;
    a5 += subgroupBroadcast(p0, 5u) * wm;
    a6 += subgroupBroadcast(p0, 6u) * wm;
    a7 += subgroupBroadcast(p0, 7u) * wm;
    let p1 = x_vec(xRow[1] + k);
    a8 += subgroupBroadcast(p1, 0u) * wm;
    a9 += subgroupBroadcast(p1, 1u) * wm;
    a10 += subgroupBroadcast(p1, 2u) * wm;
    a11 += subgroupBroadcast(p1, 3u) * wm;
    a12 += subgroupBroadcast(p1, 4u) * wm;
    a13 += subgroupBroadcast(p1, 5u) * wm;
    a14 += subgroupBroadcast(p1, 6u) * wm;
    a15 += subgroupBroadcast(p1, 7u) * wm;
    let p2 = x_vec(xRow[2] + k);
    a16 += subgroupBroadcast(p2, 0u) * wm;
    a17 += subgroupBroadcast(p2, 1u) * wm;
    a18 += subgroupBroadcast(p2, 2u) * wm;
    a19 += subgroupBroadcast(p2, 3u) * wm;
    a20 += subgroupBroadcast(p2, 4u) * wm;
    a21 += subgroupBroadcast(p2, 5u) * wm;
    a22 += subgroupBroadcast(p2, 6u) * wm;
    a23 += subgroupBroadcast(p2, 7u) * wm;
    let p3 = x_vec(xRow[3] + k);
    a24 += subgroupBroadcast(p3, 0u) * wm;
    a25 += subgroupBroadcast(p3, 1u) * wm;
    a26 += subgroupBroadcast(p3, 2u) * wm;
    a27 += subgroupBroadcast(p3, 3u) * wm;
    a28 += subgroupBroadcast(p3, 4u) * wm;
    a29 += subgroupBroadcast(p3, 5u) * wm;
    a30 += subgroupBroadcast(p3, 6u) * wm;
    a31 += subgroupBroadcast(p3, 7u) * wm;
#else
    a0 += x_vec(xRow[0] + k) * wm;
    if (rows > 1u) { a1 += x_vec(xRow[1] + k) * wm; }
    if (rows > 2u) { a2 += x_vec(xRow[2] + k) * wm; }
    if (rows > 3u) { a3 += x_vec(xRow[3] + k) * wm; }
    if (rows > 4u) { a4 += x_vec(xRow[4] + k) * wm; }
    if (rows > 5u) { a5 += x_vec(xRow[5] + k) * wm; }
    if (rows > 6u) { a6 += x_vec(xRow[6] + k) * wm; }
    if (rows > 7u) { a7 += x_vec(xRow[7] + k) * wm; }
#endif
  }
#if SUBGROUPS
  return array<vec4<f32>, 32>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
      a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31);
#else
  return array<vec4<f32>, 8>(a0, a1, a2, a3, a4, a5, a6, a7);
#endif
}
