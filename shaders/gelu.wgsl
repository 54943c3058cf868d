// y = GELU(x) elementwise, the exact erf form 0.5·x·(1 + erf(x/√2)) (CoCa's activation).
// The erf/GELU functions come from lib/gelu.wgsl, the same text the matmul epilogue includes, so a fused and an unfused GELU give identical values.
// IN_PLACE: x is overwritten (bound once, read_write).
// Bindings (generated from src/kernels/gelu.ts): params, x (unless IN_PLACE), y.
#include lib/gelu

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 256u;
  if (i >= params.length) { return; }
#if IN_PLACE
  y[i] = gelu_exact(y[i]);
#else
  y[i] = gelu_exact(x[i]);
#endif
}
