// LayerNorm over the last dimension D for CPU adapters (llvmpipe, SwiftShader): one invocation per row,
// no workgroup memory, no barrier. Same contract as layernorm/gpu.wgsl:
//   y = (s − mean(s)) / sqrt(var(s) + eps) · γ + β,  s = x (+ r),  var biased (as PyTorch),
// row r of the call being row (b·xRows + xRowOffset + i) of x and (b·yRows + yRowOffset + i) of y,
// b = r / rows, i = r % rows.
//
// Why: a CPU driver runs a workgroup's invocations as SIMD lanes; workgroup memory and barriers are
// emulated (a barrier is a coroutine switch of every lane group), so layernorm/gpu.wgsl's two tree
// reductions of log2(WG) barriers each cost far more than the arithmetic. Here each lane walks its own
// row three times (mean, centred squares, output), in vec4s when D % 4 == 0 (VEC4: a quarter of the
// loop iterations and index arithmetic). Measured on llvmpipe: 77×512 rows in ~0.1 ms, not 2–3 ms.
// Sums are taken in blocks of BLOCK vectors, each block's sum added to the total, so rounding grows
// with BLOCK + D / (4·BLOCK), not with D.
// Defines: VEC4 (vector type V = vec4f, D a multiple of 4, every index below in vec4s; γ and β as vec4s,
// or fp16 as vec2<u32>), RESIDUAL, IN_PLACE, F16_PARAMS (γ and β as fp16 pairs packed in u32 words),
// POSITIONS and CLASS_ROW (as layernorm/gpu.wgsl: pos and cls read through pos_at and cls_at).
// Bindings (generated from src/kernels/layernorm/cpu.ts): params, x (read-write with RESIDUAL or IN_PLACE),
// r (RESIDUAL), gamma and beta, y (unless IN_PLACE); x, r, y of element type V.
#if VEC4
alias V = vec4<f32>;
#else
alias V = f32;
#endif

/** Rows per workgroup (lanes). */
override WG: u32 = 8u;
/** Vectors summed per block before joining the row total. */
const BLOCK: u32 = 16u;

#if VEC4
const WIDTH: u32 = 4u;
fn total(v: vec4<f32>) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}
#else
const WIDTH: u32 = 1u;
fn total(v: f32) -> f32 {
  return v;
}
#endif

// γ and β, vector e (elements WIDTH·e …). Scalar rows read them through the generated gamma_at / beta_at.
#if VEC4
fn gamma_vec(e: u32) -> V {
#if F16_PARAMS
  let h = gamma[e];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
#else
  return gamma[e];
#endif
}

fn beta_vec(e: u32) -> V {
#if F16_PARAMS
  let h = beta[e];
  return vec4<f32>(unpack2x16float(h.x), unpack2x16float(h.y));
#else
  return beta[e];
#endif
}
#else
fn gamma_vec(e: u32) -> V { return gamma_at(e); }
fn beta_vec(e: u32) -> V { return beta_at(e); }
#endif

#if POSITIONS
// Value e (WIDTH elements) of x's row `row` (within its item) at xBase: the class vector for row 0
// (CLASS_ROW), plus the row's position.
fn input_with_positions(xBase: u32, row: u32, e: u32) -> V {
  var s = x[xBase + e];
  let at = row * params.D + WIDTH * e;
#if CLASS_ROW
#if VEC4
  if (row == 0u) { s = vec4<f32>(cls_at(4u * e), cls_at(4u * e + 1u), cls_at(4u * e + 2u), cls_at(4u * e + 3u)); }
#else
  if (row == 0u) { s = cls_at(e); }
#endif
#endif
#if VEC4
  return s + vec4<f32>(pos_at(at), pos_at(at + 1u), pos_at(at + 2u), pos_at(at + 3u));
#else
  return s + pos_at(at);
#endif
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let row = id.x + id.y * groups.x * WG;
  if (row >= params.totalRows) { return; }
  let D = params.D;
  let n = D / WIDTH; // vectors per row
  let b = row / params.rows;
  let i = row % params.rows;
  let xBase = (b * params.xRows + params.xRowOffset + i) * n;
#if !IN_PLACE
  let yBase = (b * params.yRows + params.yRowOffset + i) * n;
#endif

  // Pass 1: the row sum (writing x + r back first).
  var sum = 0.0;
  for (var start = 0u; start < n; start += BLOCK) {
    let end = min(n, start + BLOCK);
    var block = V(0.0);
    for (var e = start; e < end; e++) {
#if RESIDUAL
      let s = x[xBase + e] + r[xBase + e];
      x[xBase + e] = s;
#else
#if POSITIONS
      let s = input_with_positions(xBase, params.xRowOffset + i, e);
      x[xBase + e] = s;
#else
      let s = x[xBase + e];
#endif
#endif
      block += s;
    }
    sum += total(block);
  }
  let mean = sum / f32(D);

  // Pass 2: centred squares (no E[x²] − mean² cancellation).
  var squares = 0.0;
  for (var start = 0u; start < n; start += BLOCK) {
    let end = min(n, start + BLOCK);
    var block = V(0.0);
    for (var e = start; e < end; e++) {
      let c = x[xBase + e] - mean;
      block += c * c;
    }
    squares += total(block);
  }
  let invStd = inverseSqrt(squares / f32(D) + params.eps);

  for (var e = 0u; e < n; e++) {
    let v = (x[xBase + e] - mean) * invStd * gamma_vec(e) + beta_vec(e);
#if IN_PLACE
    x[xBase + e] = v;
#else
    y[yBase + e] = v;
#endif
  }
}
