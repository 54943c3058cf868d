// Softmax of each row of width N, one workgroup per row:
//   y[j] = exp(x[j] − max) / Σ exp(x[k] − max).
// Pass 1 keeps an online (running max, running sum) per thread, merged across the workgroup; pass 2
// writes. So x is read twice, whatever N (up to the 49,408-wide vocabulary and beyond).
// IN_PLACE: y is x (bound once, read_write).
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif

const WG = 256u;
// The running max starts here, not at −inf (WGSL may assume no infinities): exp(v − m) stays defined.
const LOWEST = -0x1.fffffep+127f; // −FLT_MAX

var<workgroup> partialMax: array<f32, WG>;
var<workgroup> partialSum: array<f32, WG>;

fn load(i: u32) -> f32 {
#if IN_PLACE
  return y[i];
#else
  return x[i];
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * groups.x;
  if (row >= params.rows) { return; } // the whole workgroup leaves together
  let N = params.N;
  let base = row * N;

  var m = LOWEST;
  var s = 0.0;
  for (var j = tid; j < N; j += WG) {
    let v = load(base + j);
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  partialMax[tid] = m;
  partialSum[tid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) {
      let m1 = partialMax[tid];
      let m2 = partialMax[tid + stride];
      let mm = max(m1, m2);
      partialSum[tid] = partialSum[tid] * exp(m1 - mm) + partialSum[tid + stride] * exp(m2 - mm);
      partialMax[tid] = mm;
    }
    workgroupBarrier();
  }
  let rowMax = partialMax[0];
  let total = partialSum[0];

  for (var j = tid; j < N; j += WG) {
    y[base + j] = exp(load(base + j) - rowMax) / total;
  }
}
