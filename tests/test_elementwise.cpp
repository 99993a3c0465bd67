// Tests for core/elementwise.h: every unary op, every binary op and its
// scalar form, the comparisons, `where` and the operators. Each op is checked
// against a naive loop in double written with at()/for_each_index, on
// contiguous and non-contiguous inputs, broadcast shapes, size-1, empty and
// 0-d shapes, f32 and f64 (and the integer dtypes where the header allows
// them); then every error path.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Distinct seeds for successive random inputs.
uint64_t next_seed(uint64_t& seed) { return ++seed; }

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

using UnaryFn = std::function<Tensor(const Tensor&)>;
using BinaryFn = std::function<Tensor(const Tensor&, const Tensor&)>;
using ScalarFn = std::function<Tensor(const Tensor&, double)>;
using Ref1 = std::function<double(double)>;
using Ref2 = std::function<double(double, double)>;

struct Tol {
  double rtol, atol;
};
Tol tol_for(DType t) {
  if (t == DType::f32) return {1e-5, 1e-6};
  if (t == DType::f64) return {1e-12, 1e-12};
  return {0, 0};  // integers and masks: exact
}

// f applied to every element of x in double; an f64 tensor unless told.
Tensor map_ref(const Tensor& x, const Ref1& f, DType dtype = DType::f64) {
  return make(x.shape(), dtype, [&](const Index& i) { return f(at(x, i)); });
}

// |x| + 0.1: strictly positive inputs for log, sqrt, rsqrt and fractional pow.
Tensor positive(const Tensor& x) {
  return map_ref(x, [](double v) { return std::abs(v) + 0.1; }, x.dtype());
}
// x moved at least 0.5 away from zero, keeping its sign: safe divisors.
Tensor away_from_zero(const Tensor& x) {
  return map_ref(x, [](double v) { return v >= 0 ? v + 0.5 : v - 0.5; }, x.dtype());
}
// Values rounded to halves so that comparisons see many ties.
Tensor with_ties(const Tensor& x) {
  return map_ref(x, [](double v) { return std::round(v * 2) / 2; }, x.dtype());
}

// t's element at `out`, an index of the broadcast result (trailing dims
// aligned, size-1 dims read at 0).
double at_bcast(const Tensor& t, const Index& out) {
  Index idx(size_t(t.dim()));
  size_t lead = out.size() - idx.size();
  for (size_t d = 0; d < idx.size(); ++d) idx[d] = t.size(int64_t(d)) == 1 ? 0 : out[lead + d];
  return at(t, idx);
}

Tensor binary_ref(const Tensor& a, const Tensor& b, const Shape& out, const Ref2& f) {
  return make(out, DType::f64, [&](const Index& i) { return f(at_bcast(a, i), at_bcast(b, i)); });
}

// The layouts every input is tried in: as built, and non-contiguous.
std::vector<Tensor> layouts(const Tensor& t) { return {t, noncontiguous(t)}; }

void check_result(const Tensor& got, const Tensor& expected, DType dtype) {
  REQUIRE(got.dtype() == dtype);
  REQUIRE(got.shape() == expected.shape());
  Tol tol = tol_for(dtype);
  require_close(got, expected, tol.rtol, tol.atol);
}

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

struct UnaryCase {
  const char* name;
  UnaryFn op;
  Ref1 ref;
  bool positive_only;  // the input is made positive first
};

std::vector<UnaryCase> float_unary_cases() {
  const double pi = std::acos(-1.0);
  return {
      {"neg", [](const Tensor& x) { return moegrad::neg(x); }, [](double x) { return -x; }, false},
      {"abs", [](const Tensor& x) { return moegrad::abs(x); }, [](double x) { return std::abs(x); }, false},
      {"exp", [](const Tensor& x) { return moegrad::exp(x); }, [](double x) { return std::exp(x); }, false},
      {"log", [](const Tensor& x) { return moegrad::log(x); }, [](double x) { return std::log(x); }, true},
      {"sqrt", [](const Tensor& x) { return moegrad::sqrt(x); }, [](double x) { return std::sqrt(x); }, true},
      {"rsqrt", [](const Tensor& x) { return moegrad::rsqrt(x); }, [](double x) { return 1.0 / std::sqrt(x); },
       true},
      {"tanh", [](const Tensor& x) { return moegrad::tanh(x); }, [](double x) { return std::tanh(x); }, false},
      {"sigmoid", [](const Tensor& x) { return moegrad::sigmoid(x); }, sigmoid_ref, false},
      {"relu", [](const Tensor& x) { return moegrad::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, false},
      {"gelu(erf)", [](const Tensor& x) { return moegrad::gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, false},
      {"gelu(erf, explicit false)", [](const Tensor& x) { return moegrad::gelu(x, false); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, false},
      {"gelu(tanh)", [](const Tensor& x) { return moegrad::gelu(x, true); },
       [pi](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x))); },
       false},
      {"silu", [](const Tensor& x) { return moegrad::silu(x); }, [](double x) { return x * sigmoid_ref(x); },
       false},
      {"pow 2", [](const Tensor& x) { return moegrad::pow(x, 2.0); }, [](double x) { return x * x; }, false},
      {"pow 3 (negative bases)", [](const Tensor& x) { return moegrad::pow(x, 3.0); },
       [](double x) { return x * x * x; }, false},
      {"pow 1", [](const Tensor& x) { return moegrad::pow(x, 1.0); }, [](double x) { return x; }, false},
      {"pow 0", [](const Tensor& x) { return moegrad::pow(x, 0.0); }, [](double) { return 1.0; }, false},
      {"pow 0.5", [](const Tensor& x) { return moegrad::pow(x, 0.5); }, [](double x) { return std::sqrt(x); },
       true},
      {"pow -1", [](const Tensor& x) { return moegrad::pow(x, -1.0); }, [](double x) { return 1.0 / x; }, true},
      {"pow -1.5", [](const Tensor& x) { return moegrad::pow(x, -1.5); },
       [](double x) { return std::pow(x, -1.5); }, true},
      {"pow 2.5", [](const Tensor& x) { return moegrad::pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); },
       true},
  };
}

