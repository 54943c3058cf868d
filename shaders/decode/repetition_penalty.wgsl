// Repetition penalty on logits [R, V] (CTRL / Hugging Face semantics): for each distinct id already in row
// r's sequence, a positive logit is divided by the penalty and a negative one multiplied by it.
// ids holds each row's tokens so far (row r at idsOffset + r·idsStride, `count` of them), duplicates
// included: an id is penalised once, by the invocation of its first occurrence. Ids ≥ vocab are skipped.
// Bindings (generated from src/kernels/decode/scores.ts): params, ids (u32), logits.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let r = gid.y;
  if (i >= params.count) { return; }
  let base = params.idsOffset + r * params.idsStride;
  let id = ids[base + i];
  if (id >= params.vocab) { return; }
  for (var j = 0u; j < i; j++) {
    if (ids[base + j] == id) { return; } // an earlier occurrence penalises it
  }
  let at = r * params.vocab + id;
  let v = logits[at];
  logits[at] = select(v * params.penalty, v / params.penalty, v > 0.0);
}
