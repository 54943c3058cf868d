// Each row of width D divided by its Euclidean norm, as torch.nn.functional.normalize:
//   y = x / max(‖x‖₂, 1e-12). One workgroup per row, a workgroup tree sum of squares.
// IN_PLACE: y is x (bound once, read_write).
// Bindings (generated from src/kernels/l2norm.ts): params, x (unless IN_PLACE), y.

const WG = 64u; // embedding widths are 48–1024: a few elements per thread
const MIN_NORM = 1e-12;
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
  let D = params.D;
  let base = row * D;

  var squares = 0.0;
  for (var d = tid; d < D; d += WG) {
    let v = load(base + d);
    squares += v * v;
  }
  let norm = max(sqrt(workgroup_sum(tid, squares)), MIN_NORM);

  for (var d = tid; d < D; d += WG) {
    y[base + d] = load(base + d) / norm;
  }
}
