// Tests for core/reduce.h: sum, mean, var, amax, amin, logsumexp, argmax and
// argmin, softmax, log_softmax and cumsum. Each is checked against a naive
// loop in double (at()/for_each_index) over every kind of axis list (all,
// one, several, negative, non-adjacent, unsorted), with and without keepdim,
// on contiguous and non-contiguous inputs; then the edge cases (empty dims,
// 0-d tensors, NaN, ties, huge inputs) and every error path.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/copy.h"
#include "core/factory.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Distinct seeds for successive random inputs.
uint64_t next_seed(uint64_t& seed) { return ++seed; }

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

using Values = std::vector<double>;
using RowRef = std::function<double(const Values&)>;

// Values rounded to halves: many exact ties.
Tensor with_ties(const Tensor& x) {
  return make(x.shape(), x.dtype(), [&](const Index& i) { return std::round(at(x, i) * 2) / 2; });
}

// The reference's own axis normalization: negative axes wrap, an empty list
// means every axis.
std::vector<bool> reduced_axes(const Dims& dims, int64_t rank) {
  std::vector<bool> red(size_t(rank), dims.empty());
  for (int64_t d : dims) red[size_t(d < 0 ? d + rank : d)] = true;
  return red;
}

Shape reduced_shape(const Shape& shape, const Dims& dims, bool keepdim) {
  std::vector<bool> red = reduced_axes(dims, int64_t(shape.size()));
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!red[d]) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// For every output element, the values of x reduced into it (row-major over
// the reduced axes), passed to f; the result as an f64 tensor.
Tensor reduce_ref(const Tensor& x, const Dims& dims, bool keepdim, const RowRef& f) {
  int64_t rank = x.dim();
  std::vector<bool> red = reduced_axes(dims, rank);
  Shape kept(static_cast<size_t>(rank)), inner(static_cast<size_t>(rank));
  for (size_t d = 0; d < size_t(rank); ++d) {
    kept[d] = red[d] ? 1 : x.shape()[d];
    inner[d] = red[d] ? x.shape()[d] : 1;
  }
  std::vector<double> out;
  for_each_index(kept, [&](const Index& k) {
    Values row;
    for_each_index(inner, [&](const Index& r) {
      Index idx(static_cast<size_t>(rank));
      for (size_t d = 0; d < size_t(rank); ++d) idx[d] = red[d] ? r[d] : k[d];
      row.push_back(at(x, idx));
    });
    out.push_back(f(row));
  });
  return cast(from_vector(out, reduced_shape(x.shape(), dims, keepdim)), DType::f64);
}

double ref_sum(const Values& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
double ref_mean(const Values& v) { return ref_sum(v) / double(v.size()); }  // 0/0 = NaN when empty
RowRef ref_var(double correction) {
  return [correction](const Values& v) {
    double m = ref_mean(v), s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return s / std::max(double(v.size()) - correction, 0.0);
  };
}
double ref_amax(const Values& v) {
  double m = -kInf;
  for (double x : v) {
    if (std::isnan(x)) return kNaN;
    m = std::max(m, x);
  }
  return m;
}
double ref_amin(const Values& v) {
  double m = kInf;
  for (double x : v) {
    if (std::isnan(x)) return kNaN;
    m = std::min(m, x);
  }
  return m;
}
double ref_logsumexp(const Values& v) {
  double m = ref_amax(v);
  if (std::isinf(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}
// First index of the max / min, as argmax / argmin promise.
double ref_argmax(const Values& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] > v[best]) best = i;
  return double(best);
}
double ref_argmin(const Values& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] < v[best]) best = i;
  return double(best);
}

// Applies f to each 1-D line of x along `dim`, writing one value per element
// of the line; the result has x's shape, as an f64 tensor.
Tensor along_ref(const Tensor& x, int64_t dim, const std::function<Values(const Values&)>& f) {
  int64_t rank = x.dim();
  if (rank == 0) return cast(from_vector(f({at(x, {})}), Shape{}), DType::f64);
  dim = dim < 0 ? dim + rank : dim;
  Shape outer = x.shape();
  outer[size_t(dim)] = 1;
  std::vector<double> out(size_t(x.numel()));
  Strides st = contiguous_strides(x.shape());
  for_each_index(outer, [&](const Index& o) {
    Values line;
    Index idx = o;
    for (int64_t j = 0; j < x.size(dim); ++j) {
      idx[size_t(dim)] = j;
      line.push_back(at(x, idx));
    }
    Values res = f(line);
    for (int64_t j = 0; j < x.size(dim); ++j) {
      idx[size_t(dim)] = j;
      int64_t flat = 0;
      for (size_t d = 0; d < idx.size(); ++d) flat += idx[d] * st[d];
      out[size_t(flat)] = res[size_t(j)];
    }
  });
  return cast(from_vector(out, x.shape()), DType::f64);
}

