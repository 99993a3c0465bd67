// Tests for core/indexing.h: every op against a naive reference loop written
// with testing::at / for_each_index (never with the kernels under test), on
// contiguous and non-contiguous inputs, negative dims, size-1 and empty dims,
// every value and index dtype the op supports; then every error path.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/indexing.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random indices in [0, size) (so with repeats), of dtype i32 or i64.
Tensor random_index(const Shape& shape, int64_t size, DType dtype, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> v(size_t(numel(shape)));
  for (auto& e : v) e = size > 0 ? int64_t(rng() % uint64_t(size)) : 0;
  return cast(from_vector(v, shape), dtype);
}

// Small integers in [-2, 2] (many ties), with about one NaN in `nan_every`
// elements for floating dtypes (0: none).
Tensor tie_tensor(const Shape& shape, DType dtype, uint64_t seed, int nan_every = 0) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(size_t(numel(shape)));
  for (auto& e : v) {
    e = double(int64_t(rng() % 5) - 2);
    if (nan_every > 0 && is_floating(dtype) && rng() % uint64_t(nan_every) == 0) e = kNaN;
  }
  return cast(from_vector(v, shape), dtype);
}

int64_t linear(const Shape& shape, const Index& i) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) off = off * shape[d] + i[d];
  return off;
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// Calls f(base, line) for each line of x along dim d; base has base[d] = 0.
void for_each_line(const Tensor& x, int64_t d, const std::function<void(const Index&, const std::vector<double>&)>& f) {
  Shape outer = x.shape();
  outer[size_t(d)] = 1;
  for_each_index(outer, [&](const Index& base) {
    std::vector<double> line;
    Index i = base;
    for (int64_t j = 0; j < x.size(d); ++j) {
      i[size_t(d)] = j;
      line.push_back(at(x, i));
    }
    f(base, line);
  });
}

// NaN is the largest value: a strictly before b in descending / ascending order.
bool ref_greater(double a, double b) {
  if (std::isnan(a)) return !std::isnan(b);
  return !std::isnan(b) && a > b;
}
bool ref_less(double a, double b) { return ref_greater(b, a); }

// Top-k by repeated selection: the first strictly best element wins, so ties
// go to the lower index.
std::vector<int64_t> ref_topk(const std::vector<double>& line, int64_t k, bool largest) {
  std::vector<bool> used(line.size(), false);
  std::vector<int64_t> out;
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    for (size_t i = 0; i < line.size(); ++i) {
      if (used[i]) continue;
      if (best < 0 || (largest ? ref_greater(line[i], line[size_t(best)]) : ref_less(line[i], line[size_t(best)])))
        best = int64_t(i);
    }
    used[size_t(best)] = true;
    out.push_back(best);
  }
  return out;
}

// Stable insertion sort of positions.
std::vector<int64_t> ref_argsort(const std::vector<double>& line, bool descending) {
  std::vector<int64_t> order;
  for (size_t i = 0; i < line.size(); ++i) {
    size_t at_pos = order.size();
    while (at_pos > 0) {
      double prev = line[size_t(order[at_pos - 1])];
      bool moves_before = descending ? ref_greater(line[i], prev) : ref_less(line[i], prev);
      if (!moves_before) break;
      --at_pos;
    }
    order.insert(order.begin() + int64_t(at_pos), int64_t(i));
  }
  return order;
}

template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected moegrad::Error");
  return {};
}

const std::vector<DType> kAllDTypes = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};
const std::vector<DType> kNumericDTypes = {DType::f32, DType::f64, DType::i32, DType::i64};
const std::vector<DType> kIndexDTypes = {DType::i32, DType::i64};

}  // namespace

