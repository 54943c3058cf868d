// Attention of a few query rows of one head by one lane, for CPU adapters: online softmax over the keys
// in steps of B, with R rows a lane so that each K and V load serves R rows (see attention/cpu.wgsl for why).
//   out[b, i, h·dh + d] = Σ_j softmax_j(q_i·k_j·scale + mask(i, j)) · v_j[h·dh + d]
// Online softmax, per row, so any key count fits in private memory of O(head width): for each step of B
// keys, s_t = q·k_t·scale + mask; m' = max(m, max_t s_t); p_t = exp(s_t − m');
// acc ← acc·exp(m − m') + Σ_t p_t·v_t; l ← l·exp(m − m') + Σ_t p_t; finally out = acc / l. The step's
// p·v is summed apart before joining acc, so rounding grows with B + keys / B, not with keys.
// The includer provides params (AttentionParams' fields), the binding `out` (f32), aux (u32) and the
// loaders fn loadQ / loadK / loadV(base: u32, c: u32, dh: u32) -> vec4<f32> (elements 4c .. 4c + 3 of the
// head starting at element `base`). Defines: MAX_HEAD_DIM, LANES, ROWS_PER_LANE (R), KEY_BLOCK (B).
#include lib/attention_mask

/** vec4s in the widest head (the private query rows and accumulators hold this many). */
const MAX_VECTORS: u32 = {{MAX_HEAD_DIM}}u / 4u;
/** Invocations per workgroup: one SIMD batch of lanes. */
const LANES: u32 = {{LANES}}u;

/** Query rows one lane handles in the 'rows' entry point ('heads' uses 1). */
const R: u32 = {{ROWS_PER_LANE}}u;
/** Keys per step. */
const B: u32 = {{KEY_BLOCK}}u;

// Attention of query rows rowOf[0 .. count − 1] (count ≤ R, a constant at each call) of one (batch item,
// head) over keys 0 .. end − 1; keys a row may not see weigh 0. Rows with store[r] false are not written.
fn attend(batch: u32, head: u32, rowOf: array<u32, R>, count: u32, store: array<bool, R>, end: u32) {
  let dh = params.headDim;
  let vectors = (dh + 3u) / 4u;
  let column = head * dh;
  let kBase = params.kOffset + batch * params.kBatchStride + column;
  let vBase = params.vOffset + batch * params.vBatchStride + column;
  let auxBase = params.auxOffset + batch * params.auxBatchStride;

  var query: array<array<vec4<f32>, MAX_VECTORS>, R>;
  var visible: array<u32, R>;
  var classRow: array<bool, R>;
  for (var r = 0u; r < count; r++) {
    let position = params.queryPos0 + rowOf[r];
    visible[r] = visibleKeys(position);
    classRow[r] = params.maskMode == MASK_COCA_CLS && position == params.keys - 1u;
    let qBase = params.qOffset + batch * params.qBatchStride + rowOf[r] * params.qRowStride + column;
    for (var c = 0u; c < vectors; c++) {
      query[r][c] = loadQ(qBase, c, dh);
    }
  }
  var acc = array<array<vec4<f32>, MAX_VECTORS>, R>();
  var m: array<f32, R>;
  var l = array<f32, R>();
  for (var r = 0u; r < count; r++) { m[r] = BLOCKED; }

  for (var j0 = 0u; j0 < end; j0 += B) {
    // Keys past the end are clamped to the last one (real data) and weigh 0.
    var kRow: array<u32, B>;
    var vRow: array<u32, B>;
    for (var t = 0u; t < B; t++) {
      let j = min(j0 + t, end - 1u);
      kRow[t] = kBase + j * params.kRowStride;
      vRow[t] = vBase + j * params.vRowStride;
    }
    var dots = array<array<vec4<f32>, B>, R>();
    for (var c = 0u; c < vectors; c++) {
      var kc: array<vec4<f32>, B>;
      for (var t = 0u; t < B; t++) { kc[t] = loadK(kRow[t], c, dh); }
      for (var r = 0u; r < count; r++) {
        let qc = query[r][c];
        for (var t = 0u; t < B; t++) { dots[r][t] += qc * kc[t]; }
      }
    }
    var p: array<array<f32, B>, R>;
    var rescale: array<f32, R>;
    for (var r = 0u; r < count; r++) {
      var s: array<f32, B>;
      var blockMax = BLOCKED;
      for (var t = 0u; t < B; t++) {
        let j = j0 + t;
        var blocked = j >= end || j >= visible[r];
        var bias = 0.0;
        if (params.maskMode == MASK_EXPLICIT) {
          let bits = aux[auxBase + rowOf[r] * params.auxRowStride + min(j, end - 1u)];
          blocked = blocked || isExplicitlyBlocked(bits);
          bias = bitcast<f32>(bits);
        } else if (classRow[r] && j >= 1u) {
          blocked = blocked || aux[auxBase + min(j, end - 1u) - 1u] == 0u;
        }
        let d = dots[r][t];
        s[t] = select(((d.x + d.y) + (d.z + d.w)) * params.scale + bias, BLOCKED, blocked);
        blockMax = max(blockMax, s[t]);
      }
      let mNew = max(m[r], blockMax);
      // Nothing seen yet (m = BLOCKED): acc and l are 0, and so is the factor.
      rescale[r] = select(select(exp(m[r] - mNew), 1.0, m[r] == mNew), 0.0, m[r] <= BLOCKED);
      var sum = 0.0;
      for (var t = 0u; t < B; t++) {
        // A blocked key weighs exactly 0 (also while mNew is still BLOCKED).
        p[r][t] = select(exp(s[t] - mNew), 0.0, s[t] <= BLOCKED);
        sum += p[r][t];
      }
      l[r] = l[r] * rescale[r] + sum;
      m[r] = mNew;
    }
    for (var c = 0u; c < vectors; c++) {
      var vc: array<vec4<f32>, B>;
      for (var t = 0u; t < B; t++) { vc[t] = loadV(vRow[t], c, dh); }
      for (var r = 0u; r < count; r++) {
        // The block's p·v is summed apart before joining acc: rounding grows with B + keys / B.
        var block = vec4<f32>(0.0);
        for (var t = 0u; t < B; t++) { block += p[r][t] * vc[t]; }
        acc[r][c] = acc[r][c] * rescale[r] + block;
      }
    }
  }

  for (var r = 0u; r < count; r++) {
    if (!store[r]) { continue; }
    // A fully blocked row has l = 0: its output is 0, not NaN.
    let inv = select(0.0, 1.0 / l[r], l[r] > 0.0);
    let outBase = params.outOffset + batch * params.outBatchStride + rowOf[r] * params.outRowStride + column;
    for (var d = 0u; d < dh; d++) {
      out[outBase + d] = acc[r][d / 4u][d % 4u] * inv;
    }
  }
}

// LANES·R query rows of one (batch item, head) from row0: lane l takes rows row0 + l + LANES·r. Rows past
// the last compute it again and do not store.
fn attend_row_group(batch: u32, head: u32, row0: u32, lane: u32) {
  let lastRow = min(row0 + LANES * R, params.queries) - 1u;
  var rowOf: array<u32, R>;
  var store: array<bool, R>;
  for (var r = 0u; r < R; r++) {
    let row = row0 + lane + LANES * r;
    rowOf[r] = min(row, lastRow);
    store[r] = row <= lastRow;
  }
  attend(batch, head, rowOf, R, store, visibleKeys(params.queryPos0 + lastRow));
}
