// Repetition penalty on logits [R, V] (CTRL / Hugging Face semantics): for each id already in row r's
// sequence, a positive logit is divided by the penalty and a negative one multiplied by it.
// ids holds each row's distinct ids (the host removes duplicates so each is penalised once), padded
// with ids ≥ vocab, which are skipped.
// Bindings (generated from src/kernels/generation.ts): params, ids (u32), logits.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  let r = gid.y;
  if (i >= params.count) { return; }
  let id = ids[r * params.idsStride + i];
  if (id >= params.vocab) { return; }
  let at = r * params.vocab + id;
  let v = logits[at];
  logits[at] = select(v * params.penalty, v / params.penalty, v > 0.0);
}