Values ref_softmax(const Values& v) {
  double m = ref_amax(v), s = 0;
  Values out;
  for (double x : v) s += std::exp(x - m);
  for (double x : v) out.push_back(std::exp(x - m) / s);
  return out;
}
Values ref_log_softmax(const Values& v) {
  double m = ref_amax(v), s = 0;
  Values out;
  for (double x : v) s += std::exp(x - m);
  for (double x : v) out.push_back(x - m - std::log(s));
  return out;
}
Values ref_cumsum(const Values& v) {
  Values out;
  double s = 0;
  for (double x : v) out.push_back(s += x);
  return out;
}

struct Tol {
  double rtol, atol;
};
Tol tol_for(DType t) {
  if (t == DType::f32) return {1e-5, 3e-5};
  if (t == DType::f64) return {1e-12, 1e-12};
  return {0, 0};
}

void check_result(const Tensor& got, const Tensor& expected, DType dtype, double rtol_scale = 1) {
  REQUIRE(got.dtype() == dtype);
  REQUIRE(got.shape() == expected.shape());
  Tol tol = tol_for(dtype);
  require_close(got, expected, tol.rtol * rtol_scale, tol.atol * rtol_scale);
}

std::vector<Tensor> layouts(const Tensor& t) { return {t, noncontiguous(t)}; }

std::string dims_str(const Dims& d) { return shape_str(d); }

// Axis lists for a 3-D tensor: all (empty list), each one, negative,
// non-adjacent, unsorted and every axis listed.
std::vector<Dims> axis_lists_3d() {
  return {{}, {0}, {1}, {2}, {-1}, {-3}, {0, 2}, {2, 0}, {-1, 0}, {1, 2}, {0, 1}, {0, 1, 2}, {-3, -2}, {2, 1, 0}};
}

struct ReduceCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Dims&, bool)> op;
  RowRef ref;
  double rtol_scale;
};

std::vector<ReduceCase> float_reductions() {
  return {
      {"sum", [](const Tensor& x, const Dims& d, bool k) { return moegrad::sum(x, d, k); }, ref_sum, 1},
      {"mean", [](const Tensor& x, const Dims& d, bool k) { return moegrad::mean(x, d, k); }, ref_mean, 1},
      {"var (default correction 1)", [](const Tensor& x, const Dims& d, bool k) { return moegrad::var(x, d, k); },
       ref_var(1), 10},
      {"var correction 0", [](const Tensor& x, const Dims& d, bool k) { return moegrad::var(x, d, k, 0); },
       ref_var(0), 10},
      {"var correction 1", [](const Tensor& x, const Dims& d, bool k) { return moegrad::var(x, d, k, 1); },
       ref_var(1), 10},
      {"amax", [](const Tensor& x, const Dims& d, bool k) { return moegrad::amax(x, d, k); }, ref_amax, 1},
      {"amin", [](const Tensor& x, const Dims& d, bool k) { return moegrad::amin(x, d, k); }, ref_amin, 1},
      {"logsumexp", [](const Tensor& x, const Dims& d, bool k) { return moegrad::logsumexp(x, d, k); },
       ref_logsumexp, 1},
  };
}

}  // namespace

// ------------------------------------------------------------ reductions ----

TEST_CASE("reduce: every floating reduction matches its reference over every axis list", "[reduce]") {
  uint64_t seed = 1000;
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor base = random_tensor({3, 4, 5}, dtype, next_seed(seed));
    for (const Tensor& x : layouts(base)) {
      for (const ReduceCase& c : float_reductions()) {
        for (const Dims& dims : axis_lists_3d()) {
          for (bool keepdim : {false, true}) {
            INFO("op " << c.name << ", dtype " << dtype << ", dims " << dims_str(dims) << ", keepdim " << keepdim
                       << ", contiguous " << x.is_contiguous());
            Tensor got = c.op(x, dims, keepdim);
            REQUIRE(got.shape() == reduced_shape(x.shape(), dims, keepdim));
            check_result(got, reduce_ref(x, dims, keepdim, c.ref), dtype, c.rtol_scale);
          }
        }
      }
    }
  }
}

TEST_CASE("reduce: result shapes with and without keepdim", "[reduce]") {
  Tensor x = random_tensor({3, 4, 5}, DType::f32, 1);
  REQUIRE(moegrad::sum(x).shape() == Shape{});
  REQUIRE(moegrad::sum(x, {}, true).shape() == Shape{1, 1, 1});
  REQUIRE(moegrad::sum(x, {0, 2}).shape() == Shape{4});
  REQUIRE(moegrad::sum(x, {0, 2}, true).shape() == Shape{1, 4, 1});
  REQUIRE(moegrad::mean(x, {-1}).shape() == Shape{3, 4});
  REQUIRE(moegrad::mean(x, {-1}, true).shape() == Shape{3, 4, 1});
  REQUIRE(moegrad::var(x, {1}, true).shape() == Shape{3, 1, 5});
  REQUIRE(moegrad::amax(x, {0, 1, 2}).shape() == Shape{});
  REQUIRE(moegrad::amin(x, {-2, -3}, true).shape() == Shape{1, 1, 5});
  REQUIRE(moegrad::logsumexp(x, {1}).shape() == Shape{3, 5});
  REQUIRE(moegrad::argmax(x, 1).shape() == Shape{3, 5});
  REQUIRE(moegrad::argmax(x, 1, true).shape() == Shape{3, 1, 5});
  REQUIRE(moegrad::argmin(x, -1, true).shape() == Shape{3, 4, 1});
  REQUIRE(moegrad::argmax(x).shape() == Shape{});
}

