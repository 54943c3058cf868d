// LayerNorm over the last dimension D, one workgroup per row:
//   y = (s − mean(s)) / sqrt(var(s) + eps) · γ + β,  s = x (+ r),  var biased (as PyTorch).
// Two passes over the row (mean, then centred squares) for accuracy, each a workgroup tree reduction.
// Row r of the call is row (b·xRows + xRowOffset + i) of x, with b = r / rows and i = r % rows, and row
// (b·yRows + yRowOffset + i) of y: e.g. only the class-token row of every text, or all rows.
// Defines:
//   RESIDUAL  s = x + r, and the sum is written back into x (x bound read_write): the pre-norm block's
//             residual add fused into the next LayerNorm. r has x's layout.
//   IN_PLACE  y is x (bound once, read_write): each row is normalized where it is.
//   POSITIONS (with IN_PLACE) s = x + pos[xRowOffset + i]: a positional table added to each item's rows;
//             with CLASS_ROW, row 0 of each item is first replaced by the vector cls. The vision tower's
//             class token, positional embedding and ln_pre in one pass.
// Bindings (generated from src/kernels/layernorm/gpu.ts): params, x (read-write with RESIDUAL or IN_PLACE),
// r (RESIDUAL), gamma and beta (read through gamma_at / beta_at), pos and cls (pos_at, cls_at), y (unless
// IN_PLACE).
override WG: u32 = 256u; // a power of two (the tree reduction halves it)
#include lib/reduce

#if POSITIONS
// Element d of row `row` (within its item) of x, the class vector for row 0 (CLASS_ROW), plus its position.
fn input_with_positions(xBase: u32, row: u32, d: u32) -> f32 {
  var s = x[xBase + d];
#if CLASS_ROW
  if (row == 0u) { s = cls_at(d); }
#endif
  return s + pos_at(row * params.D + d);
}
#endif

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * groups.x;
  if (row >= params.totalRows) { return; } // the whole workgroup leaves together
  let D = params.D;
  let b = row / params.rows;
  let i = row % params.rows;
  let xBase = (b * params.xRows + params.xRowOffset + i) * D;
#if !IN_PLACE
  let yBase = (b * params.yRows + params.yRowOffset + i) * D;
#endif

  // Pass 1: the row sum (writing x + r back first). Each thread keeps to the same columns in every
  // pass, so it only ever reads back what it wrote itself.
  var sum = 0.0;
  for (var d = tid; d < D; d += WG) {
#if RESIDUAL
    let s = x[xBase + d] + r[xBase + d];
    x[xBase + d] = s;
#else
#if POSITIONS
    let s = input_with_positions(xBase, params.xRowOffset + i, d);
    x[xBase + d] = s;
#else
    let s = x[xBase + d];
#endif
#endif
    sum += s;
  }
  let mean = workgroup_sum(tid, sum) / f32(D);

  // Pass 2: centred squares (no E[x²] − mean² cancellation).
  var squares = 0.0;
  for (var d = tid; d < D; d += WG) {
    let c = x[xBase + d] - mean;
    squares += c * c;
  }
  let invStd = inverseSqrt(workgroup_sum(tid, squares) / f32(D) + params.eps);

  for (var d = tid; d < D; d += WG) {
    let v = (x[xBase + d] - mean) * invStd * gamma_at(d) + beta_at(d);
#if IN_PLACE
    x[xBase + d] = v;
#else
    y[yBase + d] = v;
#endif
  }
}
