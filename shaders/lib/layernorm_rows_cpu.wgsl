// Rows of x layer-normalized into workgroup memory by the 8 lanes of a CPU-adapter workgroup together,
// for kernels whose main loop then reads them many times (matmul/cpu.wgsl's LN_IN, the decoding-step
// attention): γ = ln_gamma, β = ln_beta (read through ln_gamma_at / ln_beta_at), ε = params.eps, over
// params.K values a row. The includer provides the binding x (vec4s) and fn xRow(base: u32, m: u32) -> u32
// (the first vec4 of row m). Defines: XN_VEC4 (the vec4s of workgroup memory xn holds).
var<workgroup> xn: array<vec4<f32>, {{XN_VEC4}}>;
var<workgroup> laneSums: array<f32, 8>;

// Σ over the 8 lanes of `value`, for every lane. Uniform control flow.
fn lanes_sum(lane: u32, value: f32) -> f32 {
  laneSums[lane] = value;
  workgroupBarrier();
  var total = 0.0;
  for (var l = 0u; l < 8u; l++) { total += laneSums[l]; }
  workgroupBarrier();
  return total;
}

// γ (column 0) and β (column 1) of values 4e .. 4e + 3.
fn ln_vec(e: u32) -> mat2x4<f32> {
  let i = 4u * e;
  return mat2x4<f32>(vec4<f32>(ln_gamma_at(i), ln_gamma_at(i + 1u), ln_gamma_at(i + 2u), ln_gamma_at(i + 3u)),
      vec4<f32>(ln_beta_at(i), ln_beta_at(i + 1u), ln_beta_at(i + 2u), ln_beta_at(i + 3u)));
}

// Rows m0 .. m0 + rows − 1 of x, layer-normalized into xn[r·K/4 ..]: the lanes split each row, mean
// first, then centred squares (no E[x²] − mean² cancellation).
fn normalize_rows(xBase: u32, m0: u32, rows: u32, lane: u32) {
  let steps = params.K / 4u;
  let width = f32(params.K);
  for (var r = 0u; r < rows; r++) {
    let row = xRow(xBase, m0 + r);
    var s = vec4<f32>();
    for (var e = lane; e < steps; e += 8u) { s += x[row + e]; }
    let mean = lanes_sum(lane, (s.x + s.y) + (s.z + s.w)) / width;
    var q = vec4<f32>();
    for (var e = lane; e < steps; e += 8u) {
      let c = x[row + e] - mean;
      q += c * c;
    }
    let invStd = inverseSqrt(lanes_sum(lane, (q.x + q.y) + (q.z + q.w)) / width + params.eps);
    for (var e = lane; e < steps; e += 8u) {
      let gb = ln_vec(e);
      xn[r * steps + e] = (x[row + e] - mean) * invStd * gb[0] + gb[1];
    }
  }
  workgroupBarrier();
}