TEST_CASE("reduce: size-1 dims and a 1-D input", "[reduce]") {
  uint64_t seed = 1100;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Shape& shape : {Shape{1, 6, 1}, Shape{7}, Shape{1}}) {
      Tensor x = noncontiguous(random_tensor(shape, dtype, next_seed(seed)));
      for (const ReduceCase& c : float_reductions()) {
        std::vector<Dims> lists = {{}, {0}, {-1}};
        if (shape.size() == 3) lists.push_back({0, 2});
        for (const Dims& dims : lists) {
          for (bool keepdim : {false, true}) {
            INFO("op " << c.name << ", shape " << shape_str(shape) << ", dims " << dims_str(dims) << ", keepdim "
                       << keepdim);
            check_result(c.op(x, dims, keepdim), reduce_ref(x, dims, keepdim, c.ref), dtype, c.rtol_scale);
          }
        }
      }
    }
  }
}

TEST_CASE("reduce: 0-d inputs reduce to themselves", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = values_tensor({2.5}, {}, dtype);
    for (bool keepdim : {false, true}) {
      INFO("dtype " << dtype << ", keepdim " << keepdim);
      for (const Dims& dims : {Dims{}, Dims{0}, Dims{-1}}) {
        INFO("dims " << dims_str(dims));
        Tensor s = moegrad::sum(x, dims, keepdim);
        REQUIRE(s.shape() == Shape{});
        REQUIRE(s.dtype() == dtype);
        REQUIRE(at(s, {}) == 2.5);
        REQUIRE(at(moegrad::mean(x, dims, keepdim), {}) == 2.5);
        REQUIRE(at(moegrad::amax(x, dims, keepdim), {}) == 2.5);
        REQUIRE(at(moegrad::amin(x, dims, keepdim), {}) == 2.5);
        REQUIRE(at(moegrad::logsumexp(x, dims, keepdim), {}) == Approx(2.5));
        REQUIRE(at(moegrad::var(x, dims, keepdim, 0), {}) == 0);
      }
    }
  }
}

TEST_CASE("reduce: integer sum, amax and amin keep the dtype and are exact", "[reduce]") {
  uint64_t seed = 1200;
  for (DType dtype : {DType::i32, DType::i64}) {
    for (const Tensor& x : layouts(random_tensor({3, 4, 5}, dtype, next_seed(seed)))) {
      for (const Dims& dims : axis_lists_3d()) {
        for (bool keepdim : {false, true}) {
          INFO("dtype " << dtype << ", dims " << dims_str(dims) << ", keepdim " << keepdim);
          check_result(moegrad::sum(x, dims, keepdim), reduce_ref(x, dims, keepdim, ref_sum), dtype);
          check_result(moegrad::amax(x, dims, keepdim), reduce_ref(x, dims, keepdim, ref_amax), dtype);
          check_result(moegrad::amin(x, dims, keepdim), reduce_ref(x, dims, keepdim, ref_amin), dtype);
        }
      }
    }
    // All-negative and all-positive rows: a max seeded with 0 or a min seeded
    // with 0 would be wrong.
    Tensor neg = values_tensor({-5, -3, -7, -9, -2, -4}, {2, 3}, dtype);
    REQUIRE(values(moegrad::amax(neg, {1})) == std::vector<double>{-3, -2});
    REQUIRE(values(moegrad::amin(moegrad::sum(neg, {0}, true), {1})) == std::vector<double>{-14});
    Tensor pos = values_tensor({5, 3, 7}, {3}, dtype);
    REQUIRE(values(moegrad::amin(pos)) == std::vector<double>{3});
  }
  // i64 sums beyond 2^53 stay exact.
  int64_t big = (int64_t(1) << 53) + 1;
  Tensor x = from_vector(std::vector<int64_t>{big, 1, 1});
  REQUIRE(moegrad::sum(x).item<int64_t>() == big + 2);
  REQUIRE(moegrad::amax(from_vector(std::vector<int64_t>{big, big - 1})).item<int64_t>() == big);
}

