// Embedding lookup, one thread per output element:
//   out[b, outRowOffset + i, :] = table[ids[idsOffset + b·idsBatchStride + i], :] (+ pos[posOffset + i, :])
// for i < rows. An id outside [0, vocab) (i32 ids arrive as u32, so negative ones are too) gives a
// row of zeros: never a read out of bounds. Callers validate ids on the host where they have them.
// Defines: POS, add a positional table (e.g. the text tower's, or CoCa's cls_emb at row 76). The tables
// are f32 or fp16 pairs (the spec's choice, hidden behind table_at and pos_at).
// Bindings (generated from src/kernels/embedding.ts): params, ids (u32), table (read through table_at),
// pos (with POS; pos_at), out.

const WG = 256u;
#include lib/positions

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let e = gid.x + gid.y * groups.x * WG;
  if (e >= params.total) { return; }
  let D = params.D;
  let d = e % D;
  let r = e / D;
  let i = r % params.rows;
  let b = r / params.rows;
  let id = ids[params.idsOffset + b * params.idsBatchStride + i];
  var v = 0.0;
  if (id < params.vocab) {
    v = with_position(table_at(id * D + d), params.posOffset + i, d, D);
  }
  out[(b * params.outRows + params.outRowOffset + i) * D + d] = v;
}