TEST_CASE("index_select matches a reference loop", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
    Shape index;  // {} is a 0-d index
  };
  const std::vector<Case> cases = {
      {{5, 4, 3}, 0, {7}}, {{5, 4, 3}, 1, {2}}, {{5, 4, 3}, -1, {6}}, {{5, 4, 3}, -3, {0}},
      {{6}, 0, {10}},      {{1, 4}, 0, {3}},    {{4, 1}, 1, {2}},     {{3, 0, 2}, 2, {4}},
      {{3, 2}, 1, {}},     {{0, 3}, 1, {2}},    {{2, 3}, 0, {1}},
  };
  uint64_t seed = 1;
  for (const Case& c : cases)
    for (DType dt : kAllDTypes)
      for (DType it : kIndexDTypes)
        for (bool strided : {false, true}) {
          ++seed;
          INFO("x " << shape_str(c.x) << " dim " << c.dim << " index " << shape_str(c.index) << " " << dt << " " << it
                    << (strided ? " strided" : ""));
          Tensor x = random_tensor(c.x, dt, seed);
          const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
          Tensor index = random_index(c.index, c.x[size_t(d)], it, seed);
          if (strided) {
            x = noncontiguous(x);
            index = noncontiguous(index);
            // noncontiguous() cannot give a strided layout to every shape.
            bool strided_layout = x.numel() > 1 && (x.dim() == 1 || (c.x.front() > 1 && c.x.back() > 1));
            if (strided_layout) REQUIRE_FALSE(x.is_contiguous());
          }
          Tensor out = index_select(x, c.dim, index);
          Shape expected = c.x;
          expected[size_t(d)] = index.numel();
          REQUIRE(out.shape() == expected);
          REQUIRE(out.dtype() == dt);
          REQUIRE(out.is_contiguous());
          for_each_index(out.shape(), [&](const Index& i) {
            Index src = i;
            src[size_t(d)] = int64_t(index.dim() == 0 ? at(index, {}) : at(index, {i[size_t(d)]}));
            REQUIRE(at(out, i) == at(x, src));
          });
        }
}

TEST_CASE("index_select of many rows runs the threaded path correctly", "[indexing]") {
  for (int64_t dim : {0, 1}) {
    Tensor x = noncontiguous(random_tensor({700, 90}, DType::f32, 7));
    Tensor index = random_index({2000}, x.size(dim), DType::i64, 8);
    Tensor out = index_select(x, dim, index);
    for_each_index(out.shape(), [&](const Index& i) {
      Index src = i;
      src[size_t(dim)] = int64_t(at(index, {i[size_t(dim)]}));
      REQUIRE(at(out, i) == at(x, src));
    });
  }
}

TEST_CASE("gather matches a reference loop", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
    Shape index;
  };
  const std::vector<Case> cases = {
      {{4, 5}, 0, {6, 5}},        {{4, 5}, 1, {4, 3}}, {{4, 5}, -1, {2, 7}},        {{3, 4, 5}, 1, {2, 6, 3}},
      {{3, 4, 5}, -3, {5, 4, 5}}, {{6}, 0, {9}},       {{3, 4}, 1, {3, 0}},         {{3, 0}, 0, {2, 0}},
      {{1, 1}, 0, {1, 1}},        {{2, 3}, 0, {0, 3}}, {{300, 200}, 1, {250, 150}},
  };
  uint64_t seed = 100;
  for (const Case& c : cases)
    for (DType dt : kAllDTypes)
      for (DType it : kIndexDTypes)
        for (bool strided : {false, true}) {
          ++seed;
          INFO("x " << shape_str(c.x) << " dim " << c.dim << " index " << shape_str(c.index) << " " << dt << " " << it
                    << (strided ? " strided" : ""));
          const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
          Tensor x = random_tensor(c.x, dt, seed);
          Tensor index = random_index(c.index, c.x[size_t(d)], it, seed);
          if (strided) {
            x = noncontiguous(x);
            index = noncontiguous(index);
          }
          Tensor out = gather(x, c.dim, index);
          REQUIRE(out.shape() == c.index);
          REQUIRE(out.dtype() == dt);
          REQUIRE(out.is_contiguous());
          for_each_index(out.shape(), [&](const Index& i) {
            Index src = i;
            src[size_t(d)] = int64_t(at(index, i));
            REQUIRE(at(out, i) == at(x, src));
          });
        }
}