TEST_CASE("reduce: sum of a bool mask counts its trues as i64", "[reduce]") {
  Tensor mask = random_tensor({4, 6}, DType::b8, 7);
  for (const Tensor& m : layouts(mask)) {
    Tensor total = moegrad::sum(m);
    REQUIRE(total.dtype() == DType::i64);
    REQUIRE(total.shape() == Shape{});
    check_result(total, reduce_ref(m, {}, false, ref_sum), DType::i64);
    check_result(moegrad::sum(m, {1}), reduce_ref(m, {1}, false, ref_sum), DType::i64);
    check_result(moegrad::sum(m, {0}, true), reduce_ref(m, {0}, true, ref_sum), DType::i64);
  }
  Tensor all = from_vector(std::vector<bool>(300, true));
  REQUIRE(moegrad::sum(all).item<int64_t>() == 300);  // no overflow of a one-byte accumulator
}

TEST_CASE("reduce: sums over zero elements are 0 and means are NaN", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    INFO("dtype " << dtype);
    Tensor x = moegrad::ones({3, 0, 4}, dtype);
    Tensor s = moegrad::sum(x, {1});
    REQUIRE(s.shape() == Shape{3, 4});
    REQUIRE(s.dtype() == dtype);
    for (double v : values(s)) REQUIRE(v == 0);
    REQUIRE(moegrad::sum(x, {1}, true).shape() == Shape{3, 1, 4});
    Tensor all = moegrad::sum(x);
    REQUIRE(all.shape() == Shape{});
    REQUIRE(at(all, {}) == 0);
    // Reducing a non-empty axis of an empty tensor gives an empty result.
    REQUIRE(moegrad::sum(x, {0}).shape() == Shape{0, 4});
    REQUIRE(moegrad::sum(x, {0, 2}, true).shape() == Shape{1, 0, 1});
  }
  REQUIRE(moegrad::sum(moegrad::zeros({0}, DType::b8)).item<int64_t>() == 0);
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = moegrad::ones({3, 0, 4}, dtype);
    Tensor m = moegrad::mean(x, {1});
    REQUIRE(m.shape() == Shape{3, 4});
    for (double v : values(m)) REQUIRE(std::isnan(v));
    REQUIRE(std::isnan(at(moegrad::mean(x), {})));
    REQUIRE(moegrad::mean(x, {2}).shape() == Shape{3, 0});
    // Non-empty reductions of an empty tensor are empty, not errors.
    REQUIRE(moegrad::amax(x, {0}).shape() == Shape{0, 4});
    REQUIRE(moegrad::argmax(x, 2).shape() == Shape{3, 0});
  }
}

TEST_CASE("reduce: var with correction 0 and 1, one element, and a large offset", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({1, 2, 3, 4}, {4}, dtype);
    REQUIRE(at(moegrad::var(x), {}) == Approx(5.0 / 3));
    REQUIRE(at(moegrad::var(x, {}, false, 1), {}) == Approx(5.0 / 3));
    REQUIRE(at(moegrad::var(x, {}, false, 0), {}) == Approx(1.25));
    REQUIRE(at(moegrad::var(x, {0}, true, 0), {0}) == Approx(1.25));
    // n - correction = 0: 0/0, NaN, as in PyTorch.
    Tensor one = values_tensor({3}, {1}, dtype);
    REQUIRE(std::isnan(at(moegrad::var(one), {})));
    REQUIRE(at(moegrad::var(one, {}, false, 0), {}) == 0);
    // A constant row has variance exactly 0.
    REQUIRE(at(moegrad::var(moegrad::full({5}, 0.1, dtype)), {}) == Approx(0).margin(1e-12));
    // Values near 1e4 with unit spread: E[x^2] - E[x]^2 would lose every
    // digit in f32; a stable algorithm keeps the answer.
    Tensor noise = random_tensor({2, 50}, DType::f64, 9);
    Tensor shifted = make({2, 50}, dtype, [&](const Index& i) { return 1e4 + at(noise, i); });
    for (double corr : {0.0, 1.0}) {
      Tensor expected = reduce_ref(shifted, {1}, false, ref_var(corr));
      require_close(moegrad::var(shifted, {1}, false, corr), expected, dtype == DType::f32 ? 1e-2 : 1e-9, 0);
    }
  }
}

TEST_CASE("reduce: amax and amin propagate NaN", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    // NaN first, in the middle, last, and absent.
    Tensor x = values_tensor({kNaN, 1, 2, 3, kNaN, 4, 5, 6, kNaN, 7, 8, 9}, {4, 3}, dtype);
    std::vector<double> mx = values(moegrad::amax(x, {1}));
    std::vector<double> mn = values(moegrad::amin(x, {1}));
    REQUIRE(std::isnan(mx[0]));
    REQUIRE(std::isnan(mx[1]));
    REQUIRE(std::isnan(mx[2]));
    REQUIRE(mx[3] == 9);
    REQUIRE(std::isnan(mn[0]));
    REQUIRE(std::isnan(mn[1]));
    REQUIRE(std::isnan(mn[2]));
    REQUIRE(mn[3] == 7);
    REQUIRE(std::isnan(at(moegrad::amax(x), {})));
    REQUIRE(std::isnan(at(moegrad::amin(x), {})));
    REQUIRE(std::isnan(at(moegrad::amax(noncontiguous(x)), {})));
    std::vector<double> cols = values(moegrad::amax(x, {0}));
    for (double v : cols) REQUIRE(std::isnan(v));
    // Infinities are ordinary values.
    Tensor inf = values_tensor({-kInf, -kInf, kInf, 0}, {2, 2}, dtype);
    std::vector<double> im = values(moegrad::amax(inf, {1}));
    REQUIRE(im[0] == -kInf);
    REQUIRE(im[1] == kInf);
    REQUIRE(values(moegrad::amin(inf, {1}))[1] == 0);
  }
}