struct BinaryCase {
  const char* name;
  BinaryFn op;
  ScalarFn scalar;
  Ref2 ref;
};

#define MG_BINARY_CASE(fn, ref_expr)                                                     \
  BinaryCase {                                                                          \
    #fn, [](const Tensor& a, const Tensor& b) { return moegrad::fn(a, b); },            \
        [](const Tensor& a, double b) { return moegrad::fn(a, b); },                    \
        [](double a, double b) { return ref_expr; }                                     \
  }

std::vector<BinaryCase> arithmetic_cases() {
  return {
      MG_BINARY_CASE(add, a + b),
      MG_BINARY_CASE(sub, a - b),
      MG_BINARY_CASE(mul, a * b),
      MG_BINARY_CASE(div, a / b),
      MG_BINARY_CASE(maximum, (std::isnan(a) || std::isnan(b)) ? kNaN : (a > b ? a : b)),
      MG_BINARY_CASE(minimum, (std::isnan(a) || std::isnan(b)) ? kNaN : (a < b ? a : b)),
  };
}

std::vector<BinaryCase> comparison_cases() {
  return {
      MG_BINARY_CASE(eq, double(a == b)), MG_BINARY_CASE(ne, double(a != b)), MG_BINARY_CASE(lt, double(a < b)),
      MG_BINARY_CASE(le, double(a <= b)), MG_BINARY_CASE(gt, double(a > b)),  MG_BINARY_CASE(ge, double(a >= b)),
  };
}
#undef MG_BINARY_CASE

struct ShapeCase {
  Shape a, b, out;
};
// Equal shapes, the brief's [3,1,4] with [2,1], 0-d with a matrix (either
// side), rank extension, both sides broadcasting, empty dims and size-1.
std::vector<ShapeCase> broadcast_cases() {
  return {
      {{3, 4}, {3, 4}, {3, 4}},       {{3, 1, 4}, {2, 1}, {3, 2, 4}}, {{}, {3, 4}, {3, 4}},
      {{3, 4}, {}, {3, 4}},           {{4}, {3, 4}, {3, 4}},          {{3, 1}, {1, 4}, {3, 4}},
      {{5, 1, 1}, {1, 1, 6}, {5, 1, 6}}, {{0, 4}, {4}, {0, 4}},       {{2, 0}, {2, 1}, {2, 0}},
      {{1}, {1}, {1}},                {{}, {}, {}},                   {{1, 1}, {3}, {1, 3}},
      {{7}, {7}, {7}},
  };
}

// Shapes for unary ops: 3-D, 1-D, 0-d, empty and size-1 dims.
std::vector<Shape> unary_shapes() { return {{3, 4, 5}, {7}, {}, {0, 3}, {2, 0}, {1, 5, 1}, {1}}; }

}  // namespace

// ---------------------------------------------------------------- unary ----

TEST_CASE("elementwise: every floating unary op matches its reference", "[elementwise]") {
  uint64_t seed = 10;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const UnaryCase& c : float_unary_cases()) {
      for (const Shape& shape : unary_shapes()) {
        Tensor base = random_tensor(shape, dtype, next_seed(seed));
        if (c.positive_only) base = positive(base);
        for (const Tensor& x : layouts(base)) {
          INFO("op " << c.name << ", dtype " << dtype << ", shape " << shape_str(shape) << ", contiguous "
                     << x.is_contiguous());
          Tensor expected = map_ref(x, c.ref);
          Tensor got = c.op(x);
          check_result(got, expected, dtype);
        }
      }
    }
  }
}

