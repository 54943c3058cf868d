// out[i] = a[i] + b[i % bLength]: elementwise add with b broadcast over leading dimensions
// (e.g. a positional embedding [L, D] added to every image of a batch [B, L, D]).
// IN_PLACE: out += b (a and out are the same tensor, which may not be bound twice).
// Bindings (generated from src/kernels/add.ts): params, a (unless IN_PLACE), b, out.

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