TEST_CASE("scatter_add matches a reference loop and leaves x unchanged", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
    Shape index;  // also src's shape
  };
  const std::vector<Case> cases = {
      {{4, 5}, 0, {9, 5}},        {{4, 5}, 1, {3, 8}}, {{4, 5}, -1, {2, 2}}, {{3, 4, 5}, 1, {2, 9, 3}},
      {{3, 4, 5}, -3, {7, 4, 5}}, {{6}, 0, {15}},      {{3, 4}, 1, {3, 0}},  {{3, 0}, 1, {3, 0}},
      {{1, 1}, 0, {3, 1}},        {{2, 3}, 0, {0, 3}},
  };
  uint64_t seed = 200;
  for (const Case& c : cases)
    for (DType dt : kNumericDTypes)
      for (DType it : kIndexDTypes)
        for (bool strided : {false, true}) {
          ++seed;
          INFO("x " << shape_str(c.x) << " dim " << c.dim << " index " << shape_str(c.index) << " " << dt << " " << it
                    << (strided ? " strided" : ""));
          const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
          Tensor x = random_tensor(c.x, dt, seed);
          Tensor index = random_index(c.index, c.x[size_t(d)], it, seed + 1);
          Tensor src = random_tensor(c.index, dt, seed + 2);
          if (strided) {
            x = noncontiguous(x);
            index = noncontiguous(index);
            src = noncontiguous(src);
          }
          std::vector<double> before = values(x);
          std::vector<double> expected = before;
          for_each_index(c.index, [&](const Index& i) {
            Index dst = i;
            dst[size_t(d)] = int64_t(at(index, i));
            expected[size_t(linear(c.x, dst))] += at(src, i);
          });
          Tensor out = scatter_add(x, c.dim, index, src);
          REQUIRE(out.shape() == c.x);
          REQUIRE(out.dtype() == dt);
          REQUIRE(out.is_contiguous());
          REQUIRE_FALSE(out.storage() == x.storage());
          require_close(out, from_vector(expected, c.x), 1e-5, 1e-5);
          REQUIRE(values(x) == before);
        }
}

TEST_CASE("index_add matches a reference loop and leaves x unchanged", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
    int64_t length;  // -1: a 0-d index
  };
  const std::vector<Case> cases = {
      {{4, 5}, 0, 9}, {{4, 5}, 1, 3}, {{4, 5}, -1, 12}, {{3, 4, 5}, 1, 7}, {{3, 4, 5}, -3, 2},
      {{6}, 0, 15},   {{3, 4}, 1, 0}, {{0, 4}, 1, 3},   {{1, 1}, 0, 4},    {{2, 3}, 1, -1},
  };
  uint64_t seed = 300;
  for (const Case& c : cases)
    for (DType dt : kNumericDTypes)
      for (DType it : kIndexDTypes)
        for (bool strided : {false, true}) {
          ++seed;
          INFO("x " << shape_str(c.x) << " dim " << c.dim << " length " << c.length << " " << dt << " " << it
                    << (strided ? " strided" : ""));
          const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
          Shape index_shape = c.length < 0 ? Shape{} : Shape{c.length};
          Shape src_shape = c.x;
          src_shape[size_t(d)] = c.length < 0 ? 1 : c.length;
          Tensor x = random_tensor(c.x, dt, seed);
          Tensor index = random_index(index_shape, c.x[size_t(d)], it, seed + 1);
          Tensor src = random_tensor(src_shape, dt, seed + 2);
          if (strided) {
            x = noncontiguous(x);
            index = noncontiguous(index);
            src = noncontiguous(src);
          }
          std::vector<double> before = values(x);
          std::vector<double> expected = before;
          for_each_index(src_shape, [&](const Index& i) {
            Index dst = i;
            dst[size_t(d)] = int64_t(index.dim() == 0 ? at(index, {}) : at(index, {i[size_t(d)]}));
            expected[size_t(linear(c.x, dst))] += at(src, i);
          });
          Tensor out = index_add(x, c.dim, index, src);
          REQUIRE(out.shape() == c.x);
          REQUIRE(out.dtype() == dt);
          REQUIRE(out.is_contiguous());
          require_close(out, from_vector(expected, c.x), 1e-5, 1e-5);
          REQUIRE(values(x) == before);
        }
}

