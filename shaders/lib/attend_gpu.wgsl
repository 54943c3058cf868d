// Attention of a group of query rows of one head by a whole workgroup, for GPUs: the rows' queries are in
// queryTile (the caller loads them); three phases, each split over the WORKGROUP threads:
//   1. scores s[r, j] = q_r·k_j·scale + mask, kept in workgroup memory (blocked keys get BLOCKED);
//   2. per row: max, then p = exp(s − max) written over s, then Σp (tree reductions);
//   3. out[r, d] = Σ_j p[r, j]·v_j[d] / Σp, threads split (row, dim) and, for narrow heads, the keys.
// The includer provides params (AttentionParams' fields), the bindings `out` (f32) and aux (u32), and
// fn k_at(i: u32) -> f32 and v_at(i: u32) -> f32. Defines: SCORE_CAPACITY, MAX_ROWS, MAX_HEAD_DIM, WORKGROUP.
#include lib/attention_mask

// Sizes fixed by src/kernels/attention/gpu.ts, pasted in as plain consts (not `override`: some browsers'
// compilers do not yet size workgroup arrays with override constants).
/** Scores held per workgroup: rowsPerGroup × keys ≤ SCORE_CAPACITY (the host picks rowsPerGroup). */
const SCORE_CAPACITY: u32 = {{SCORE_CAPACITY}}u;
const MAX_ROWS: u32 = {{MAX_ROWS}}u;
const MAX_HEAD_DIM: u32 = {{MAX_HEAD_DIM}}u;
/** Threads per workgroup: a power of two, a multiple of MAX_ROWS. */
const WORKGROUP: u32 = {{WORKGROUP}}u;

/** Phase 3 sums p·v in chunks of this many keys, then sums the chunks: rounding grows with CHUNK + keys/CHUNK, not keys. */
const CHUNK: u32 = 32u;

var<workgroup> scores: array<f32, SCORE_CAPACITY>;
var<workgroup> queryTile: array<f32, MAX_ROWS * MAX_HEAD_DIM>;
var<workgroup> reduction: array<f32, WORKGROUP>;
var<workgroup> partials: array<f32, WORKGROUP>;
var<workgroup> rowMax: array<f32, MAX_ROWS>;
var<workgroup> rowInvSum: array<f32, MAX_ROWS>;

/** Tree-reduces reduction[] within each row's lane block; op 0 = max, 1 = sum. Call from uniform control flow. */
fn reduceLanes(t: u32, lanes: u32, op: u32) {
  var stride = lanes / 2u;
  loop {
    if (stride == 0u) { break; }
    if (t % lanes < stride) {
      let a = reduction[t];
      let b = reduction[t + stride];
      reduction[t] = select(a + b, max(a, b), op == 0u);
    }
    workgroupBarrier();
    stride = stride / 2u;
  }
}