TEST_CASE("elementwise: unary ops on expanded (stride-0) views write independent outputs", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor row = random_tensor({1, 4}, dtype, 3);
    Tensor x = row.expand({3, 4});
    Tensor y = moegrad::exp(x);
    check_result(y, map_ref(x, [](double v) { return std::exp(v); }), dtype);
    // Overwriting the first row of the result must leave the others alone:
    // the output owns one element per index, even though x does not.
    fill_(y.select(0, 0), -7.0);
    for (int64_t j = 0; j < 4; ++j) {
      REQUIRE(at(y, {0, j}) == -7.0);
      REQUIRE(at(y, {2, j}) == Approx(std::exp(at(row, {0, j}))).epsilon(1e-6));
    }
  }
}

TEST_CASE("elementwise: unary ops leave their input unchanged", "[elementwise]") {
  Tensor x = random_tensor({4, 5}, DType::f32, 4);
  Tensor before = x.clone();
  for (const UnaryCase& c : float_unary_cases()) {
    INFO("op " << c.name);
    Tensor y = c.op(x);
    REQUIRE_FALSE(y.same(x));
    require_close(x, before, 0, 0);
  }
}

TEST_CASE("elementwise: neg, abs and relu on integer dtypes are exact", "[elementwise]") {
  struct IntCase {
    const char* name;
    UnaryFn op;
    Ref1 ref;
  };
  std::vector<IntCase> cases = {
      {"neg", [](const Tensor& x) { return moegrad::neg(x); }, [](double v) { return -v; }},
      {"abs", [](const Tensor& x) { return moegrad::abs(x); }, [](double v) { return std::abs(v); }},
      {"relu", [](const Tensor& x) { return moegrad::relu(x); }, [](double v) { return v > 0 ? v : 0.0; }},
      {"operator-", [](const Tensor& x) { return -x; }, [](double v) { return -v; }},
  };
  uint64_t seed = 100;
  for (DType dtype : {DType::i32, DType::i64}) {
    for (const IntCase& c : cases) {
      for (const Shape& shape : unary_shapes()) {
        for (const Tensor& x : layouts(random_tensor(shape, dtype, next_seed(seed)))) {
          INFO("op " << c.name << ", dtype " << dtype << ", shape " << shape_str(shape));
          check_result(c.op(x), map_ref(x, c.ref), dtype);
        }
      }
    }
  }
  // Values that do not survive a round trip through float must stay exact.
  int64_t big = (int64_t(1) << 40) + 3;
  Tensor x = from_vector(std::vector<int64_t>{big, -big});
  REQUIRE(moegrad::neg(x).to_vector<int64_t>() == std::vector<int64_t>{-big, big});
  REQUIRE(moegrad::abs(x).to_vector<int64_t>() == std::vector<int64_t>{big, big});
  REQUIRE(moegrad::relu(x).to_vector<int64_t>() == std::vector<int64_t>{big, 0});
}

TEST_CASE("elementwise: unary ops at extreme and special values", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor big = values_tensor({-1000, -100, 0, 100, 1000}, {5}, dtype);
    // Saturating functions must not produce NaN from inf/inf or 0*inf.
    std::vector<double> s = values(moegrad::sigmoid(big));
    REQUIRE(s[0] == Approx(0).margin(1e-30));
    REQUIRE(s[2] == Approx(0.5));
    REQUIRE(s[4] == Approx(1.0));
    std::vector<double> t = values(moegrad::tanh(big));
    REQUIRE(t[0] == Approx(-1));
    REQUIRE(t[1] == Approx(-1));
    REQUIRE(t[2] == Approx(0).margin(1e-30));
    REQUIRE(t[3] == Approx(1));
    REQUIRE(t[4] == Approx(1));
    std::vector<double> si = values(moegrad::silu(big));
    REQUIRE(si[0] == Approx(0).margin(1e-30));
    REQUIRE(si[2] == 0);
    REQUIRE(si[4] == Approx(1000));
    for (bool approx : {false, true}) {
      INFO("gelu tanh form " << approx);
      std::vector<double> g = values(moegrad::gelu(big, approx));
      REQUIRE(g[0] == Approx(0).margin(1e-30));
      REQUIRE(g[1] == Approx(0).margin(1e-30));
      REQUIRE(g[2] == 0);
      REQUIRE(g[3] == Approx(100));
      REQUIRE(g[4] == Approx(1000));
    }
    std::vector<double> e = values(moegrad::exp(big));
    REQUIRE(e[0] == 0);
    REQUIRE(e[2] == Approx(1));
    REQUIRE(std::isinf(e[4]));
    REQUIRE(e[4] > 0);
    std::vector<double> r = values(moegrad::relu(big));
    REQUIRE(r == std::vector<double>{0, 0, 0, 100, 1000});

    Tensor edge = values_tensor({0, -1, 4}, {3}, dtype);
    std::vector<double> lg = values(moegrad::log(edge));
    REQUIRE(std::isinf(lg[0]));
    REQUIRE(lg[0] < 0);
    REQUIRE(std::isnan(lg[1]));
    REQUIRE(lg[2] == Approx(std::log(4.0)));
    std::vector<double> sq = values(moegrad::sqrt(edge));
    REQUIRE(sq[0] == 0);
    REQUIRE(std::isnan(sq[1]));
    REQUIRE(sq[2] == Approx(2));
    std::vector<double> rs = values(moegrad::rsqrt(edge));
    REQUIRE(std::isinf(rs[0]));
    REQUIRE(std::isnan(rs[1]));
    REQUIRE(rs[2] == Approx(0.5));
    // A fractional power of a negative base is NaN, as in PyTorch.
    std::vector<double> p = values(moegrad::pow(edge, 0.5));
    REQUIRE(p[0] == 0);
    REQUIRE(std::isnan(p[1]));
    REQUIRE(p[2] == Approx(2));
    // x ** 0 is 1 everywhere, including 0 ** 0.
    REQUIRE(values(moegrad::pow(edge, 0.0)) == std::vector<double>{1, 1, 1});
  }
}