TEST_CASE("scatter_add and index_add are deterministic: sums in index order", "[indexing]") {
  // Large enough for the threaded path, with many collisions. A float
  // reference that adds in index order along dim must match bit for bit.
  SECTION("index_add along dim 0") {
    const int64_t rows = 50, cols = 300, n = 5000;
    Tensor x = random_tensor({rows, cols}, DType::f32, 11);
    Tensor index = random_index({n}, rows, DType::i64, 12);
    Tensor src = noncontiguous(random_tensor({n, cols}, DType::f32, 13));
    std::vector<float> expected = x.to_vector<float>();
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < cols; ++c) expected[size_t(int64_t(at(index, {j})) * cols + c)] += float(at(src, {j, c}));
    Tensor a = index_add(x, 0, index, src), b = index_add(x, 0, index, src);
    REQUIRE(a.to_vector<float>() == expected);
    REQUIRE(std::memcmp(a.data<float>(), b.data<float>(), sizeof(float) * size_t(a.numel())) == 0);
  }
  SECTION("scatter_add along dim 0 and dim 1") {
    for (int64_t dim : {0, 1}) {
      Shape xs = dim == 0 ? Shape{40, 300} : Shape{300, 40};
      Shape is = dim == 0 ? Shape{2000, 300} : Shape{300, 2000};
      Tensor x = random_tensor(xs, DType::f32, 21);
      Tensor index = random_index(is, 40, DType::i32, 22);
      Tensor src = random_tensor(is, DType::f32, 23);
      std::vector<float> expected = x.to_vector<float>();
      for_each_index(is, [&](const Index& i) {
        Index dst = i;
        dst[size_t(dim)] = int64_t(at(index, i));
        expected[size_t(linear(xs, dst))] += float(at(src, i));
      });
      Tensor a = scatter_add(x, dim, index, src), b = scatter_add(x, dim, index, src);
      REQUIRE(a.to_vector<float>() == expected);
      REQUIRE(std::memcmp(a.data<float>(), b.data<float>(), sizeof(float) * size_t(a.numel())) == 0);
    }
  }
}

TEST_CASE("embedding looks up rows for ids of any shape", "[indexing]") {
  Tensor weight = random_tensor({10, 4}, DType::f32, 31);
  for (Shape ids_shape : {Shape{2, 3}, Shape{}, Shape{0}, Shape{3, 5}, Shape{7}})
    for (DType it : kIndexDTypes) {
      INFO("ids " << shape_str(ids_shape) << " " << it);
      Tensor ids = noncontiguous(random_index(ids_shape, 10, it, 32));
      Tensor out = embedding(weight, ids);
      Shape expected = ids_shape;
      expected.push_back(4);
      REQUIRE(out.shape() == expected);
      for_each_index(out.shape(), [&](const Index& i) {
        Index id(i.begin(), i.end() - 1);
        REQUIRE(at(out, i) == at(weight, {int64_t(at(ids, id)), i.back()}));
      });
    }
}

TEST_CASE("topk matches a reference selection, ties to the lower index, NaN largest", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
    std::vector<int64_t> ks;
  };
  const std::vector<Case> cases = {
      {{4, 7}, -1, {0, 1, 3, 7}}, {{5, 3, 4}, 1, {2, 3}}, {{5, 3, 4}, 0, {5, 1}}, {{6}, 0, {6, 2}},
      {{3, 0}, 0, {2}},           {{3, 0}, 1, {0}},       {{2, 1}, 1, {1}},       {{3, 40}, -1, {5}},
  };
  uint64_t seed = 400;
  for (const Case& c : cases)
    for (int64_t k : c.ks)
      for (DType dt : kNumericDTypes)
        for (bool largest : {true, false})
          for (bool strided : {false, true}) {
            ++seed;
            INFO("x " << shape_str(c.x) << " dim " << c.dim << " k " << k << " " << dt
                      << (largest ? " largest" : " smallest") << (strided ? " strided" : ""));
            const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
            Tensor x = tie_tensor(c.x, dt, seed, 6);
            if (strided) x = noncontiguous(x);
            Tensor values, indices;  // not a structured binding: C++17 lambdas cannot capture those (clang refuses)
            std::tie(values, indices) = topk(x, k, c.dim, largest);
            Shape expected = c.x;
            expected[size_t(d)] = k;
            REQUIRE(values.shape() == expected);
            REQUIRE(indices.shape() == expected);
            REQUIRE(values.dtype() == dt);
            REQUIRE(indices.dtype() == DType::i64);
            REQUIRE(values.is_contiguous());
            REQUIRE(indices.is_contiguous());
            for_each_line(x, d, [&](const Index& base, const std::vector<double>& line) {
              std::vector<int64_t> want = ref_topk(line, k, largest);
              Index o = base;
              for (int64_t j = 0; j < k; ++j) {
                o[size_t(d)] = j;
                REQUIRE(at(indices, o) == double(want[size_t(j)]));
                REQUIRE(same_value(at(values, o), line[size_t(want[size_t(j)])]));
              }
            });
          }
}

