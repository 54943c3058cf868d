// Fused multi-head attention, one dispatch per call:
//   out[b, i, h·dh + d] = Σ_j softmax_j(q_i·k_j·scale + mask(i, j)) · v_j[h·dh + d]
// One workgroup per (group of `rowsPerGroup` query rows, head, batch item). The rows of a group share
// every K and V read; the phases (scores, softmax, p·v) are lib/attend_gpu.wgsl.
// q, k, v and aux are separate read-only bindings so a caller may pass the same tensor for all of them
// (a fused qkv matmul output); every read goes through offset + batch·batchStride + row·rowStride.
// Mask modes: lib/attention_mask.wgsl.
// Bindings (generated from src/kernels/attention/gpu.ts): params, q, k, v, aux (u32), out.
#include lib/attend_gpu

fn k_at(i: u32) -> f32 { return k[i]; }
fn v_at(i: u32) -> f32 { return v[i]; }

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) t: u32) {
  let head = group.y;
  let batch = group.z;
  let dh = params.headDim;
  let row0 = group.x * params.rowsPerGroup;
  let rows = min(params.rowsPerGroup, params.queries - row0);
  let qBase = params.qOffset + batch * params.qBatchStride + head * dh;
  for (var e = t; e < rows * dh; e += WORKGROUP) {
    let r = e / dh;
    queryTile[e] = q[qBase + (row0 + r) * params.qRowStride + e % dh];
  }
  workgroupBarrier();
  attend_group(t, head, batch, row0, rows);
}
