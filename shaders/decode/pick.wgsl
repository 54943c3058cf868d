// The next token of each one-row caption (greedy decoding, sampling), chosen on the GPU from the row's
// top-k candidates (best first), so the next decoding step reads it without the host:
//   ids[r] = the token (the next step's embedding gather reads it)
//   history[r·historyStride + length] = the token (the token history the host reads back, and the
//   repetition penalty's ids)
// Greedy: the first candidate. SAMPLE: Hugging Face's top-p draw over probabilities exp(scale·value − lse)
// (the top-k cut is k itself), by the counter-based uniform of (seed, length, row); the arithmetic is f32
// step for step as src/model/generate.ts's draw() does it, and the hash is its sampleUniform().
// One invocation per row. Bindings (generated from src/kernels/decode/pick.ts): params, indices (u32),
// [values, lse,] ids (u32), history (u32).

#if SAMPLE
const MAX_K = 32u;

// lowbias32 (Chris Wellons): a bijection of u32 with good avalanche.
fn mix32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// The uniform number in [0, 1) of draw (seed, step, row), 24 bits so that it is exact in f32.
fn sample_uniform(step: u32, row: u32) -> f32 {
  var h = 0x243f6a88u;
  h = mix32(h ^ params.seedLo);
  h = mix32(h ^ params.seedHi);
  h = mix32(h ^ step);
  h = mix32(h ^ row);
  return f32(h >> 8u) * (1.0 / 16777216.0);
}

// Bit test, not v == v: compilers may assume WGSL values are never NaN or infinite.
fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}
#endif

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= params.rows) { return; }
  let base = r * params.k;
  var token = indices[base];
#if SAMPLE
  var probs: array<f32, MAX_K>;
  var count = 0u;
  var mass = 0.0;
  let norm = lse[r];
  for (var i = 0u; i < params.k; i++) {
    let v = values[base + i] * params.scale;
    if (!is_finite(v)) { break; } // blocked or beyond the vocabulary
    let p = exp(v - norm);
    probs[count] = p;
    count += 1u;
    mass += p;
    if (mass >= params.topP) { break; } // the smallest prefix reaching p keeps the token that crosses it
  }
  var remaining = sample_uniform(params.length, r) * mass;
  token = indices[base + max(count, 1u) - 1u];
  for (var i = 0u; i < count; i++) {
    remaining -= probs[i];
    if (remaining < 0.0) {
      token = indices[base + i];
      break;
    }
  }
#endif
  ids[r] = token;
  history[r * params.historyStride + params.length] = token;
}