TEST_CASE("topk on hand-picked rows", "[indexing]") {
  Tensor x = from_vector<float>({1, 3, 3, 2, 3});
  auto [v, i] = topk(x, 2);
  REQUIRE(v.to_vector<float>() == std::vector<float>{3, 3});
  REQUIRE(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  auto [vs, is] = topk(x, 2, 0, false);
  REQUIRE(vs.to_vector<float>() == std::vector<float>{1, 2});
  REQUIRE(is.to_vector<int64_t>() == std::vector<int64_t>{0, 3});

  Tensor y = from_vector<double>({1, kNaN, 5, kNaN});
  auto [yv, yi] = topk(y, 3);
  REQUIRE(yi.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 2});
  REQUIRE(std::isnan(yv.to_vector<double>()[0]));
  REQUIRE(yv.to_vector<double>()[2] == 5);
  auto [sv, si] = topk(y, 4, -1, false);
  REQUIRE(si.to_vector<int64_t>() == std::vector<int64_t>{0, 2, 1, 3});

  SECTION("a 0-d tensor is one element along dim 0") {
    auto [v0, i0] = topk(scalar_tensor(3.5), 1);
    REQUIRE(v0.dim() == 0);
    REQUIRE(i0.dim() == 0);
    REQUIRE(v0.item<float>() == 3.5f);
    REQUIRE(i0.item<int64_t>() == 0);
    REQUIRE(topk(scalar_tensor(3.5), 0).first.numel() == 0);
  }
}

TEST_CASE("sort is stable, NaN sorts as the largest, and argsort agrees", "[indexing]") {
  struct Case {
    Shape x;
    int64_t dim;
  };
  const std::vector<Case> cases = {{{4, 9}, -1}, {{5, 3, 4}, 1}, {{5, 3, 4}, 0}, {{6}, 0},
                                   {{3, 0}, 1},  {{0, 3}, 1},    {{2, 1}, 1},    {{2, 1500}, 1}};
  uint64_t seed = 500;
  for (const Case& c : cases)
    for (DType dt : kAllDTypes)
      for (bool descending : {false, true})
        for (bool strided : {false, true}) {
          ++seed;
          INFO("x " << shape_str(c.x) << " dim " << c.dim << " " << dt << (descending ? " descending" : "")
                    << (strided ? " strided" : ""));
          const int64_t d = c.dim < 0 ? c.dim + int64_t(c.x.size()) : c.dim;
          Tensor x = dt == DType::b8 ? random_tensor(c.x, dt, seed) : tie_tensor(c.x, dt, seed, 5);
          if (strided) x = noncontiguous(x);
          Tensor values, indices;  // not a structured binding: C++17 lambdas cannot capture those (clang refuses)
          std::tie(values, indices) = sort(x, c.dim, descending);
          Tensor order = argsort(x, c.dim, descending);
          REQUIRE(values.shape() == c.x);
          REQUIRE(indices.shape() == c.x);
          REQUIRE(values.dtype() == dt);
          REQUIRE(indices.dtype() == DType::i64);
          REQUIRE(values.is_contiguous());
          REQUIRE(indices.to_vector<int64_t>() == order.to_vector<int64_t>());
          for_each_line(x, d, [&](const Index& base, const std::vector<double>& line) {
            std::vector<int64_t> want = ref_argsort(line, descending);
            Index o = base;
            for (size_t j = 0; j < want.size(); ++j) {
              o[size_t(d)] = int64_t(j);
              REQUIRE(at(indices, o) == double(want[j]));
              REQUIRE(same_value(at(values, o), line[size_t(want[j])]));
            }
          });
        }
}

TEST_CASE("sort on hand-picked rows", "[indexing]") {
  Tensor x = from_vector<float>({2, 1, float(kNaN), 1, 2});
  auto [av, ai] = sort(x);
  REQUIRE(ai.to_vector<int64_t>() == std::vector<int64_t>{1, 3, 0, 4, 2});
  REQUIRE(std::isnan(av.to_vector<float>()[4]));
  auto [dv, di] = sort(x, 0, true);
  REQUIRE(di.to_vector<int64_t>() == std::vector<int64_t>{2, 0, 4, 1, 3});
  REQUIRE(std::isnan(dv.to_vector<float>()[0]));
  REQUIRE(dv.to_vector<float>()[1] == 2);

  auto [v0, i0] = sort(scalar_tensor(-1.0, DType::f64), -1);
  REQUIRE(v0.dim() == 0);
  REQUIRE(v0.item<double>() == -1.0);
  REQUIRE(i0.item<int64_t>() == 0);
}

