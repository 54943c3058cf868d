// y[r, :] = x[r, :] · Wᵀ + b for a few rows r (decoding: one token per beam), W stored [N, K].
// Bound by reading W, so each weight is read once for all rows: a workgroup owns 8 output columns,
// 32 threads share each column's K (neighbouring threads read neighbouring words), partial sums meet
// in workgroup memory. fp16 weights are read as pairs when the row starts on a word boundary.
#if F16_MATH
enable f16;
#endif
{{PARAMS}}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if F16_WEIGHTS
@group(0) @binding(2) var<storage, read> w: array<u32>;
#else
@group(0) @binding(2) var<storage, read> w: array<f32>;
#endif
#if BIAS
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#endif

{{GELU_FNS}}

const MAX_ROWS = 8u;
const COLUMNS = 8u;
const LANES = 32u;

var<workgroup> partial: array<f32, 2048>; // [COLUMNS][LANES][MAX_ROWS]

// acc + w·x: fused in f32, or (F16_MATH) the product in f16 and the sum in f32.
fn mac(acc: f32, w: f32, xv: f32) -> f32 {
#if F16_MATH
  return acc + f32(f16(w) * f16(xv));
#else
  return fma(w, xv, acc);
#endif
}

fn xAt(r: u32, k: u32) -> f32 {
  return x[params.xOffset + r * params.xRowStride + k];
}

@compute @workgroup_size(32, 8)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_id) local: vec3u) {
  let lane = local.x;
  let column = local.y;
  let n = (group.x + group.y * groups.x) * COLUMNS + column;
  let rows = params.M;
  var acc: array<f32, 8>;
  if (n < params.N) {
    let rowStart = params.wOffset + n * params.K;
#if F16_WEIGHTS
    if (rowStart % 2u == 0u) {
      let pairs = params.K / 2u;
      let wordStart = rowStart / 2u;
      for (var p = lane; p < pairs; p += LANES) {
        let wv = unpack2x16float(w[wordStart + p]);
        let k = 2u * p;
        for (var r = 0u; r < rows; r++) {
          acc[r] = mac(mac(acc[r], wv.y, xAt(r, k + 1u)), wv.x, xAt(r, k));
        }
      }
      if (params.K % 2u == 1u && lane == 0u) {
        let k = params.K - 1u;
        let wv = unpack2x16float(w[(rowStart + k) / 2u]).x;
        for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
      }
    } else {
      for (var k = lane; k < params.K; k += LANES) {
        let i = rowStart + k;
        let wv = unpack2x16float(w[i >> 1u])[i & 1u];
        for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
      }
    }
#else
    for (var k = lane; k < params.K; k += LANES) {
      let wv = w[rowStart + k];
      for (var r = 0u; r < rows; r++) { acc[r] = mac(acc[r], wv, xAt(r, k)); }
    }
#endif
  }
  for (var r = 0u; r < MAX_ROWS; r++) {
    partial[(column * LANES + lane) * MAX_ROWS + r] = acc[r];
  }
  workgroupBarrier();
  // Tree reduction over the 32 lanes of each column.
  for (var stride = LANES / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      for (var r = 0u; r < rows; r++) {
        let at = (column * LANES + lane) * MAX_ROWS + r;
        partial[at] = partial[at] + partial[at + stride * MAX_ROWS];
      }
    }
    workgroupBarrier();
  }
  if (n < params.N && lane < rows) {
    let r = lane;
    var v = partial[(column * LANES) * MAX_ROWS + r];
#if BIAS
    v += bias[params.biasOffset + n];
#endif
#if GELU
    v = gelu_exact(v);
#endif
    let at = params.yOffset + r * params.yRowStride + n;
#if ACCUMULATE
    y[at] = y[at] + v;
#else
    y[at] = v;
#endif
  }
}