TEST_CASE("reduce: logsumexp is stable for large inputs", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({1000, 1000, -1000, -1000, 1000, 0, 88, 89}, {4, 2}, dtype);
    std::vector<double> l = values(moegrad::logsumexp(x, {1}));
    REQUIRE(l[0] == Approx(1000 + std::log(2.0)).epsilon(1e-6));
    REQUIRE(l[1] == Approx(-1000 + std::log(2.0)).epsilon(1e-6));
    REQUIRE(l[2] == Approx(1000).epsilon(1e-6));
    REQUIRE(l[3] == Approx(89 + std::log1p(std::exp(-1.0))).epsilon(1e-6));
    Tensor k = moegrad::logsumexp(x, {-1}, true);
    REQUIRE(k.shape() == Shape{4, 1});
    REQUIRE(at(k, {0, 0}) == Approx(1000 + std::log(2.0)).epsilon(1e-6));
    REQUIRE(at(moegrad::logsumexp(x), {}) == Approx(1000 + std::log(3.0)).epsilon(1e-6));
  }
}

TEST_CASE("reduce: logsumexp of an all -inf row is -inf, as in PyTorch", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({-kInf, -kInf, -kInf, 0}, {2, 2}, dtype);
    std::vector<double> l = values(moegrad::logsumexp(x, {1}));
    REQUIRE(l[0] == -kInf);
    REQUIRE(l[1] == Approx(0).margin(1e-7));
  }
}

// ------------------------------------------------------- argmax, argmin ----

TEST_CASE("reduce: argmax and argmin along a dim pick the first index on ties", "[reduce]") {
  uint64_t seed = 1300;
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    // Small integers (or halves) so that ties are frequent.
    Tensor base = with_ties(random_tensor({4, 5, 6}, dtype, next_seed(seed)));
    for (const Tensor& x : layouts(base)) {
      for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
        for (bool keepdim : {false, true}) {
          INFO("dtype " << dtype << ", dim " << dim << ", keepdim " << keepdim << ", contiguous "
                        << x.is_contiguous());
          Tensor amx = moegrad::argmax(x, dim, keepdim);
          Tensor amn = moegrad::argmin(x, dim, keepdim);
          check_result(amx, reduce_ref(x, {dim}, keepdim, ref_argmax), DType::i64);
          check_result(amn, reduce_ref(x, {dim}, keepdim, ref_argmin), DType::i64);
        }
      }
    }
  }
  for (DType dtype : {DType::f32, DType::i32}) {
    Tensor t = values_tensor({1, 3, 3, 2, 0, 0, 7, 0}, {2, 4}, dtype);
    REQUIRE(values(moegrad::argmax(t, 1)) == std::vector<double>{1, 2});
    REQUIRE(values(moegrad::argmin(t, 1)) == std::vector<double>{0, 0});
    Tensor same = moegrad::full({5}, 2.0, dtype);
    REQUIRE(moegrad::argmax(same, 0).item<int64_t>() == 0);
    REQUIRE(moegrad::argmin(same, 0).item<int64_t>() == 0);
  }
}

TEST_CASE("reduce: argmax and argmin without a dim give the row-major flat index", "[reduce]") {
  uint64_t seed = 1400;
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (const Shape& shape : {Shape{4, 5}, Shape{2, 3, 4}, Shape{7}, Shape{1, 1}}) {
      for (const Tensor& x : layouts(with_ties(random_tensor(shape, dtype, next_seed(seed))))) {
        INFO("dtype " << dtype << ", shape " << shape_str(shape) << ", contiguous " << x.is_contiguous());
        Values flat = values(x);
        Tensor amx = moegrad::argmax(x);
        REQUIRE(amx.dtype() == DType::i64);
        REQUIRE(amx.shape() == Shape{});
        REQUIRE(at(amx, {}) == ref_argmax(flat));
        REQUIRE(at(moegrad::argmin(x), {}) == ref_argmin(flat));
      }
    }
  }
  // Two maxima; in the transposed storage the later one (row-major) comes
  // first, so scanning storage order would return the wrong index.
  Tensor x = values_tensor({0, 1, 0, 0, 0, 0, 9, 0, 9, 0, 0, 0}, {3, 4}, DType::f32);
  Tensor nc = noncontiguous(x);
  REQUIRE(moegrad::argmax(nc).item<int64_t>() == 6);
  REQUIRE(moegrad::argmax(x).item<int64_t>() == 6);
  Tensor y = values_tensor({5, 5, 1, 5, 1, 5}, {2, 3}, DType::f64);
  REQUIRE(moegrad::argmin(noncontiguous(y)).item<int64_t>() == 2);
}

