// lse[r] = log Σ_j exp(scale · x[r, j]) over rows of width N (scale = 1/temperature): the normaliser
// that turns the top-k logits read back for beam search and sampling into exact log-probabilities.
// Column blockId (0xffffffff: none) is left out, as a token masked to −inf would be.
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;

const WG = 256u;
var<workgroup> shared_max: array<f32, 256>;
var<workgroup> shared_sum: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) tid: u32) {
  let row = group.x;
  let base = row * params.N;
  var m = -3.0e38;
  for (var j = tid; j < params.N; j += WG) { if (j != params.blockId) { m = max(m, params.scale * x[base + j]); } }
  shared_max[tid] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (tid < s) { shared_max[tid] = max(shared_max[tid], shared_max[tid + s]); }
    workgroupBarrier();
  }
  let rowMax = shared_max[0];
  var sum = 0.0;
  for (var j = tid; j < params.N; j += WG) { if (j != params.blockId) { sum += exp(params.scale * x[base + j] - rowMax); } }
  shared_sum[tid] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    if (tid < s) { shared_sum[tid] = shared_sum[tid] + shared_sum[tid + s]; }
    workgroupBarrier();
  }
  if (tid == 0u) { lse[row] = rowMax + log(shared_sum[0]); }
}