TEST_CASE("bincount counts values with minlength", "[indexing]") {
  Tensor x = from_vector<int64_t>({0, 2, 2, 5});
  REQUIRE(bincount(x).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 2, 0, 0, 1});
  REQUIRE(bincount(x, 3).numel() == 6);
  REQUIRE(bincount(x, 8).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 2, 0, 0, 1, 0, 0});
  REQUIRE(bincount(from_vector<int64_t>({}), 4).to_vector<int64_t>() == std::vector<int64_t>(4, 0));
  REQUIRE(bincount(from_vector<int32_t>({})).shape() == Shape{0});

  for (DType it : kIndexDTypes) {
    Tensor v = noncontiguous(random_index({1000}, 37, it, 600));
    Tensor counts = bincount(v, 10);
    REQUIRE(counts.dtype() == DType::i64);
    std::vector<int64_t> want(size_t(counts.numel()), 0);
    for (int64_t i = 0; i < 1000; ++i) ++want[size_t(at(v, {i}))];
    REQUIRE(counts.to_vector<int64_t>() == want);
    REQUIRE(counts.numel() == 37);
  }
}

TEST_CASE("check_index_range accepts in-range and empty indices and names bad values", "[indexing]") {
  check_index_range("op_under_test", from_vector<int64_t>({0, 4, 2}), 5);
  check_index_range("op_under_test", from_vector<int32_t>({}), 0);
  std::string big = error_message([] { check_index_range("op_under_test", from_vector<int32_t>({0, 5, 1}), 5); });
  CHECK(big.find("op_under_test") != std::string::npos);
  CHECK(big.find("index 5") != std::string::npos);
  CHECK(big.find("size 5") != std::string::npos);
  std::string neg = error_message([] { check_index_range("op_under_test", from_vector<int64_t>({3, -2}), 5); });
  CHECK(neg.find("index -2") != std::string::npos);
  require_error([] { check_index_range("op_under_test", from_vector<float>({0}), 5); }, "op_under_test");
}

TEST_CASE("index_select and embedding reject bad inputs", "[indexing]") {
  Tensor x = random_tensor({5, 3});
  std::string msg = error_message([&] { index_select(x, 0, from_vector<int64_t>({1, 5})); });
  CHECK(msg.find("index_select") != std::string::npos);
  CHECK(msg.find("index 5") != std::string::npos);
  require_error([&] { index_select(x, 1, from_vector<int32_t>({-1})); }, "index_select");
  require_error([&] { index_select(x, 0, from_vector<float>({1})); }, "index_select");
  require_error([&] { index_select(x, 0, from_vector<int64_t>({1, 2}, {1, 2})); }, "index_select");
  require_error([&] { index_select(x, 2, from_vector<int64_t>({0})); }, "index_select");
  require_error([&] { index_select(x, -3, from_vector<int64_t>({0})); }, "index_select");
  require_error([&] { index_select(scalar_tensor(1), 0, from_vector<int64_t>({0})); }, "index_select");
  require_error([&] { index_select(zeros({0, 3}), 0, from_vector<int64_t>({0})); }, "index_select");

  require_error([&] { embedding(random_tensor({5}), from_vector<int64_t>({0})); }, "embedding");
  require_error([&] { embedding(x, from_vector<double>({0})); }, "embedding");
  require_error([&] { embedding(x, from_vector<int64_t>({5})); }, "embedding");
  require_error([&] { embedding(x, from_vector<int32_t>({0, -1}, {1, 2})); }, "embedding");
}

TEST_CASE("gather rejects bad inputs", "[indexing]") {
  Tensor x = random_tensor({4, 5});
  require_error([&] { gather(x, 0, from_vector<int64_t>({0, 4}, {1, 2})); }, "gather");
  require_error([&] { gather(x, 1, from_vector<int64_t>({-1, 0}, {1, 2})); }, "gather");
  require_error([&] { gather(x, 0, from_vector<int64_t>({0, 1})); }, "gather");                 // rank
  require_error([&] { gather(x, 0, zeros({2, 6}, DType::i64)); }, "gather");                    // too wide
  require_error([&] { gather(x, 0, zeros({2, 5}, DType::f32)); }, "gather");                    // dtype
  require_error([&] { gather(x, 2, zeros({2, 5}, DType::i64)); }, "gather");                    // dim
  require_error([&] { gather(scalar_tensor(1), 0, scalar_tensor(0, DType::i64)); }, "gather");  // 0-d
}

