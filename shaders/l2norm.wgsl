// Each row of width D divided by its Euclidean norm, as torch.nn.functional.normalize:
//   y = x / max(‖x‖₂, 1e-12). One workgroup per row, a workgroup tree sum of squares.
// IN_PLACE: y is x (bound once, read_write).
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif

const WG = 64u; // embedding widths are 48–1024: a few elements per thread
const MIN_NORM = 1e-12;

var<workgroup> partial: array<f32, WG>;

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
  partial[tid] = squares;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) { partial[tid] = partial[tid] + partial[tid + stride]; }
    workgroupBarrier();
  }
  let norm = max(sqrt(partial[0]), MIN_NORM);

  for (var d = tid; d < D; d += WG) {
    y[base + d] = load(base + d) / norm;
  }
}