TEST_CASE("elementwise: NaN propagates through maximum and minimum as in PyTorch", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor a = values_tensor({kNaN, 1, kNaN, -2}, {4}, dtype);
    Tensor b = values_tensor({1, kNaN, kNaN, 3}, {4}, dtype);
    std::vector<double> mx = values(moegrad::maximum(a, b));
    std::vector<double> mn = values(moegrad::minimum(a, b));
    for (int i = 0; i < 3; ++i) {
      INFO("element " << i);
      REQUIRE(std::isnan(mx[size_t(i)]));
      REQUIRE(std::isnan(mn[size_t(i)]));
    }
    REQUIRE(mx[3] == 3);
    REQUIRE(mn[3] == -2);
    std::vector<double> ms = values(moegrad::maximum(a, 0.0));
    REQUIRE(std::isnan(ms[0]));
    REQUIRE(ms[1] == 1);
    std::vector<double> ns = values(moegrad::minimum(a, 0.0));
    REQUIRE(std::isnan(ns[0]));
    REQUIRE(ns[3] == -2);
  }
}

TEST_CASE("elementwise: relu propagates NaN as in PyTorch", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor a = values_tensor({kNaN, 1, -kInf, -2}, {4}, dtype);
    std::vector<double> r = values(moegrad::relu(a));
    REQUIRE(std::isnan(r[0]));
    REQUIRE(r[1] == 1);
    REQUIRE(r[2] == 0);
    REQUIRE(r[3] == 0);
  }
}

// --------------------------------------------------------------- binary ----

TEST_CASE("elementwise: binary arithmetic broadcasts and matches its reference (f32, f64)", "[elementwise]") {
  uint64_t seed = 200;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const BinaryCase& c : arithmetic_cases()) {
      for (const ShapeCase& s : broadcast_cases()) {
        Tensor a0 = random_tensor(s.a, dtype, next_seed(seed));
        Tensor b0 = random_tensor(s.b, dtype, next_seed(seed));
        if (std::string(c.name) == "div") b0 = away_from_zero(b0);
        for (const Tensor& a : layouts(a0)) {
          for (const Tensor& b : layouts(b0)) {
            INFO("op " << c.name << ", dtype " << dtype << ", " << shape_str(s.a) << " with " << shape_str(s.b)
                       << ", contiguous " << a.is_contiguous() << "/" << b.is_contiguous());
            check_result(c.op(a, b), binary_ref(a, b, s.out, c.ref), dtype);
          }
        }
      }
    }
  }
}

TEST_CASE("elementwise: binary ops on expanded views", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor a = random_tensor({3, 1}, dtype, 5).expand({3, 4});
    Tensor b_row = away_from_zero(random_tensor({4}, dtype, 6));
    for (const BinaryCase& c : arithmetic_cases()) {
      INFO("op " << c.name << ", dtype " << dtype);
      Tensor bb = b_row.unsqueeze(0).expand({3, 4});
      Tensor got = c.op(a, bb);
      check_result(got, binary_ref(a, bb, {3, 4}, c.ref), dtype);
      // The result has its own storage for every element.
      fill_(got.select(0, 1), 123.0);
      REQUIRE(at(got, {0, 0}) == Approx(c.ref(at(a, {0, 0}), at(bb, {0, 0}))).epsilon(1e-5));
      REQUIRE(at(got, {2, 3}) == Approx(c.ref(at(a, {2, 3}), at(bb, {2, 3}))).epsilon(1e-5));
    }
    // An expanded operand broadcast once more.
    Tensor e = random_tensor({1, 4}, dtype, 7).expand({2, 4});
    Tensor f = random_tensor({3, 1, 1}, dtype, 8);
    check_result(moegrad::add(e, f), binary_ref(e, f, {3, 2, 4}, [](double x, double y) { return x + y; }), dtype);
  }
}