// Attention of rows row0 .. row0 + rows − 1 (rows ≤ MAX_ROWS, their queries in queryTile) of one
// (batch item, head). Call from uniform control flow: it is joined by barriers.
fn attend_group(t: u32, head: u32, batch: u32, row0: u32, rows: u32) {
  let dh = params.headDim;
  let keys = params.keys;
  let column = head * dh;
  let kBase = params.kOffset + batch * params.kBatchStride + column;
  let vBase = params.vOffset + batch * params.vBatchStride + column;
  let auxBase = params.auxOffset + batch * params.auxBatchStride;

  // Phase 1. Neighbouring threads take the same key for different rows, so a K row is read once per group.
  for (var e = t; e < rows * keys; e += WORKGROUP) {
    let j = e / rows;
    let r = e % rows;
    let position = params.queryPos0 + row0 + r;
    var blocked = j >= visibleKeys(position);
    var bias = 0.0;
    if (params.maskMode == MASK_COCA_CLS && position == keys - 1u && j >= 1u) {
      blocked = blocked || aux[auxBase + j - 1u] == 0u;
    } else if (params.maskMode == MASK_EXPLICIT) {
      let bits = aux[auxBase + (row0 + r) * params.auxRowStride + j];
      blocked = isExplicitlyBlocked(bits);
      bias = bitcast<f32>(bits);
    }
    var score = BLOCKED;
    if (!blocked) {
      let kRow = kBase + j * params.kRowStride;
      let qRow = r * dh;
      // Four independent sums keep four loads in flight (and round a little less than one long sum).
      var dot = vec4f(0.0);
      var d = 0u;
      for (; d + 4u <= dh; d += 4u) {
        let kd = vec4f(k_at(kRow + d), k_at(kRow + d + 1u), k_at(kRow + d + 2u), k_at(kRow + d + 3u));
        let qd = vec4f(queryTile[qRow + d], queryTile[qRow + d + 1u], queryTile[qRow + d + 2u], queryTile[qRow + d + 3u]);
        dot += qd * kd;
      }
      for (; d < dh; d++) {
        dot.x += queryTile[qRow + d] * k_at(kRow + d);
      }
      score = ((dot.x + dot.y) + (dot.z + dot.w)) * params.scale + bias;
    }
    scores[r * keys + j] = score;
  }
  workgroupBarrier();

  // Phase 2: each row gets WORKGROUP / MAX_ROWS lanes.
  let lanes = WORKGROUP / MAX_ROWS;
  let r2 = t / lanes;
  let lane = t % lanes;
  var rowMaxPartial = BLOCKED;
  if (r2 < rows) {
    for (var j = lane; j < keys; j += lanes) {
      rowMaxPartial = max(rowMaxPartial, scores[r2 * keys + j]);
    }
  }
  reduction[t] = rowMaxPartial;
  workgroupBarrier();
  reduceLanes(t, lanes, 0u);
  if (lane == 0u && r2 < MAX_ROWS) {
    rowMax[r2] = reduction[t];
  }
  workgroupBarrier();
  var sumPartial = 0.0;
  if (r2 < rows) {
    let m = rowMax[r2];
    for (var j = lane; j < keys; j += lanes) {
      let s = scores[r2 * keys + j];
      // A fully blocked row has m = BLOCKED: every p is 0 and the row's output is 0, not NaN.
      let p = select(exp(s - m), 0.0, s <= BLOCKED);
      scores[r2 * keys + j] = p;
      sumPartial += p;
    }
  }
  reduction[t] = sumPartial;
  workgroupBarrier();
  reduceLanes(t, lanes, 1u);
  if (lane == 0u && r2 < MAX_ROWS) {
    let total = reduction[t];
    rowInvSum[r2] = select(0.0, 1.0 / total, total > 0.0);
  }
  workgroupBarrier();

  // Phase 3. When rows·dh < WORKGROUP, `splits` threads share each output, each taking every splits-th key.
  let outputs = rows * dh;
  let splits = max(1u, WORKGROUP / outputs);
  let outBase = params.outOffset + batch * params.outBatchStride + column;
  for (var e = t; e < splits * outputs; e += WORKGROUP) {
    let split = e / outputs;
    let r = (e % outputs) / dh;
    let d = e % dh;
    let end = visibleKeys(params.queryPos0 + row0 + r);
    let pRow = r * keys;
    let vColumn = vBase + d;
    let vStride = params.vRowStride;
    var total = 0.0;
    var j = split;
    loop {
      if (j >= end) { break; }
      let stop = min(end, j + CHUNK * splits);
      // Four keys per step into four sums, for loads in flight, as in phase 1.
      var chunk = vec4f(0.0);
      for (; j + 3u * splits < stop; j += 4u * splits) {
        let p = vec4f(scores[pRow + j], scores[pRow + j + splits], scores[pRow + j + 2u * splits], scores[pRow + j + 3u * splits]);
        let vj = vec4f(
          v_at(vColumn + j * vStride),
          v_at(vColumn + (j + splits) * vStride),
          v_at(vColumn + (j + 2u * splits) * vStride),
          v_at(vColumn + (j + 3u * splits) * vStride),
        );
        chunk += p * vj;
      }
      for (; j < stop; j += splits) {
        chunk.x += scores[pRow + j] * v_at(vColumn + j * vStride);
      }
      total += (chunk.x + chunk.y) + (chunk.z + chunk.w);
    }
    if (splits == 1u) {
      out[outBase + (row0 + r) * params.outRowStride + d] = total * rowInvSum[r];
    } else {
      partials[e] = total;
    }
  }
  workgroupBarrier();
  if (splits > 1u && t < outputs) {
    let r = t / dh;
    var total = 0.0;
    for (var split = 0u; split < splits; split++) {
      total += partials[split * outputs + t];
    }
    out[outBase + (row0 + r) * params.outRowStride + t % dh] = total * rowInvSum[r];
  }
}
