// lse[r] = log Σ_j exp(scale · x[r, j]) over rows of width N (scale = 1/temperature): the normaliser
// that turns the top-k logits of beam search and sampling into exact log-probabilities.
// Column blockId (0xffffffff: none) is left out, as a token masked to −inf would be.
// Bindings (generated from src/kernels/decode/scores.ts): params, x, lse.

const WG = 256u;
#include lib/reduce

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) tid: u32) {
  let row = group.x;
  let base = row * params.N;
  var m = -3.0e38;
  for (var j = tid; j < params.N; j += WG) { if (j != params.blockId) { m = max(m, params.scale * x[base + j]); } }
  let rowMax = workgroup_max(tid, m);
  var sum = 0.0;
  for (var j = tid; j < params.N; j += WG) { if (j != params.blockId) { sum += exp(params.scale * x[base + j] - rowMax); } }
  let total = workgroup_sum(tid, sum);
  if (tid == 0u) { lse[row] = rowMax + log(total); }
}
