// Workgroup tree reductions, for kernels that give a workgroup one row (layernorm, softmax, l2norm,
// logsumexp). The includer defines WG, the workgroup size (a power of two). Every thread passes its
// partial value and gets the total; call from uniform control flow. The scratch is free again on return.
var<workgroup> reduce_a: array<f32, WG>;
var<workgroup> reduce_b: array<f32, WG>;

fn workgroup_sum(tid: u32, value: f32) -> f32 {
  reduce_a[tid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) { reduce_a[tid] = reduce_a[tid] + reduce_a[tid + stride]; }
    workgroupBarrier();
  }
  let total = reduce_a[0];
  workgroupBarrier();
  return total;
}

fn workgroup_max(tid: u32, value: f32) -> f32 {
  reduce_a[tid] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) { reduce_a[tid] = max(reduce_a[tid], reduce_a[tid + stride]); }
    workgroupBarrier();
  }
  let total = reduce_a[0];
  workgroupBarrier();
  return total;
}

// Online softmax partials (running max m, sum s of exp(v − m)) merged across the workgroup: (max, Σ exp(v − max)).
fn workgroup_max_sum(tid: u32, m: f32, s: f32) -> vec2<f32> {
  reduce_a[tid] = m;
  reduce_b[tid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
    if (tid < stride) {
      let m1 = reduce_a[tid];
      let m2 = reduce_a[tid + stride];
      let mm = max(m1, m2);
      reduce_b[tid] = reduce_b[tid] * exp(m1 - mm) + reduce_b[tid + stride] * exp(m2 - mm);
      reduce_a[tid] = mm;
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(reduce_a[0], reduce_b[0]);
  workgroupBarrier();
  return total;
}