TEST_CASE("reduce: argmax and argmin of a 0-d tensor are 0", "[reduce]") {
  Tensor x = values_tensor({4}, {}, DType::f32);
  for (Tensor r : {moegrad::argmax(x), moegrad::argmin(x), moegrad::argmax(x, 0), moegrad::argmin(x, -1)}) {
    REQUIRE(r.dtype() == DType::i64);
    REQUIRE(r.shape() == Shape{});
    REQUIRE(r.item<int64_t>() == 0);
  }
}

// --------------------------------------------------- softmax, log_softmax ----

TEST_CASE("reduce: softmax and log_softmax match their references along every dim", "[reduce]") {
  uint64_t seed = 1500;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const Shape& shape : {Shape{3, 4, 5}, Shape{4, 3}, Shape{6}, Shape{1, 5}, Shape{5, 1}}) {
      Tensor base = random_tensor(shape, dtype, next_seed(seed));
      for (const Tensor& x : layouts(base)) {
        for (int64_t dim = -int64_t(shape.size()); dim < int64_t(shape.size()); ++dim) {
          INFO("dtype " << dtype << ", shape " << shape_str(shape) << ", dim " << dim << ", contiguous "
                        << x.is_contiguous());
          Tensor sm = moegrad::softmax(x, dim);
          check_result(sm, along_ref(x, dim, ref_softmax), dtype);
          check_result(moegrad::log_softmax(x, dim), along_ref(x, dim, ref_log_softmax), dtype);
          // Every line along dim sums to 1.
          Tensor sums = along_ref(sm, dim, [](const Values& v) { return Values(v.size(), ref_sum(v)); });
          for (double s : values(sums)) REQUIRE(s == Approx(1).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("reduce: softmax along dim 0 of a matrix normalizes columns", "[reduce]") {
  Tensor x = values_tensor({0, 1, 2, 1, 1, 1}, {2, 3}, DType::f64);
  Tensor s = moegrad::softmax(x, 0);
  double e = std::exp(1.0);
  REQUIRE(values(s)[0] == Approx(1 / (1 + e)));
  REQUIRE(values(s)[3] == Approx(e / (1 + e)));
  REQUIRE(values(s)[1] == Approx(0.5));
  REQUIRE(values(s)[4] == Approx(0.5));
  REQUIRE(values(s)[2] == Approx(e / (1 + e)));
  REQUIRE(values(s)[5] == Approx(1 / (1 + e)));
}

TEST_CASE("reduce: softmax and log_softmax are stable for huge inputs", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({1000, 1000, 999, -1000, -1000, -1001}, {2, 3}, dtype);
    double z = 2 + std::exp(-1.0);
    std::vector<double> s = values(moegrad::softmax(x, 1));
    std::vector<double> expected = {1 / z, 1 / z, std::exp(-1.0) / z, 1 / z, 1 / z, std::exp(-1.0) / z};
    for (size_t i = 0; i < 6; ++i) REQUIRE(s[i] == Approx(expected[i]).epsilon(1e-6));
    // Finite and right to within the inputs' own rounding (ulp(1000) in f32
    // is 6e-5); the test below asks for full precision.
    std::vector<double> ls = values(moegrad::log_softmax(x, 1));
    for (size_t i = 0; i < 6; ++i) REQUIRE(ls[i] == Approx(std::log(expected[i])).margin(1e-4));
    // log_softmax keeps the tail that log(softmax) would round to -inf.
    Tensor y = values_tensor({1000, 0}, {2}, dtype);
    std::vector<double> ly = values(moegrad::log_softmax(y, 0));
    REQUIRE(ly[0] == Approx(0).margin(1e-6));
    REQUIRE(ly[1] == Approx(-1000).epsilon(1e-6));
    std::vector<double> sy = values(moegrad::softmax(y, 0));
    REQUIRE(sy[0] == Approx(1));
    REQUIRE(sy[1] == Approx(0).margin(1e-30));
  }
}

TEST_CASE("reduce: log_softmax keeps full precision for large logits", "[reduce]") {
  // (x - max) is exact for nearby values, so x - max - log(sum) loses
  // nothing; x - (max + log(sum)) rounds max + log(sum) to the precision of
  // 1000 first (6e-5 in f32), an error PyTorch's formula does not make.
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({1000, 1000, 999, -1000, -1000, -1001}, {2, 3}, dtype);
    Values row = {0, 0, -1};
    Values expected = ref_log_softmax(row);
    std::vector<double> ls = values(moegrad::log_softmax(x, 1));
    for (size_t i = 0; i < 6; ++i) {
      INFO("element " << i);
      REQUIRE(ls[i] == Approx(expected[i % 3]).epsilon(0).margin(1e-6));
    }
  }
}

TEST_CASE("reduce: softmax gives 0 to -inf entries (masking)", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = values_tensor({-kInf, 0, -kInf, 1}, {1, 4}, dtype);
    double e = std::exp(1.0);
    std::vector<double> s = values(moegrad::softmax(x, -1));
    REQUIRE(s[0] == 0);
    REQUIRE(s[1] == Approx(1 / (1 + e)));
    REQUIRE(s[2] == 0);
    REQUIRE(s[3] == Approx(e / (1 + e)));
    std::vector<double> ls = values(moegrad::log_softmax(x, -1));
    REQUIRE(ls[0] == -kInf);
    REQUIRE(ls[1] == Approx(-std::log(1 + e)));
    REQUIRE(ls[2] == -kInf);
    REQUIRE(ls[3] == Approx(1 - std::log(1 + e)));
  }
}

TEST_CASE("reduce: log_softmax equals log of softmax for moderate inputs", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor x = random_tensor({5, 7}, dtype, 21);
    for (int64_t dim : {0, 1}) {
      INFO("dtype " << dtype << ", dim " << dim);
      Tensor sm = moegrad::softmax(x, dim);
      Tensor log_of_sm = make(x.shape(), DType::f64, [&](const Index& i) { return std::log(at(sm, i)); });
      require_close(moegrad::log_softmax(x, dim), log_of_sm, dtype == DType::f32 ? 1e-5 : 1e-12, 1e-6);
    }
  }
}

