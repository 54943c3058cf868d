// Exact GELU (WGSL has no erf), included by shaders/gelu.wgsl and the matmul epilogue: one text, so the
// elementwise kernel and the fused epilogues cannot drift apart.
//
// Accuracy, measured against float64 on a 1e-4 grid over [−10, 10] (test/kernels-gelu.test.ts):
// |erf_f32 − erf| ≤ 9.7e-8 (≈ 1.5 ulps); |gelu_exact − gelu| ≤ 1.2e-7 · max(1, |gelu|); and in the
// negative tail gelu_exact keeps its relative accuracy (≤ 6 × gelu's condition number × 2⁻²⁴):
// - |z| < 1: erf's Maclaurin series through z²¹ (truncation < 1.3e-9), so erf keeps its relative
//   accuracy near 0 instead of suffering 1 − erfc(z) cancellation.
// - |z| ≥ 1: erfc from Numerical Recipes' Chebyshev fit (fractional error < 1.2e-7), so
//   1 + erf(z) = erfc(−z) for z ≤ −1 has no cancellation: gelu(x) = 0.5·x·erfc(−x/√2) there.
// erfc is 0 from z = 10 on (erfc(10) ≈ 2e-45 is below f32's normals), so z² never overflows.

// erfc(x), relative error < 1.2e-7 for x >= 0 (the Chebyshev fit); erfc(−a) = 2 − erfc(a).
fn erfc_f32(x: f32) -> f32 {
  let a = min(abs(x), 10.0);
  let t = 1.0 / (1.0 + 0.5 * a);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let tail = select(t * exp(poly - a * a), 0.0, a >= 10.0);
  return select(2.0 - tail, tail, x >= 0.0);
}

// erf(z)/z − 1 for |z| < 1, from 2/√π · Σ (−1)ⁿ z²ⁿ / (n!·(2n+1)), n ≤ 10. Returning the small
// remainder after 1 lets erf = z + z·(…) keep z exact: ~1 ulp instead of the 2.5 of a plain Horner sum.
fn erf_series_f32(z: f32) -> f32 {
  let s = z * z;
  return 0.128379167 + s * (-0.376126389 + s * (0.112837917 + s * (-0.0268661706 + s * (0.00522397762 +
      s * (-0.000854832702 + s * (0.00012055333 + s * (-1.49256504e-5 + s * (1.64621144e-6 +
      s * (-1.63658447e-7 + s * 1.48071928e-8)))))))));
}

fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 1.0) { return x + x * erf_series_f32(x); }
  return sign(x) * (1.0 - erfc_f32(a));
}

// 0.5·x·(1 + erf(x/√2)), with 1 + erf(z) taken as erfc(−z) below z = −1.
fn gelu_exact(x: f32) -> f32 {
  let z = x * 0.707106781;
  if (z <= -1.0) { return 0.5 * x * erfc_f32(-z); }
  return 0.5 * x * (1.0 + erf_f32(z));
}
