// Tests for core/join.h: cat and stack against reference loops (including
// strided inputs, negative dims and empty pieces), split and chunk as views
// of their input, and every error path.
#include <functional>
#include <vector>

#include "core/join.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};

// Requires y[i] == x[f(i)] for every index i of y.
void require_maps(const Tensor& y, const Tensor& x, const std::function<Index(const Index&)>& f) {
  int64_t bad = 0;
  for_each_index(y.shape(), [&](const Index& i) {
    double a = at(y, i), b = at(x, f(i));
    if (a != b && bad++ == 0) {
      INFO("first mismatch at " << shape_str(i) << ": " << a << " vs " << b);
      CHECK(a == b);
    }
  });
  REQUIRE(bad == 0);
}

std::vector<int64_t> sizes_along(const std::vector<Tensor>& parts, int64_t dim) {
  std::vector<int64_t> out;
  for (const Tensor& p : parts) out.push_back(p.size(dim));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- cat

TEST_CASE("cat of small hand-computed cases", "[join]") {
  Tensor a = from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = from_vector<float>({5, 6}, {1, 2});
  Tensor c = cat({a, b});
  REQUIRE(c.shape() == Shape{3, 2});
  REQUIRE(c.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor d = from_vector<float>({7, 8}, {2, 1});
  Tensor e = cat({a, d}, 1);
  REQUIRE(e.shape() == Shape{2, 3});
  REQUIRE(e.to_vector<float>() == std::vector<float>{1, 2, 7, 3, 4, 8});
  REQUIRE(cat({a, d}, -1).to_vector<float>() == std::vector<float>{1, 2, 7, 3, 4, 8});
  REQUIRE(cat({d, a, d}, 1).to_vector<float>() == std::vector<float>{7, 1, 2, 7, 8, 3, 4, 8});
  REQUIRE(cat({from_vector<int64_t>({1, 2}), from_vector<int64_t>({3})}).to_vector<int64_t>() ==
          std::vector<int64_t>{1, 2, 3});
  // Transposed inputs read in logical order.
  REQUIRE(cat({a.t(), a.t()}, 1).to_vector<float>() == std::vector<float>{1, 3, 1, 3, 2, 4, 2, 4});
}

TEST_CASE("cat of random strided 3-D tensors along every dim", "[join]") {
  for (DType dt : kAllDTypes) {
    for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
      INFO(dtype_name(dt) << " dim " << dim);
      int64_t d = dim < 0 ? dim + 3 : dim;
      std::vector<int64_t> lens{2, 1, 3};
      std::vector<Tensor> parts;
      for (size_t p = 0; p < lens.size(); ++p) {
        Shape s{3, 4, 5};
        s[d] = lens[p];
        Tensor t = random_tensor(s, dt, 100 + p);
        parts.push_back(p == 1 ? t : noncontiguous(t));  // mix layouts
      }
      Tensor out = cat(parts, dim);
      Shape want{3, 4, 5};
      want[d] = 6;
      REQUIRE(out.shape() == want);
      REQUIRE(out.dtype() == dt);
      REQUIRE(out.is_contiguous());
      for_each_index(out.shape(), [&](const Index& i) {
        int64_t k = i[d];
        size_t p = 0;
        while (k >= lens[p]) k -= lens[p++];
        Index j = i;
        j[d] = k;
        REQUIRE(at(out, i) == at(parts[p], j));
      });
    }
  }
}

TEST_CASE("cat returns a new tensor", "[join]") {
  Tensor x = from_vector<float>({1, 2, 3});
  Tensor y = cat({x});
  REQUIRE(y.to_vector<float>() == std::vector<float>{1, 2, 3});
  REQUIRE(y.storage() != x.storage());
  fill_(y, 0);
  REQUIRE(x.to_vector<float>() == std::vector<float>{1, 2, 3});
  Tensor z = cat({x, x});
  REQUIRE(z.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("cat with empty pieces", "[join]") {
  Tensor x = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  // Size 0 along the cat dim.
  REQUIRE(cat({zeros({2, 0}), x, zeros({2, 0})}, 1).to_vector<float>() == x.to_vector<float>());
  REQUIRE(cat({x, zeros({0, 3})}, 0).shape() == Shape{2, 3});
  // 1-D tensors of shape [0] are skipped whatever the others' rank.
  Tensor s = cat({zeros({0}), x, zeros({0})}, 1);
  REQUIRE(s.shape() == Shape{2, 3});
  REQUIRE(s.to_vector<float>() == x.to_vector<float>());
  REQUIRE(cat({zeros({0}), x}, 0).shape() == Shape{2, 3});
  // All empty.
  REQUIRE(cat({zeros({0}), zeros({0})}).shape() == Shape{0});
  REQUIRE(cat({zeros({0, 3}), zeros({0, 3})}).shape() == Shape{0, 3});
}

TEST_CASE("cat errors", "[join]") {
  Tensor a = zeros({2, 3});
  require_error([] { cat({}); }, "cat");
  require_error([&] { cat({a, zeros({2, 4})}, 0); }, "cat");
  require_error([&] { cat({a, zeros({3, 3})}, 1); }, "cat");
  require_error([&] { cat({a, zeros({2, 3, 1})}, 0); }, "cat");
  require_error([&] { cat({a, zeros({3})}, 0); }, "cat");
  require_error([&] { cat({a, zeros({2, 3}, DType::f64)}, 0); }, "cat");
  require_error([&] { cat({a, zeros({2, 3}, DType::i64)}, 1); }, "cat");
  require_error([&] { cat({a, a}, 2); }, "cat");
  require_error([&] { cat({a, a}, -3); }, "cat");
  require_error([] { cat({scalar_tensor(1), scalar_tensor(2)}); }, "cat");
  require_error([&] { cat({a, Tensor()}); }, "undefined");
}

// ---------------------------------------------------------------- stack

TEST_CASE("stack of small hand-computed cases", "[join]") {
  Tensor a = from_vector<float>({1, 2});
  Tensor b = from_vector<float>({3, 4});
  Tensor s0 = stack({a, b});
  REQUIRE(s0.shape() == Shape{2, 2});
  REQUIRE(s0.to_vector<float>() == std::vector<float>{1, 2, 3, 4});
  Tensor s1 = stack({a, b}, 1);
  REQUIRE(s1.shape() == Shape{2, 2});
  REQUIRE(s1.to_vector<float>() == std::vector<float>{1, 3, 2, 4});
  REQUIRE(stack({a, b}, -1).to_vector<float>() == std::vector<float>{1, 3, 2, 4});
  REQUIRE(stack({a, b}, -2).to_vector<float>() == std::vector<float>{1, 2, 3, 4});
  REQUIRE(stack({a, b, a}).shape() == Shape{3, 2});
  // 0-d inputs stack into a vector.
  Tensor v = stack({scalar_tensor(1.5), scalar_tensor(-2)});
  REQUIRE(v.shape() == Shape{2});
  REQUIRE(v.to_vector<float>() == std::vector<float>{1.5f, -2});
  REQUIRE(stack({scalar_tensor(3, DType::i64)}).shape() == Shape{1});
  // Empty inputs.
  REQUIRE(stack({zeros({0, 2}), zeros({0, 2})}, 1).shape() == Shape{0, 2, 2});
}

TEST_CASE("stack of random strided tensors at every position", "[join]") {
  for (DType dt : {DType::f32, DType::i32, DType::b8}) {
    std::vector<Tensor> parts;
    for (int p = 0; p < 3; ++p) {
      Tensor t = random_tensor({2, 3}, dt, 200 + p);
      parts.push_back(p == 0 ? t : noncontiguous(t));
    }
    for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
      INFO(dtype_name(dt) << " dim " << dim);
      int64_t d = dim < 0 ? dim + 3 : dim;
      Tensor out = stack(parts, dim);
      Shape want{2, 3};
      want.insert(want.begin() + d, 3);
      REQUIRE(out.shape() == want);
      REQUIRE(out.dtype() == dt);
      for_each_index(out.shape(), [&](const Index& i) {
        Index j = i;
        j.erase(j.begin() + d);
        REQUIRE(at(out, i) == at(parts[size_t(i[d])], j));
      });
    }
  }
}

TEST_CASE("stack errors", "[join]") {
  Tensor a = zeros({2, 3});
  require_error([] { stack({}); }, "stack");
  require_error([&] { stack({a, zeros({3, 2})}); }, "stack");
  require_error([&] { stack({a, zeros({2, 3, 1})}); }, "stack");
  require_error([&] { stack({a, a}, 3); }, "stack");
  require_error([&] { stack({a, a}, -4); }, "stack");
  REQUIRE_THROWS_AS(stack({a, zeros({2, 3}, DType::f64)}), Error);
}

TEST_CASE("stack's dtype error names stack", "[join]") {
  require_error([] { stack({zeros({2}), zeros({2}, DType::i32)}); }, "stack");
}

// ---------------------------------------------------------------- split

TEST_CASE("split by size gives views of consecutive pieces", "[join]") {
  Tensor x = arange(7, DType::f32);
  std::vector<Tensor> p = split(x, 3);
  REQUIRE(p.size() == 3);
  REQUIRE(sizes_along(p, 0) == std::vector<int64_t>{3, 3, 1});
  REQUIRE(p[0].to_vector<float>() == std::vector<float>{0, 1, 2});
  REQUIRE(p[1].to_vector<float>() == std::vector<float>{3, 4, 5});
  REQUIRE(p[2].to_vector<float>() == std::vector<float>{6});
  for (const Tensor& t : p) REQUIRE(t.storage() == x.storage());
  // Writing through a piece changes the input.
  fill_(p[1], -1);
  REQUIRE(x.to_vector<float>() == std::vector<float>{0, 1, 2, -1, -1, -1, 6});

  REQUIRE(split(x, 7).size() == 1);
  REQUIRE(split(x, 100).size() == 1);
  REQUIRE(split(x, 100)[0].shape() == Shape{7});
  REQUIRE(split(x, 1).size() == 7);

  Tensor m = random_tensor({4, 6}, DType::f64, 51);
  std::vector<Tensor> q = split(m, 4, 1);
  REQUIRE(q.size() == 2);
  REQUIRE(q[0].shape() == Shape{4, 4});
  REQUIRE(q[1].shape() == Shape{4, 2});
  require_maps(q[1], m, [](const Index& i) { return Index{i[0], i[1] + 4}; });
  std::vector<Tensor> r = split(m, 4, -1);
  REQUIRE(r.size() == 2);
  require_maps(r[0], m, [](const Index& i) { return i; });
  // Splitting a transposed input.
  std::vector<Tensor> t = split(m.t(), 5, 0);  // [6,4] -> [5,4], [1,4]
  REQUIRE(t.size() == 2);
  require_maps(t[1], m, [](const Index& i) { return Index{i[1], 5}; });
  // An empty dim splits into one empty piece, as in PyTorch.
  std::vector<Tensor> e = split(zeros({0, 3}), 2);
  REQUIRE(e.size() == 1);
  REQUIRE(e[0].shape() == Shape{0, 3});
}

TEST_CASE("split by sizes", "[join]") {
  Tensor m = random_tensor({4, 5}, DType::i64, 53);
  std::vector<Tensor> p = split(m, std::vector<int64_t>{1, 0, 3}, 0);
  REQUIRE(p.size() == 3);
  REQUIRE(p[0].shape() == Shape{1, 5});
  REQUIRE(p[1].shape() == Shape{0, 5});
  REQUIRE(p[2].shape() == Shape{3, 5});
  require_maps(p[2], m, [](const Index& i) { return Index{i[0] + 1, i[1]}; });
  for (const Tensor& t : p) REQUIRE(t.storage() == m.storage());
  std::vector<Tensor> q = split(m, std::vector<int64_t>{2, 2, 1}, -1);
  REQUIRE(sizes_along(q, 1) == std::vector<int64_t>{2, 2, 1});
  require_maps(q[1], m, [](const Index& i) { return Index{i[0], i[1] + 2}; });
  require_maps(q[2], m, [](const Index& i) { return Index{i[0], 4}; });
  REQUIRE(split(m, std::vector<int64_t>{5}, 1)[0].shape() == Shape{4, 5});
  // Pieces cat back to the input.
  require_close(cat(q, 1), m, 0, 0);
  require_close(cat(split(m.t(), std::vector<int64_t>{3, 2}, 0), 0), m.t(), 0, 0);
}

TEST_CASE("split errors", "[join]") {
  Tensor m = zeros({4, 5});
  require_error([&] { split(m, std::vector<int64_t>{2, 1}, 0); }, "split");
  require_error([&] { split(m, std::vector<int64_t>{2, 3}, 0); }, "split");
  require_error([&] { split(m, std::vector<int64_t>{5, -1}, 1); }, "split");
  require_error([&] { split(m, std::vector<int64_t>{}, 0); }, "split");
  require_error([&] { split(m, 0, 0); }, "split");
  require_error([&] { split(m, -2, 0); }, "split");
  require_error([&] { split(m, 2, 2); }, "split");
  require_error([&] { split(m, std::vector<int64_t>{4}, -3); }, "split");
  require_error([] { split(scalar_tensor(1), 1); }, "split");
}

// ---------------------------------------------------------------- chunk

TEST_CASE("chunk cuts near-equal views", "[join]") {
  Tensor x = arange(5, DType::f32);
  std::vector<Tensor> c = chunk(x, 3);
  REQUIRE(sizes_along(c, 0) == std::vector<int64_t>{2, 2, 1});
  REQUIRE(c[2].to_vector<float>() == std::vector<float>{4});
  for (const Tensor& t : c) REQUIRE(t.storage() == x.storage());
  // torch.chunk may return fewer pieces.
  REQUIRE(sizes_along(chunk(arange(6), 4), 0) == std::vector<int64_t>{2, 2, 2});
  REQUIRE(sizes_along(chunk(arange(2), 5), 0) == std::vector<int64_t>{1, 1});
  REQUIRE(sizes_along(chunk(arange(6), 3), 0) == std::vector<int64_t>{2, 2, 2});
  REQUIRE(sizes_along(chunk(arange(7), 1), 0) == std::vector<int64_t>{7});
  Tensor m = random_tensor({3, 7}, DType::f64, 57);
  std::vector<Tensor> d = chunk(m.t(), 2, -2);  // rows of m.t(): 4 + 3
  REQUIRE(sizes_along(d, 0) == std::vector<int64_t>{4, 3});
  require_maps(d[1], m, [](const Index& i) { return Index{i[1], i[0] + 4}; });
  std::vector<Tensor> e = chunk(m, 3, 1);
  REQUIRE(sizes_along(e, 1) == std::vector<int64_t>{3, 3, 1});
  require_maps(e[1], m, [](const Index& i) { return Index{i[0], i[1] + 3}; });
}

TEST_CASE("chunk errors", "[join]") {
  require_error([] { chunk(arange(4), 0); }, "chunk");
  require_error([] { chunk(arange(4), -1); }, "chunk");
  require_error([] { chunk(arange(4), 2, 1); }, "chunk");
  require_error([] { chunk(scalar_tensor(1), 1); }, "chunk");
}

TEST_CASE("chunk of an empty dim gives `chunks` empty pieces, as torch.chunk", "[join]") {
  // torch.chunk(torch.empty(0), 3) -> three empty tensors.
  std::vector<Tensor> c = chunk(zeros({0, 2}), 3);
  CHECK(c.size() == 3);
  for (const Tensor& t : c) REQUIRE(t.shape() == Shape{0, 2});
}