TEST_CASE("reduce: softmax of 0-d and empty tensors", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor s = values_tensor({3}, {}, dtype);
    Tensor sm = moegrad::softmax(s, 0);
    REQUIRE(sm.shape() == Shape{});
    REQUIRE(at(sm, {}) == 1);
    REQUIRE(at(moegrad::log_softmax(s, -1), {}) == 0);
    for (const Shape& shape : {Shape{0, 3}, Shape{3, 0}}) {
      Tensor e = moegrad::zeros(shape, dtype);
      for (int64_t dim : {0, 1}) {
        REQUIRE(moegrad::softmax(e, dim).shape() == shape);
        REQUIRE(moegrad::log_softmax(e, dim).shape() == shape);
      }
    }
  }
}

// ---------------------------------------------------------------- cumsum ----

TEST_CASE("reduce: cumsum along every dim keeps the dtype", "[reduce]") {
  uint64_t seed = 1600;
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (const Tensor& x : layouts(random_tensor({3, 4, 5}, dtype, next_seed(seed)))) {
      for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
        INFO("dtype " << dtype << ", dim " << dim << ", contiguous " << x.is_contiguous());
        check_result(moegrad::cumsum(x, dim), along_ref(x, dim, ref_cumsum), dtype);
      }
    }
    for (const Shape& shape : {Shape{7}, Shape{1, 6}, Shape{6, 1}}) {
      Tensor x = noncontiguous(random_tensor(shape, dtype, next_seed(seed)));
      for (int64_t dim = 0; dim < int64_t(shape.size()); ++dim) {
        INFO("dtype " << dtype << ", shape " << shape_str(shape) << ", dim " << dim);
        check_result(moegrad::cumsum(x, dim), along_ref(x, dim, ref_cumsum), dtype);
      }
    }
  }
}

TEST_CASE("reduce: cumsum of bool counts as i64, and 0-d and empty inputs", "[reduce]") {
  Tensor mask = random_tensor({3, 8}, DType::b8, 31);
  for (const Tensor& m : layouts(mask)) {
    for (int64_t dim : {0, 1}) {
      INFO("dim " << dim);
      check_result(moegrad::cumsum(m, dim), along_ref(m, dim, ref_cumsum), DType::i64);
    }
  }
  for (DType dtype : {DType::f32, DType::i64}) {
    Tensor s = values_tensor({4}, {}, dtype);
    Tensor c = moegrad::cumsum(s, 0);
    REQUIRE(c.shape() == Shape{});
    REQUIRE(c.dtype() == dtype);
    REQUIRE(at(c, {}) == 4);
    REQUIRE(moegrad::cumsum(moegrad::zeros({0, 3}, dtype), 0).shape() == Shape{0, 3});
    REQUIRE(moegrad::cumsum(moegrad::zeros({0, 3}, dtype), 1).shape() == Shape{0, 3});
    REQUIRE(moegrad::cumsum(moegrad::zeros({2, 0}, dtype), 1).shape() == Shape{2, 0});
  }
}

