// Embedding lookup, one thread per output element:
//   out[b, outRowOffset + i, :] = table[ids[idsOffset + b·idsBatchStride + i], :] (+ pos[posOffset + i, :])
// for i < rows. An id outside [0, vocab) (i32 ids arrive as u32, so negative ones are too) gives a
// row of zeros: never a read out of bounds. Callers validate ids on the host where they have them.
// Defines:
//   TABLE_F16 / POS_F16  the table / positional table is fp16 pairs packed in u32 words
//   POS                  add a positional table (e.g. the text tower's, or CoCa's cls_emb at row 76)
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<{{TABLE_TYPE}}>;
#if POS
@group(0) @binding(3) var<storage, read> pos: array<{{POS_TYPE}}>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

const WG = 256u;

fn table_at(i: u32) -> f32 {
#if TABLE_F16
  return unpack2x16float(table[i >> 1u])[i & 1u];
#else
  return table[i];
#endif
}

#if POS
fn pos_at(i: u32) -> f32 {
#if POS_F16
  return unpack2x16float(pos[i >> 1u])[i & 1u];
#else
  return pos[i];
#endif
}
#endif

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
    v = table_at(id * D + d);
#if POS
    v += pos_at((params.posOffset + i) * D + d);
#endif
  }
  out[(b * params.outRows + params.outRowOffset + i) * D + d] = v;
}
