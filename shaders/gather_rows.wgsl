// dst[b, i] = src[index[b], i] for i < count: reorders per-beam caches after a beam-search step
// (beam b continues the sequence of beam index[b]). src and dst are different buffers.
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> index: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 256u;
  if (i >= params.count) { return; }
  let b = gid.z;
  dst[b * params.stride + i] = src[index[b] * params.stride + i];
}
