// y = GELU(x) elementwise, the exact erf form 0.5·x·(1 + erf(x/√2)) (CoCa's activation).
// The erf/GELU functions come from src/kernels/gelu-wgsl.ts (GELU_FNS), the same text the matmul
// epilogues paste, so a fused and an unfused GELU give identical values.
// IN_PLACE: x is overwritten (bound once, read_write).
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
#if IN_PLACE
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
#endif

{{GELU_FNS}}

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
