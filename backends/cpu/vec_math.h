// exp and erf for the CPU kernels, written so the compiler vectorizes the
// loops that call them. libm's expf/erff are function calls, so a loop over
// them runs one element at a time; GELU and its gradient spent about a third
// of an MH-MoE training step there. The f32 versions are polynomials (exp:
// within 1e-7 relative, erf: within 5e-7 absolute of libm's double result, both
// checked by tests/test_cpu_backend.cpp); f64 keeps libm, so gradchecks
// run at full precision.
//
// Vectorizing the clamps below needs -fno-trapping-math (set for the
// library in CMakeLists.txt): without it GCC may not turn a comparison into a
// select, since a comparison could raise a floating-point trap.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace moegrad::cpu {

inline float float_from_bits(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

// exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln2 / 2, exp(r) by a
// degree-6 polynomial (Cephes' expf coefficients). Below -87.3 the result
// would be a denormal and is 0; above 88.7 it is inf; NaN stays NaN.
inline float vexp(float x) {
  const float lo = -87.33654f, hi = 88.72283f;
  const float in = x;
  // NaN fails every comparison: this clamp maps it to lo, so that the int32
  // conversion of n below stays defined (NaN to int is undefined behaviour),
  // and the last line gives it back unchanged.
  x = x > lo ? (x < hi ? x : hi) : lo;
  // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without
  // a rounding instruction that plain SSE2 lacks.
  const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693359375f;  // ln 2 in two parts, so n * ln2 loses nothing
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two powers of two, so n = 128 and n = -126 stay representable.
  const int32_t ni = int32_t(n), half = ni >> 1;
  const float y = p * float_from_bits((half + 127) << 23) * float_from_bits((ni - half + 127) << 23);
  return in < lo ? 0.f : (in > hi ? HUGE_VALF : (in == in ? y : in));
}
inline double vexp(double x) { return std::exp(x); }

// erf(x) as x * P(x^2) / Q(x^2) on [-4, 4] (beyond, erf is +-1 in f32): the
// rational approximation Eigen and XLA use for f32.
inline float verf(float x) {
  x = x < -4.f ? -4.f : (x > 4.f ? 4.f : x);
  const float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return x * p / q;
}
inline double verf(double x) { return std::erf(x); }

}  // namespace moegrad::cpu
