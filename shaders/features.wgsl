// An embedding from one row of each item: features = raw / max(‖raw‖₂, 1e-12), raw = LN(x[b, row])·Pᵀ,
// P [E, D] (the LayerNorm optional: γ = ln_gamma, β = ln_beta, ε = params.eps). CoCa's image features
// (ln_post of the pooled row 0 @ visual.proj) and text features (ln_final of the class-token row @
// text_projection): one dispatch where a LayerNorm, a matmul and an L2 norm were three. One workgroup per
// item: the normalized row in workgroup memory, one output column a thread, tree sums (lib/reduce.wgsl).
// Defines: LN, MAX_WIDTH (D ≤ it). Bindings (generated from src/kernels/features.ts): params, x,
// ln_gamma and ln_beta (LN; ln_gamma_at, ln_beta_at), p (p_at), raw, features.
const WG = 64u;
const MIN_NORM = 1e-12;
#include lib/reduce

var<workgroup> normalized: array<f32, {{MAX_WIDTH}}>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) tid: u32) {
  let b = wid.x;
  let D = params.D;
  let E = params.E;
  let base = (b * params.rows + params.row) * D;
#if LN
  var sum = 0.0;
  for (var d = tid; d < D; d += WG) { sum += x[base + d]; }
  let mean = workgroup_sum(tid, sum) / f32(D);
  var squares = 0.0;
  for (var d = tid; d < D; d += WG) {
    let c = x[base + d] - mean;
    squares += c * c;
  }
  let invStd = inverseSqrt(workgroup_sum(tid, squares) / f32(D) + params.eps);
  for (var d = tid; d < D; d += WG) { normalized[d] = (x[base + d] - mean) * invStd * ln_gamma_at(d) + ln_beta_at(d); }
#else
  for (var d = tid; d < D; d += WG) { normalized[d] = x[base + d]; }
#endif
  workgroupBarrier();

  var norm2 = 0.0;
  for (var e = tid; e < E; e += WG) {
    var dot = 0.0;
    for (var d = 0u; d < D; d++) { dot = fma(normalized[d], p_at(e * D + d), dot); }
    raw[b * E + e] = dot;
    norm2 += dot * dot;
  }
  let norm = max(sqrt(workgroup_sum(tid, norm2)), MIN_NORM);
  for (var e = tid; e < E; e += WG) { features[b * E + e] = raw[b * E + e] / norm; }
}
