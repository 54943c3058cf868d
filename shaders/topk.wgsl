// Top-k of each row (argmax is k = 1), one workgroup per row, k ≤ MAX_K:
//   indices[row, r], values[row, r] for r < k, by value descending and on ties by LOWER index first
//   (torch.topk / torch.argmax order: argmax = the first index of the max).
// 1. Each thread scans a strided part of the row keeping its own sorted top-k in private memory
//    (most elements lose to the current k-th best at one comparison).
// 2. k rounds of a workgroup tree reduction over every thread's best remaining candidate: the winner
//    is output and its owner moves on to its next candidate.
// Index `blockId` (NONE = no block) is skipped as if it were −inf: the end token before min length.
// Bindings (generated from src/kernels/topk.ts): params, x, indices (u32), values.

const WG = 256u;
const MAX_K = 32u;
const NONE = 0xffffffffu; // no candidate; ranks after everything

var<workgroup> bestValue: array<f32, WG>;
var<workgroup> bestIndex: array<u32, WG>;

// Does candidate (va, ia) rank before (vb, ib)?
fn ranks_before(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  if (ia == NONE) { return false; }
  if (ib == NONE) { return true; }
  return va > vb || (va == vb && ia < ib);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * groups.x;
  if (row >= params.rows) { return; } // the whole workgroup leaves together
  let k = params.k;
  let base = params.rowOffset + row * params.rowStride;

  // 1. This thread's top-k of columns tid, tid + WG, …, sorted. Columns arrive in increasing order,
  //    so an equal value never displaces an earlier one: ties stay lower-index-first.
  var topValue: array<f32, MAX_K>;
  var topIndex: array<u32, MAX_K>;
  var count = 0u;
  for (var j = tid; j < params.N; j += WG) {
    if (j == params.blockId) { continue; }
    let v = x[base + j];
    if (count == k && !(v > topValue[k - 1u])) { continue; }
    var p = min(count, k - 1u); // the free slot, or the k-th best, which v pushes out
    loop {
      if (p == 0u || !(v > topValue[p - 1u])) { break; }
      topValue[p] = topValue[p - 1u];
      topIndex[p] = topIndex[p - 1u];
      p -= 1u;
    }
    topValue[p] = v;
    topIndex[p] = j;
    count = min(count + 1u, k);
  }

  // 2. k rounds: the best head among all threads' lists wins and is popped from its owner's list.
  var head = 0u;
  for (var r = 0u; r < k; r++) {
    let has = head < count;
    bestValue[tid] = select(0.0, topValue[min(head, MAX_K - 1u)], has);
    bestIndex[tid] = select(NONE, topIndex[min(head, MAX_K - 1u)], has);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride = stride / 2u) {
      if (tid < stride && ranks_before(bestValue[tid + stride], bestIndex[tid + stride], bestValue[tid], bestIndex[tid])) {
        bestValue[tid] = bestValue[tid + stride];
        bestIndex[tid] = bestIndex[tid + stride];
      }
      workgroupBarrier();
    }
    let winner = bestIndex[0];
    if (tid == 0u) {
      indices[row * k + r] = winner;
      values[row * k + r] = bestValue[0];
    }
    if (has && topIndex[head] == winner) { head += 1u; }
    workgroupBarrier(); // everyone has read the winner before the next round overwrites it
  }
}