TEST_CASE("elementwise: binary ops leave their inputs unchanged and return new tensors", "[elementwise]") {
  Tensor a = random_tensor({3, 4}, DType::f64, 9);
  Tensor b = away_from_zero(random_tensor({3, 4}, DType::f64, 10));
  Tensor a0 = a.clone(), b0 = b.clone();
  for (const BinaryCase& c : arithmetic_cases()) {
    INFO("op " << c.name);
    Tensor y = c.op(a, b);
    REQUIRE_FALSE(y.same(a));
    REQUIRE_FALSE(y.same(b));
    REQUIRE(y.storage() != a.storage());
    REQUIRE(y.storage() != b.storage());
    Tensor z = c.scalar(a, 2.0);
    REQUIRE(z.storage() != a.storage());
    require_close(a, a0, 0, 0);
    require_close(b, b0, 0, 0);
  }
}

TEST_CASE("elementwise: scalar forms of binary ops take the tensor's dtype (f32, f64)", "[elementwise]") {
  uint64_t seed = 300;
  for (DType dtype : {DType::f32, DType::f64}) {
    for (const BinaryCase& c : arithmetic_cases()) {
      for (double s : {2.5, -1.25, 0.0, 1.0}) {
        if (s == 0.0 && std::string(c.name) == "div") continue;
        for (const Shape& shape : unary_shapes()) {
          for (const Tensor& x : layouts(random_tensor(shape, dtype, next_seed(seed)))) {
            INFO("op " << c.name << " scalar " << s << ", dtype " << dtype << ", shape " << shape_str(shape));
            check_result(c.scalar(x, s), map_ref(x, [&](double v) { return c.ref(v, s); }), dtype);
          }
        }
      }
    }
  }
}

TEST_CASE("elementwise: integer add, sub, mul, maximum, minimum are exact with broadcasting", "[elementwise]") {
  uint64_t seed = 400;
  for (DType dtype : {DType::i32, DType::i64}) {
    for (const BinaryCase& c : arithmetic_cases()) {
      if (std::string(c.name) == "div") continue;
      for (const ShapeCase& s : broadcast_cases()) {
        Tensor a0 = random_tensor(s.a, dtype, next_seed(seed));
        Tensor b0 = random_tensor(s.b, dtype, next_seed(seed));
        for (const Tensor& a : layouts(a0)) {
          for (const Tensor& b : layouts(b0)) {
            INFO("op " << c.name << ", dtype " << dtype << ", " << shape_str(s.a) << " with " << shape_str(s.b));
            check_result(c.op(a, b), binary_ref(a, b, s.out, c.ref), dtype);
          }
        }
      }
      // Scalar forms with integral scalars keep the integer dtype.
      for (double s : {3.0, -2.0, 0.0}) {
        Tensor x = noncontiguous(random_tensor({4, 3}, dtype, next_seed(seed)));
        INFO("op " << c.name << " scalar " << s << ", dtype " << dtype);
        check_result(c.scalar(x, s), map_ref(x, [&](double v) { return c.ref(v, s); }), dtype);
      }
    }
  }
  // i64 values beyond 2^53 must not pass through double.
  int64_t big = (int64_t(1) << 53) + 1;
  Tensor x = from_vector(std::vector<int64_t>{big, big, -big});
  Tensor one = from_vector(std::vector<int64_t>{1, 0, -1});
  REQUIRE(moegrad::add(x, one).to_vector<int64_t>() == std::vector<int64_t>{big + 1, big, -big - 1});
  REQUIRE(moegrad::sub(x, one).to_vector<int64_t>() == std::vector<int64_t>{big - 1, big, -big + 1});
  REQUIRE(moegrad::add(x, 1.0).to_vector<int64_t>() == std::vector<int64_t>{big + 1, big + 1, -big + 1});
  Tensor y = from_vector(std::vector<int64_t>{big - 1, big + 2, -big + 1});
  REQUIRE(moegrad::maximum(x, y).to_vector<int64_t>() == std::vector<int64_t>{big, big + 2, -big + 1});
  REQUIRE(moegrad::minimum(x, y).to_vector<int64_t>() == std::vector<int64_t>{big - 1, big, -big});
  Tensor m = from_vector(std::vector<int64_t>{int64_t(1) << 31, 3});
  REQUIRE(moegrad::mul(m, m).to_vector<int64_t>() == std::vector<int64_t>{int64_t(1) << 62, 9});
}

TEST_CASE("elementwise: division special values follow IEEE", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor a = values_tensor({1, -1, 0, 6}, {4}, dtype);
    Tensor b = values_tensor({0, 0, 0, 4}, {4}, dtype);
    std::vector<double> q = values(moegrad::div(a, b));
    REQUIRE(std::isinf(q[0]));
    REQUIRE(q[0] > 0);
    REQUIRE(std::isinf(q[1]));
    REQUIRE(q[1] < 0);
    REQUIRE(std::isnan(q[2]));
    REQUIRE(q[3] == 1.5);
  }
}