TEST_CASE("reduce: inputs large enough to be split over threads", "[reduce]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor x = noncontiguous(random_tensor({181, 190}, dtype, 51));
    for (const Dims& dims : {Dims{0}, Dims{1}, Dims{-1}}) {
      INFO("dims " << dims_str(dims));
      check_result(moegrad::sum(x, dims), reduce_ref(x, dims, false, ref_sum), dtype, 10);
      check_result(moegrad::var(x, dims), reduce_ref(x, dims, false, ref_var(1)), dtype, 10);
      check_result(moegrad::amax(x, dims, true), reduce_ref(x, dims, true, ref_amax), dtype);
      check_result(moegrad::logsumexp(x, dims), reduce_ref(x, dims, false, ref_logsumexp), dtype);
      check_result(moegrad::argmin(x, dims[0]), reduce_ref(x, dims, false, ref_argmin), DType::i64);
    }
    for (int64_t dim : {0, 1}) {
      INFO("dim " << dim);
      check_result(moegrad::softmax(x, dim), along_ref(x, dim, ref_softmax), dtype);
      check_result(moegrad::log_softmax(x, dim), along_ref(x, dim, ref_log_softmax), dtype);
      check_result(moegrad::cumsum(x, dim), along_ref(x, dim, ref_cumsum), dtype, 10);
    }
    // Sum and mean of every element: f32 must not lose digits over 34k terms
    // (a plain float accumulator would).
    Tensor total = moegrad::sum(x);
    require_close(total, reduce_ref(x, {}, false, ref_sum), 1e-5, 1e-3);
    require_close(moegrad::mean(x), reduce_ref(x, {}, false, ref_mean), 1e-5, 1e-6);
    Values flat = values(x);
    REQUIRE(moegrad::argmax(x).item<int64_t>() == int64_t(ref_argmax(flat)));
  }
  Tensor mask = random_tensor({200, 180}, DType::b8, 52);
  check_result(moegrad::sum(mask, {0}), reduce_ref(mask, {0}, false, ref_sum), DType::i64);
  REQUIRE(moegrad::sum(mask).item<int64_t>() == int64_t(ref_sum(values(mask))));
}

// --------------------------------------------------------------- errors ----

TEST_CASE("reduce: dims out of range or repeated throw naming the op", "[reduce]") {
  Tensor x = random_tensor({2, 3, 4}, DType::f32, 1);
  for (const ReduceCase& c : float_reductions()) {
    std::string name = c.name;
    name = name.substr(0, name.find(' '));
    INFO("op " << c.name);
    require_error([&] { c.op(x, {3}, false); }, name);
    require_error([&] { c.op(x, {-4}, false); }, name);
    require_error([&] { c.op(x, {0, 5}, true); }, name);
    require_error([&] { c.op(x, {1, 1}, false); }, name);
    require_error([&] { c.op(x, {1, -2}, false); }, name);  // the same axis twice
    require_error([&] { c.op(values_tensor({1}, {}, DType::f32), {1}, false); }, name);
  }
  require_error([&] { moegrad::argmax(x, 3); }, "argmax");
  require_error([&] { moegrad::argmax(x, -4); }, "argmax");
  require_error([&] { moegrad::argmin(x, 3); }, "argmin");
  require_error([&] { moegrad::softmax(x, 3); }, "softmax");
  require_error([&] { moegrad::softmax(x, -4); }, "softmax");
  require_error([&] { moegrad::log_softmax(x, 3); }, "log_softmax");
  require_error([&] { moegrad::log_softmax(x, -4); }, "log_softmax");
  require_error([&] { moegrad::cumsum(x, 3); }, "cumsum");
  require_error([&] { moegrad::cumsum(x, -4); }, "cumsum");
  require_error([&] { moegrad::softmax(values_tensor({1}, {}, DType::f32), 1); }, "softmax");
}

TEST_CASE("reduce: reductions that need an element throw over an empty dim", "[reduce]") {
  Tensor x = moegrad::zeros({3, 0, 2}, DType::f32);
  require_error([&] { moegrad::amax(x, {1}); }, "amax");
  require_error([&] { moegrad::amax(x); }, "amax");
  require_error([&] { moegrad::amin(x, {1}); }, "amin");
  require_error([&] { moegrad::amin(x); }, "amin");
  require_error([&] { moegrad::logsumexp(x, {1}); }, "logsumexp");
  require_error([&] { moegrad::argmax(x, 1); }, "argmax");
  require_error([&] { moegrad::argmin(x, 1); }, "argmin");
  require_error([&] { moegrad::argmax(x); }, "argmax");
  require_error([&] { moegrad::argmin(moegrad::zeros({0}, DType::i64)); }, "argmin");
  require_error([&] { moegrad::amax(moegrad::zeros({0}, DType::i32)); }, "amax");
}

TEST_CASE("reduce: mean, var, logsumexp and softmax need floating dtypes", "[reduce]") {
  for (DType dtype : {DType::i32, DType::i64, DType::b8}) {
    INFO("dtype " << dtype);
    Tensor x = random_tensor({2, 3}, dtype, 1);
    require_error([&] { moegrad::mean(x); }, "mean");
    require_error([&] { moegrad::mean(x, {1}); }, "mean");
    require_error([&] { moegrad::var(x); }, "var");
    require_error([&] { moegrad::logsumexp(x, {0}); }, "logsumexp");
    require_error([&] { moegrad::softmax(x, 1); }, "softmax");
    require_error([&] { moegrad::log_softmax(x, 1); }, "log_softmax");
  }
}
