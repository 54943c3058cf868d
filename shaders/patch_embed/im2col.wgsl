// Patches as rows: out[b, n, (c·P + py)·P + px] = pixels[b, c, gy·P + py, gx·P + px] for patch n = gy·G + gx.
// With conv1.weight viewed as [W, C·P·P], the patch embedding becomes a plain matmul. One invocation per
// output element, no barriers: the path CPU adapters take (the tiled patch_embed kernel suits GPUs).
// Bindings (generated from src/kernels/patch-embed/im2col.ts): params, pixels, out.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * 64u;
  let rowLength = params.channels * params.patchSize * params.patchSize;
  let perImage = params.grid * params.grid * rowLength;
  if (i >= params.batch * perImage) { return; }
  let b = i / perImage;
  let n = (i % perImage) / rowLength;
  let k = i % rowLength;
  let c = k / (params.patchSize * params.patchSize);
  let py = (k / params.patchSize) % params.patchSize;
  let px = k % params.patchSize;
  let y = (n / params.grid) * params.patchSize + py;
  let x = (n % params.grid) * params.patchSize + px;
  out[i] = pixels[((b * params.channels + c) * params.size + y) * params.size + x];
}