TEST_CASE("scatter_add and index_add reject bad inputs", "[indexing]") {
  Tensor x = random_tensor({4, 5});
  Tensor idx = zeros({2, 5}, DType::i64);
  Tensor src = random_tensor({2, 5});
  require_error(
      [&] {
        scatter_add(x, 0, from_vector<int64_t>(std::vector<int64_t>(10, 4), {2, 5}), src);
      },
      "scatter_add");
  require_error(
      [&] {
        scatter_add(x, 0, from_vector<int64_t>(std::vector<int64_t>(10, -3), {2, 5}), src);
      },
      "scatter_add");
  require_error([&] { scatter_add(x, 0, idx, random_tensor({2, 4})); }, "scatter_add");              // shapes
  require_error([&] { scatter_add(x, 0, idx, random_tensor({2, 5}, DType::f64)); }, "scatter_add");  // dtype
  require_error([&] { scatter_add(x, 0, idx.to(DType::f32), src); }, "scatter_add");
  require_error([&] { scatter_add(x, 0, zeros({2, 6}, DType::i64), random_tensor({2, 6})); }, "scatter_add");
  require_error([&] { scatter_add(x, 0, zeros({10}, DType::i64), random_tensor({10})); }, "scatter_add");
  require_error([&] { scatter_add(x.to(DType::b8), 0, idx, src.to(DType::b8)); }, "scatter_add");
  require_error([&] { scatter_add(x, 2, idx, src); }, "scatter_add");

  Tensor rows = random_tensor({3, 5});
  std::string msg = error_message([&] { index_add(x, 0, from_vector<int32_t>({0, 9, 1}), rows); });
  CHECK(msg.find("index_add") != std::string::npos);
  CHECK(msg.find("index 9") != std::string::npos);
  require_error([&] { index_add(x, 0, from_vector<int64_t>({0, -1, 1}), rows); }, "index_add");
  require_error([&] { index_add(x, 0, from_vector<int64_t>({0, 1}), rows); }, "index_add");     // length
  require_error([&] { index_add(x, 1, from_vector<int64_t>({0, 1, 2}), rows); }, "index_add");  // shape
  require_error([&] { index_add(x, 0, from_vector<int64_t>({0, 1, 2}, {3, 1}), rows); }, "index_add");
  require_error([&] { index_add(x, 0, from_vector<float>({0, 1, 2}), rows); }, "index_add");
  require_error([&] { index_add(x, 0, from_vector<int64_t>({0, 1, 2}), rows.to(DType::f64)); }, "index_add");
  require_error(
      [&] {
        index_add(x.to(DType::b8), 0, from_vector<int64_t>({0, 1, 2}), rows.to(DType::b8));
      },
      "index_add");
  require_error([&] { index_add(x, -3, from_vector<int64_t>({0, 1, 2}), rows); }, "index_add");
}

TEST_CASE("topk, sort and bincount reject bad inputs", "[indexing]") {
  Tensor x = random_tensor({4, 5});
  std::string msg = error_message([&] { topk(x, 6); });
  CHECK(msg.find("topk") != std::string::npos);
  CHECK(msg.find("k = 6") != std::string::npos);
  require_error([&] { topk(x, -1); }, "topk");
  require_error([&] { topk(x, 5, 0); }, "topk");
  require_error([&] { topk(x, 1, 2); }, "topk");
  require_error([&] { topk(scalar_tensor(1), 2); }, "topk");
  require_error([&] { topk(scalar_tensor(1), 1, 1); }, "topk");
  require_error([&] { sort(x, 2); }, "sort");
  require_error([&] { sort(x, -3); }, "sort");
  require_error([&] { argsort(x, 5); }, "sort");

  std::string neg = error_message([] { bincount(from_vector<int64_t>({1, -3, 2})); });
  CHECK(neg.find("bincount") != std::string::npos);
  CHECK(neg.find("-3") != std::string::npos);
  require_error([] { bincount(zeros({2, 2}, DType::i64)); }, "bincount");
  require_error([] { bincount(from_vector<float>({1})); }, "bincount");
  require_error([] { bincount(from_vector<int64_t>({1}), -1); }, "bincount");
}
