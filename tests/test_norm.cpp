// core/norm.h: layer_norm and rms_norm against the formulas written with
// plain ops, in f32 and f64, and their errors. (Their gradients are
// gradchecked in tests/test_gradcheck.cpp.)
#include <catch2/catch.hpp>

#include "core/elementwise.h"
#include "core/error.h"
#include "core/factory.h"
#include "core/norm.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).to(DType::f64).item<double>(); }

}  // namespace

TEST_CASE("layer_norm and rms_norm equal their formulas in plain ops", "[norm]") {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator gen(7);
    // Rows with a large common offset: a one-pass variance would cancel badly here.
    Tensor x = add(randn({33, 257}, dt, &gen), 100.0), w = randn({257}, dt, &gen), b = randn({257}, dt, &gen);
    const double tol = dt == DType::f32 ? 2e-4 : 1e-10;
    Tensor centered = sub(x, mean(x, {-1}, true));
    Tensor ref = add(mul(mul(centered, rsqrt(add(var(x, {-1}, true, 0), 1e-5))), w), b);
    CHECK(max_abs_diff(layer_norm(x, w, b, 1e-5), ref) < tol);
    Tensor ref_plain = mul(centered, rsqrt(add(var(x, {-1}, true, 0), 1e-5)));
    CHECK(max_abs_diff(layer_norm(x, Tensor(), Tensor(), 1e-5), ref_plain) < tol);
    Tensor y = randn({4, 6, 8}, dt, &gen), wy = randn({8}, dt, &gen);
    Tensor ref_rms = mul(mul(y, rsqrt(add(mean(mul(y, y), {-1}, true), 1e-6))), wy);
    CHECK(max_abs_diff(rms_norm(y, wy, 1e-6), ref_rms) < (dt == DType::f32 ? 1e-5 : 1e-12));
    CHECK(max_abs_diff(rms_norm(y.transpose(0, 2), Tensor(), 1e-6),
                       mul(y.transpose(0, 2), rsqrt(add(mean(mul(y.transpose(0, 2), y.transpose(0, 2)), {-1}, true), 1e-6)))) <
          (dt == DType::f32 ? 1e-5 : 1e-12));
  }
}

TEST_CASE("layer_norm: a constant row normalizes to the bias, not NaN", "[norm]") {
  Tensor x = full({2, 4}, 3.0), w = ones({4}), b = full({4}, 0.5);
  CHECK(max_abs_diff(layer_norm(x, w, b, 1e-5), full({2, 4}, 0.5)) == 0);
}

TEST_CASE("layer_norm and rms_norm: bad weights, eps and inputs are errors naming the op", "[norm]") {
  Tensor x = randn({3, 4});
  CHECK_THROWS_WITH(layer_norm(x, ones({5}), Tensor()), Catch::Contains("layer_norm: weight has shape [5]"));
  CHECK_THROWS_WITH(layer_norm(x, Tensor(), ones({4}, DType::f64)), Catch::Contains("bias is f64 but x is f32"));
  CHECK_THROWS_WITH(rms_norm(x, ones({2, 2})), Catch::Contains("rms_norm: weight has shape [2,2]"));
  CHECK_THROWS_WITH(layer_norm(x, Tensor(), Tensor(), -1.0), Catch::Contains("eps must be finite and >= 0, got -1"));
  CHECK_THROWS_WITH(layer_norm(arange(4), Tensor(), Tensor()), Catch::Contains("layer_norm"));
  CHECK_THROWS_WITH(layer_norm(randn({3, 0}), Tensor(), Tensor()), Catch::Contains("last dimension of at least 1"));
}
