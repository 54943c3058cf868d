// dst[b, i] = src[index[b], i] for i < count: reorders per-beam caches after a beam-search step
// (beam b continues the sequence of beam index[b]). src and dst are different buffers.
// Bindings (generated from src/kernels/decode/reorder.ts): params, src, index (u32), dst.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 256u;
  if (i >= params.count) { return; }
  let b = gid.z;
  dst[b * params.stride + i] = src[index[b] * params.stride + i];
}