TEST_CASE("elementwise: operators match their functions' references", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor a = noncontiguous(random_tensor({3, 4}, dtype, 11));
    Tensor b = away_from_zero(random_tensor({4}, dtype, 12));
    Shape out{3, 4};
    check_result(-a, map_ref(a, [](double x) { return -x; }), dtype);
    check_result(a + b, binary_ref(a, b, out, [](double x, double y) { return x + y; }), dtype);
    check_result(a - b, binary_ref(a, b, out, [](double x, double y) { return x - y; }), dtype);
    check_result(a * b, binary_ref(a, b, out, [](double x, double y) { return x * y; }), dtype);
    check_result(a / b, binary_ref(a, b, out, [](double x, double y) { return x / y; }), dtype);
    check_result(a + 2.0, map_ref(a, [](double x) { return x + 2; }), dtype);
    check_result(a - 2.0, map_ref(a, [](double x) { return x - 2; }), dtype);
    check_result(a * 2.0, map_ref(a, [](double x) { return x * 2; }), dtype);
    check_result(a / 2.0, map_ref(a, [](double x) { return x / 2; }), dtype);
    check_result(2.0 * a, map_ref(a, [](double x) { return 2 * x; }), dtype);
    check_result(2.0 + a, map_ref(a, [](double x) { return 2 + x; }), dtype);
    // Chained expression: (a - b) * 3 + 1 / b.
    Tensor chained = (a - b) * 3.0 + (moegrad::ones({}, dtype) / b);
    check_result(chained, binary_ref(a, b, out, [](double x, double y) { return (x - y) * 3 + 1 / y; }), dtype);
  }
}

TEST_CASE("elementwise: inputs large enough to be split over threads", "[elementwise]") {
  // Tens of thousands of elements: many rows, one long row, strided and
  // broadcast operands, so that chunked and threaded loops are exercised.
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    Tensor a = noncontiguous(random_tensor({200, 171}, dtype, 41));
    Tensor b = random_tensor({171}, dtype, 42);
    check_result(moegrad::exp(a), map_ref(a, [](double v) { return std::exp(v); }), dtype);
    check_result(moegrad::add(a, b), binary_ref(a, b, {200, 171}, [](double x, double y) { return x + y; }), dtype);
    check_result(moegrad::mul(b, a), binary_ref(b, a, {200, 171}, [](double x, double y) { return x * y; }), dtype);
    check_result(moegrad::gt(a, b), binary_ref(a, b, {200, 171}, [](double x, double y) { return double(x > y); }),
                 DType::b8);
    Tensor col = random_tensor({200, 1}, dtype, 43);
    check_result(moegrad::sub(a, col), binary_ref(a, col, {200, 171}, [](double x, double y) { return x - y; }),
                 dtype);
    Tensor cond = random_tensor({200, 1}, DType::b8, 44);
    Tensor expected = make({200, 171}, DType::f64,
                           [&](const Index& i) { return at_bcast(cond, i) != 0 ? at(a, i) : at_bcast(b, i); });
    check_result(moegrad::where(cond, a, b), expected, dtype);
    // One long row, contiguous and with stride 2.
    Tensor row = random_tensor({40001}, dtype, 45);
    check_result(moegrad::tanh(row), map_ref(row, [](double v) { return std::tanh(v); }), dtype);
    Tensor strided = noncontiguous(row);
    check_result(moegrad::mul(strided, 3.0), map_ref(strided, [](double v) { return v * 3; }), dtype);
    Tensor wide = random_tensor({1, 40001}, dtype, 46);
    check_result(moegrad::sub(row, wide), binary_ref(row, wide, {1, 40001}, [](double x, double y) { return x - y; }),
                 dtype);
  }
  Tensor ia = noncontiguous(random_tensor({200, 171}, DType::i64, 47));
  Tensor ib = random_tensor({200, 1}, DType::i64, 48);
  check_result(moegrad::maximum(ia, ib),
               binary_ref(ia, ib, {200, 171}, [](double x, double y) { return x > y ? x : y; }), DType::i64);
}

// ---------------------------------------------------------- comparisons ----

TEST_CASE("elementwise: comparisons broadcast and give bool masks", "[elementwise]") {
  uint64_t seed = 500;
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (const BinaryCase& c : comparison_cases()) {
      for (const ShapeCase& s : broadcast_cases()) {
        Tensor a0 = with_ties(random_tensor(s.a, dtype, next_seed(seed)));
        Tensor b0 = with_ties(random_tensor(s.b, dtype, next_seed(seed)));
        for (const Tensor& a : layouts(a0)) {
          for (const Tensor& b : layouts(b0)) {
            INFO("op " << c.name << ", dtype " << dtype << ", " << shape_str(s.a) << " with " << shape_str(s.b));
            check_result(c.op(a, b), binary_ref(a, b, s.out, c.ref), DType::b8);
          }
        }
      }
      // Scalar forms, with scalars that occur in the data (ties).
      for (double sc : {0.0, 1.0, -1.0}) {
        for (const Tensor& x : layouts(with_ties(random_tensor({5, 6}, dtype, next_seed(seed))))) {
          INFO("op " << c.name << " scalar " << sc << ", dtype " << dtype);
          check_result(c.scalar(x, sc), map_ref(x, [&](double v) { return c.ref(v, sc); }), DType::b8);
        }
      }
    }
  }
}

