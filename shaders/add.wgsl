// out[i] = a[i] + b[i % bLength]: elementwise add with b broadcast over leading dimensions
// (e.g. a positional embedding [L, D] added to every image of a batch [B, L, D]).
// IN_PLACE: out += b (a and out are the same tensor, which may not be bound twice).
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
#if IN_PLACE
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 256u;
  if (i >= params.length) { return; }
#if IN_PLACE
  out[i] = out[i] + b[i % params.bLength];
#else
  out[i] = a[i] + b[i % params.bLength];
#endif
}
