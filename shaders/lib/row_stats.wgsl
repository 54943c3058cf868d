// Mean and 1/σ (√(var + params.eps), biased variance as PyTorch) of STAT_ROWS rows of params.K values,
// by a whole GPU workgroup: thread t takes every STAT_THREADS-th value of row t / STAT_THREADS; two passes
// (mean, then centred squares: no E[x²] − mean² cancellation), each a tree sum over the row's threads.
// For kernels that fold a LayerNorm into their prologue (matmul/tiled, matmul/gemv, attention/step_gpu).
// The includer defines STAT_ROWS and STAT_THREADS (powers of two, their product the workgroup size), the
// binding x (f32) and fn stat_row(r: u32) -> u32, where row r's values start in x. Call row_stats from
// uniform control flow; rowMean and rowInvStd hold the results after it.
var<workgroup> statPartial: array<f32, STAT_ROWS * STAT_THREADS>;
var<workgroup> rowMean: array<f32, STAT_ROWS>;
var<workgroup> rowInvStd: array<f32, STAT_ROWS>;

// Σ of statPartial over the STAT_THREADS threads of thread t's row, for each of them.
fn row_total(t: u32) -> f32 {
  workgroupBarrier();
  for (var stride = STAT_THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t % STAT_THREADS < stride) { statPartial[t] += statPartial[t + stride]; }
    workgroupBarrier();
  }
  let total = statPartial[t - t % STAT_THREADS];
  workgroupBarrier();
  return total;
}

fn row_stats(t: u32) {
  let r = t / STAT_THREADS;
  let part = t % STAT_THREADS;
  let row = stat_row(r);
  let width = f32(params.K);
  var sum = 0.0;
  for (var k = part; k < params.K; k += STAT_THREADS) { sum += x[row + k]; }
  statPartial[t] = sum;
  let mean = row_total(t) / width;
  var squares = 0.0;
  for (var k = part; k < params.K; k += STAT_THREADS) {
    let c = x[row + k] - mean;
    squares += c * c;
  }
  statPartial[t] = squares;
  let invStd = inverseSqrt(row_total(t) / width + params.eps);
  if (part == 0u) {
    rowMean[r] = mean;
    rowInvStd[r] = invStd;
  }
  workgroupBarrier();
}