TEST_CASE("elementwise: comparisons with NaN are false except ne", "[elementwise]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    Tensor a = values_tensor({kNaN, 1, kNaN}, {3}, dtype);
    Tensor b = values_tensor({kNaN, kNaN, 1}, {3}, dtype);
    REQUIRE(values(moegrad::eq(a, b)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::ne(a, b)) == std::vector<double>{1, 1, 1});
    REQUIRE(values(moegrad::lt(a, b)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::le(a, b)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::gt(a, b)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::ge(a, b)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::eq(a, kNaN)) == std::vector<double>{0, 0, 0});
    REQUIRE(values(moegrad::ne(a, 1.0)) == std::vector<double>{1, 0, 1});
    REQUIRE(values(moegrad::ge(a, 1.0)) == std::vector<double>{0, 1, 0});
  }
}

TEST_CASE("elementwise: comparisons of bool masks", "[elementwise]") {
  Tensor a = random_tensor({4, 5}, DType::b8, 13);
  Tensor b = random_tensor({5}, DType::b8, 14);
  Tensor e = moegrad::eq(a, b);
  check_result(e, binary_ref(a, b, {4, 5}, [](double x, double y) { return double(x == y); }), DType::b8);
  check_result(moegrad::ne(a, b), binary_ref(a, b, {4, 5}, [](double x, double y) { return double(x != y); }),
               DType::b8);
  // A comparison's result is a mask that `where` accepts.
  Tensor one = moegrad::ones({}, DType::f32), zero = moegrad::zeros({}, DType::f32);
  check_result(moegrad::where(e, one, zero), map_ref(e, [](double v) { return v; }), DType::f32);
}

// ---------------------------------------------------------------- where ----

TEST_CASE("elementwise: where broadcasts cond, a and b", "[elementwise]") {
  struct WhereCase {
    Shape cond, a, b, out;
  };
  std::vector<WhereCase> cases = {
      {{3, 4}, {3, 4}, {3, 4}, {3, 4}},    {{3, 1}, {1, 4}, {}, {3, 4}}, {{2, 3, 4}, {3, 4}, {2, 1, 1}, {2, 3, 4}},
      {{}, {2, 3}, {2, 3}, {2, 3}},        {{0, 3}, {3}, {}, {0, 3}},    {{4}, {2, 1}, {1}, {2, 4}},
      {{}, {}, {}, {}},
  };
  uint64_t seed = 600;
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    for (const WhereCase& w : cases) {
      Tensor c0 = random_tensor(w.cond, DType::b8, next_seed(seed));
      Tensor a0 = random_tensor(w.a, dtype, next_seed(seed));
      Tensor b0 = random_tensor(w.b, dtype, next_seed(seed));
      for (const Tensor& c : layouts(c0)) {
        for (const Tensor& a : layouts(a0)) {
          INFO("dtype " << dtype << ", cond " << shape_str(w.cond) << ", a " << shape_str(w.a) << ", b "
                        << shape_str(w.b));
          Tensor expected = make(w.out, DType::f64, [&](const Index& i) {
            return at_bcast(c, i) != 0 ? at_bcast(a, i) : at_bcast(b0, i);
          });
          check_result(moegrad::where(c, a, b0), expected, dtype);
        }
      }
    }
  }
  // The branch not taken does not leak: NaN and inf in it are not selected.
  Tensor cond = from_vector(std::vector<bool>{true, false, true});
  Tensor a = values_tensor({1, kNaN, kInf}, {3}, DType::f32);
  Tensor b = values_tensor({kNaN, 2, kNaN}, {3}, DType::f32);
  std::vector<double> w = values(moegrad::where(cond, a, b));
  REQUIRE(w[0] == 1);
  REQUIRE(w[1] == 2);
  REQUIRE(std::isinf(w[2]));
}

// --------------------------------------------------------------- errors ----

namespace {
std::vector<BinaryCase> all_binary_cases() {
  std::vector<BinaryCase> v = arithmetic_cases();
  for (const BinaryCase& c : comparison_cases()) v.push_back(c);
  return v;
}
}  // namespace

TEST_CASE("elementwise: shapes that do not broadcast throw naming the op and both shapes", "[elementwise]") {
  for (const BinaryCase& c : all_binary_cases()) {
    INFO("op " << c.name);
    Tensor a = random_tensor({3, 4}, DType::f32, 1);
    Tensor b = random_tensor({2, 4}, DType::f32, 2);
    require_error([&] { c.op(a, b); }, c.name);
    require_error([&] { c.op(a, b); }, "[3,4]");
    require_error([&] { c.op(a, b); }, "[2,4]");
    Tensor d = random_tensor({3, 1, 4}, DType::f32, 3);
    Tensor e = random_tensor({2, 3}, DType::f32, 4);
    require_error([&] { c.op(d, e); }, c.name);
    require_error([&] { c.op(d, e); }, "[3,1,4]");
    require_error([&] { c.op(d, e); }, "[2,3]");
    // An empty dim broadcasts only against 1 or itself.
    require_error([&] { c.op(random_tensor({0, 4}, DType::f32, 5), random_tensor({2, 4}, DType::f32, 6)); },
                  c.name);
  }
  require_error([&] { random_tensor({3}, DType::f32, 1) + random_tensor({4}, DType::f32, 2); }, "add");
}

