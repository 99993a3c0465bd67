// backends/cpu/vec_math.h: the f32 exp and erf the CPU kernels vectorize,
// against libm in double over their whole range, and at the edges (under-
// and overflow, NaN) where a polynomial is easiest to get wrong.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "backends/cpu/vec_math.h"

using moegrad::cpu::verf;
using moegrad::cpu::vexp;

TEST_CASE("vexp(float) is within 2e-7 relative of exp over every normal result", "[cpu]") {
  double worst = 0, at = 0;
  for (double x = -87.3; x < 88.72; x += 1.3e-4) {
    const float xf = float(x);
    const double ref = std::exp(double(xf));
    const double rel = std::fabs(double(vexp(xf)) - ref) / ref;
    if (rel > worst) worst = rel, at = x;
  }
  INFO("worst at x = " << at);
  CHECK(worst < 2e-7);
  CHECK(vexp(0.f) == 1.f);
  CHECK(vexp(-100.f) == 0.f);                   // would be a denormal: flushed
  CHECK(vexp(100.f) == HUGE_VALF);              // overflow
  CHECK(vexp(-std::numeric_limits<float>::infinity()) == 0.f);
  CHECK(std::isnan(vexp(std::numeric_limits<float>::quiet_NaN())));
  CHECK(vexp(1.0) == std::exp(1.0));            // f64 is libm itself
}

TEST_CASE("verf(float) is within 5e-7 of erf everywhere, odd, and saturates", "[cpu]") {
  double worst = 0, at = 0;
  for (double x = -6; x < 6; x += 1e-4) {
    const float xf = float(x);
    const double err = std::fabs(double(verf(xf)) - std::erf(double(xf)));
    if (err > worst) worst = err, at = x;
    REQUIRE(verf(-xf) == -verf(xf));
  }
  INFO("worst at x = " << at);
  CHECK(worst < 5e-7);
  CHECK(verf(0.f) == 0.f);
  CHECK(std::fabs(verf(10.f) - 1.f) < 1e-6f);
  CHECK(std::isnan(verf(std::numeric_limits<float>::quiet_NaN())));
  CHECK(verf(0.5) == std::erf(0.5));
}
