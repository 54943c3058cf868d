// The epilogue of every matmul kernel (tiled, matrix-vector, CPU): y[at] = act(sum + bias[n]), or
// y[at] += … (the residual add of a pre-norm block, in place).
// Defines: BIAS (binding `bias`, indexed from params.biasOffset), GELU (exact erf GELU), ACCUMULATE.
// Expects the binding `y` and params.biasOffset.
#if GELU
#include lib/gelu
#endif

fn store_output(sum: f32, n: u32, at: u32) {
  var v = sum;
#if BIAS
  v += bias[params.biasOffset + n];
#endif
#if GELU
  v = gelu_exact(v);
#endif
#if ACCUMULATE
  y[at] = y[at] + v;
#else
  y[at] = v;
#endif
}