TEST_CASE("elementwise: mismatched dtypes throw naming the op", "[elementwise]") {
  std::vector<std::pair<DType, DType>> pairs = {
      {DType::f32, DType::f64}, {DType::f64, DType::f32}, {DType::i32, DType::i64},
      {DType::f32, DType::i32}, {DType::i64, DType::f64}, {DType::f32, DType::b8},
  };
  for (const BinaryCase& c : all_binary_cases()) {
    for (auto [da, db] : pairs) {
      INFO("op " << c.name << ", " << da << " with " << db);
      Tensor a = random_tensor({2, 3}, da, 1);
      Tensor b = random_tensor({2, 3}, db, 2);
      require_error([&] { c.op(a, b); }, c.name);
    }
  }
}

TEST_CASE("elementwise: div of integer tensors throws", "[elementwise]") {
  for (DType dtype : {DType::i32, DType::i64}) {
    INFO("dtype " << dtype);
    Tensor a = random_tensor({2, 3}, dtype, 1);
    Tensor b = moegrad::ones({2, 3}, dtype);
    require_error([&] { moegrad::div(a, b); }, "div");
    require_error([&] { moegrad::div(a, 2.0); }, "div");
    require_error([&] { a / b; }, "div");
  }
}

TEST_CASE("elementwise: floating-only unary ops reject integer and bool tensors", "[elementwise]") {
  struct NamedUnary {
    const char* name;
    UnaryFn op;
  };
  std::vector<NamedUnary> ops = {
      {"exp", [](const Tensor& x) { return moegrad::exp(x); }},
      {"log", [](const Tensor& x) { return moegrad::log(x); }},
      {"sqrt", [](const Tensor& x) { return moegrad::sqrt(x); }},
      {"rsqrt", [](const Tensor& x) { return moegrad::rsqrt(x); }},
      {"tanh", [](const Tensor& x) { return moegrad::tanh(x); }},
      {"sigmoid", [](const Tensor& x) { return moegrad::sigmoid(x); }},
      {"gelu", [](const Tensor& x) { return moegrad::gelu(x); }},
      {"gelu", [](const Tensor& x) { return moegrad::gelu(x, true); }},
      {"silu", [](const Tensor& x) { return moegrad::silu(x); }},
      {"pow", [](const Tensor& x) { return moegrad::pow(x, 2.0); }},
  };
  for (DType dtype : {DType::i32, DType::i64, DType::b8}) {
    Tensor x = random_tensor({2, 3}, dtype, 1);
    for (const NamedUnary& u : ops) {
      INFO("op " << u.name << ", dtype " << dtype);
      require_error([&] { u.op(x); }, u.name);
    }
  }
  // Negating a mask is an error, as in PyTorch.
  require_error([&] { moegrad::neg(random_tensor({3}, DType::b8, 2)); }, "neg");
}

TEST_CASE("elementwise: where rejects a non-bool cond, mismatched dtypes and bad shapes", "[elementwise]") {
  Tensor a = random_tensor({2, 3}, DType::f32, 1);
  Tensor b = random_tensor({2, 3}, DType::f32, 2);
  Tensor mask = random_tensor({2, 3}, DType::b8, 3);
  for (DType dtype : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    INFO("cond dtype " << dtype);
    Tensor cond = random_tensor({2, 3}, dtype, 4);
    require_error([&] { moegrad::where(cond, a, b); }, "where");
  }
  require_error([&] { moegrad::where(mask, a, b.to(DType::f64)); }, "where");
  require_error([&] { moegrad::where(mask, a.to(DType::i32), b); }, "where");
  require_error([&] { moegrad::where(random_tensor({4}, DType::b8, 5), a, b); }, "where");
  require_error([&] { moegrad::where(mask, a, random_tensor({3, 3}, DType::f32, 6)); }, "where");
  require_error([&] { moegrad::where(mask, random_tensor({2, 2}, DType::f32, 7), b); }, "where");
}

TEST_CASE("elementwise: scalar forms refuse a fraction on integer tensors instead of truncating it", "[elementwise]") {
  Tensor i = from_vector<int32_t>({-1, 0, 3});
  require_error([&] { lt(i, 0.5); }, "lt: scalar 0.5 is not a whole number");
  require_error([&] { add(i, 2.7); }, "add");
  REQUIRE(add(i, 2.0).to_vector<int32_t>() == std::vector<int32_t>{1, 2, 5});
  REQUIRE(lt(i, 0.0).to_vector<bool>() == std::vector<bool>{true, false, false});
  REQUIRE(add(from_vector<float>({1.f}), 0.5).item<float>() == 1.5f);
}
