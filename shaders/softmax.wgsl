// Softmax of each row of width N, one workgroup per row:
//   y[j] = exp(x[j] − max) / Σ exp(x[k] − max).
// Pass 1 keeps an online (running max, running sum) per thread, merged across the workgroup; pass 2
// writes. So x is read twice, whatever N (up to the 49,408-wide vocabulary and beyond).
// IN_PLACE: y is x (bound once, read_write).
// Bindings (generated from src/kernels/softmax.ts): params, x (unless IN_PLACE), y.

const WG = 256u;
// The running max starts here, not at −inf (WGSL may assume no infinities): exp(v − m) stays defined.
const LOWEST = -0x1.fffffep+127f; // −FLT_MAX
#include lib/reduce

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
  let merged = workgroup_max_sum(tid, m, s);
  let rowMax = merged.x;
  let total = merged.y;

  for (var j = tid; j < N; j += WG) {
    y[base + j] = exp(load(base + j) - rowMax) / total;
  }
}
