// One beam-search step on the GPU (one workgroup), exactly as src/model/generate.ts's beamCandidates and
// nextBeams do it on the host, so the next decoding step reads its input without the host:
// 1. Every beam's k = 2·B candidates (top-k ids and logits, best first) scored
//    total = (scores[beam] + value) − lse[beam] in f32 (LSE; raw scoring: − 0); non-finite values are none.
// 2. The k best totals (equal totals: lower candidate index first, as a stable sort keeps them), written to
//    the step's record for the host, which keeps the finished hypotheses (Hugging Face's BeamHypotheses).
// 3. Walking down that list, every candidate that is not the end token continues as a beam, until B:
//    ids[r] = its token (the next embedding gather), parents[r] = its beam (the next cache reorder),
//    scores[r] = its total, history set dst row r = history set src row `parents[r]` + the token.
// Record `record` (RECORD_WORDS u32, src/kernels/decode/beam.ts): [0] candidates n, [1] beams m,
// [4 + 3i…] beam, token, bitcast total of candidate i < n, [52 + 2r…] parent, token of beam r < m.
// Bindings (generated from src/kernels/decode/beam.ts): params, indices (u32), values, [lse,] scores,
// history (u32), ids (u32), parents (u32), records (u32).

const WG = 64u;
const MAX_BEAMS = 8u;
const MAX_CANDIDATES = 128u; // MAX_BEAMS · 2·MAX_BEAMS
const RECORD_WORDS = 68u;
const TOP_AT = 4u;
const NEXT_AT = 52u;
const NONE = 0xffffffffu;

var<workgroup> totals: array<f32, MAX_CANDIDATES>;
var<workgroup> valid: array<bool, MAX_CANDIDATES>;
var<workgroup> nextBeam: array<u32, MAX_BEAMS>;
var<workgroup> nextToken: array<u32, MAX_BEAMS>;
var<workgroup> nextScore: array<f32, MAX_BEAMS>;
var<workgroup> nextCount: u32;

// Bit test, not v == v: compilers may assume WGSL values are never NaN or infinite.
fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  let B = params.beams;
  let k = params.k;
  let n = B * k;
  for (var i = tid; i < n; i += WG) {
    let beam = i / k;
    let v = values[i];
    var norm = 0.0;
#if LSE
    norm = lse[beam];
#endif
    totals[i] = (scores[beam] + v) - norm;
    valid[i] = is_finite(v);
  }
  storageBarrier(); // every score is read before any is rewritten
  workgroupBarrier();

  if (tid == 0u) {
    let rec = params.record * RECORD_WORDS;
    var taken: array<u32, 4>; // one bit per candidate
    var found = 0u;
    var m = 0u;
    for (var rank = 0u; rank < k; rank++) {
      var best = NONE;
      for (var i = 0u; i < n; i++) {
        if (!valid[i] || (taken[i >> 5u] & (1u << (i & 31u))) != 0u) { continue; }
        if (best == NONE || totals[i] > totals[best]) { best = i; }
      }
      if (best == NONE) { break; }
      taken[best >> 5u] |= 1u << (best & 31u);
      let beam = best / k;
      let token = indices[best];
      records[rec + TOP_AT + 3u * rank] = beam;
      records[rec + TOP_AT + 3u * rank + 1u] = token;
      records[rec + TOP_AT + 3u * rank + 2u] = bitcast<u32>(totals[best]);
      found += 1u;
      if (m < B && token != params.endId) {
        nextBeam[m] = beam;
        nextToken[m] = token;
        nextScore[m] = totals[best];
        records[rec + NEXT_AT + 2u * m] = beam;
        records[rec + NEXT_AT + 2u * m + 1u] = token;
        m += 1u;
      }
    }
    records[rec] = found;
    records[rec + 1u] = m;
    nextCount = m;
  }
  workgroupBarrier();

  let m = nextCount;
  let L = params.historyStride;
  let width = params.length + 1u; // the beam's tokens, then the new one
  for (var i = tid; i < m * width; i += WG) {
    let r = i / width;
    let j = i % width;
    var token = nextToken[r];
    if (j < params.length) { token = history[params.src + nextBeam[r] * L + j]; }
    history[params.dst + r * L + j] = token;
  }
  if (tid < m) {
    ids[tid] = nextToken[tid];
    parents[tid] = nextBeam[tid];
    scores[tid] = nextScore[tid];
  }
}
