// Tests for core/tensor.h: metadata, views (which must share storage and
// read the right elements), copies, item/to_vector and printing. Every view
// is checked element by element against the base through at(), which reads
// memory through strides and knows nothing of the view code.
#include <algorithm>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Requires y[i] == x[f(i)] for every index i of y.
void require_maps(const Tensor& y, const Tensor& x, const std::function<Index(const Index&)>& f) {
  int64_t bad = 0;
  for_each_index(y.shape(), [&](const Index& i) {
    double a = at(y, i), b = at(x, f(i));
    if (a != b && bad++ == 0) {
      INFO("first mismatch at " << shape_str(i) << ": view " << a << " vs base " << b << " at "
                                << shape_str(f(i)));
      CHECK(a == b);
    }
  });
  REQUIRE(bad == 0);
}

// Requires y[i] == f(i) for every index i of y.
void require_values(const Tensor& y, const std::function<double(const Index&)>& f) {
  int64_t bad = 0;
  for_each_index(y.shape(), [&](const Index& i) {
    double a = at(y, i), b = f(i);
    if (a != b && bad++ == 0) {
      INFO("first mismatch at " << shape_str(i) << ": got " << a << ", expected " << b);
      CHECK(a == b);
    }
  });
  REQUIRE(bad == 0);
}

// 0, 1, 2, ... as f32 in the given shape.
Tensor iota(const Shape& shape, DType dtype = DType::f32) {
  return arange(numel(shape), dtype).reshape(shape);
}

// The elements of t in row-major order, read through strides.
std::vector<double> row_major(const Tensor& t) {
  std::vector<double> v;
  for_each_index(t.shape(), [&](const Index& i) { v.push_back(at(t, i)); });
  return v;
}

// Python's range(*slice(start, end, step).indices(n)) for step >= 1.
std::vector<int64_t> py_slice(int64_t n, int64_t start, int64_t end, int64_t step) {
  auto norm = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  std::vector<int64_t> out;
  for (int64_t i = norm(start); i < norm(end); i += step) out.push_back(i);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- metadata

TEST_CASE("metadata of a contiguous tensor", "[tensor]") {
  Tensor x = zeros({2, 3, 4});
  REQUIRE(x.defined());
  REQUIRE(x.shape() == Shape{2, 3, 4});
  REQUIRE(x.strides() == Strides{12, 4, 1});
  REQUIRE(x.offset() == 0);
  REQUIRE(x.dim() == 3);
  REQUIRE(x.numel() == 24);
  REQUIRE(x.size(0) == 2);
  REQUIRE(x.size(1) == 3);
  REQUIRE(x.size(2) == 4);
  REQUIRE(x.size(-1) == 4);
  REQUIRE(x.size(-3) == 2);
  REQUIRE(x.dtype() == DType::f32);
  REQUIRE(x.device() == Device::cpu());
  REQUIRE(x.is_contiguous());
  REQUIRE(x.storage() != nullptr);
  REQUIRE(x.storage()->nbytes() >= 24 * sizeof(float));
  require_error([&] { (void)x.size(3); }, "size");
  require_error([&] { (void)x.size(-4); }, "size");
}

TEST_CASE("Tensor::empty allocates dtype_size bytes per element for every dtype", "[tensor]") {
  struct Case { DType dtype; size_t size; const char* name; };
  for (Case c : {Case{DType::f32, 4, "f32"}, Case{DType::f64, 8, "f64"}, Case{DType::i32, 4, "i32"},
                 Case{DType::i64, 8, "i64"}, Case{DType::b8, 1, "bool"}}) {
    INFO(c.name);
    REQUIRE(dtype_size(c.dtype) == c.size);
    REQUIRE(std::string(dtype_name(c.dtype)) == c.name);
    Tensor t = Tensor::empty({3, 5}, c.dtype);
    REQUIRE(t.dtype() == c.dtype);
    REQUIRE(t.shape() == Shape{3, 5});
    REQUIRE(t.strides() == Strides{5, 1});
    REQUIRE(t.is_contiguous());
    REQUIRE(t.storage()->nbytes() >= 15 * c.size);
  }
  require_error([] { Tensor::empty({2, -1}); }, "empty");
}

// sample_batch(tokens, 2^61, ...) drew rand({2^61}) in f64: 2^64 bytes wrapped
// to 0 in Tensor::empty, and the kernels wrote past the empty buffer (found
// running `moegrad train --batch 2305843009213693952` under ASan/UBSan).
TEST_CASE("Tensor::empty refuses shapes whose element or byte count overflows", "[tensor]") {
  const int64_t big = std::numeric_limits<int64_t>::max();
  require_error([&] { Tensor::empty({int64_t(1) << 62, 4}); }, "has more than 2^63 - 1 elements");
  require_error([&] { Tensor::empty({big, big}, DType::b8); }, "[9223372036854775807,9223372036854775807]");
  require_error([] { Tensor::empty({int64_t(1) << 61}, DType::f64); }, "f64 needs more than 2^63 bytes");
  require_error([] { Tensor::empty({int64_t(1) << 62}, DType::i32); }, "empty: shape [4611686018427387904]");
  // A zero size makes any shape empty, whatever the other sizes.
  REQUIRE(Tensor::empty({big, big, 0}).numel() == 0);
  REQUIRE(Tensor::empty({int64_t(1) << 62, 4, 0}).shape() == Shape{int64_t(1) << 62, 4, 0});
  REQUIRE(numel(Shape{0, big, big}) == 0);
}

TEST_CASE("0-d tensors", "[tensor]") {
  Tensor s = scalar_tensor(2.5);
  REQUIRE(s.dim() == 0);
  REQUIRE(s.shape().empty());
  REQUIRE(s.strides().empty());
  REQUIRE(s.numel() == 1);
  REQUIRE(s.is_contiguous());
  REQUIRE(s.item<float>() == 2.5f);
  REQUIRE(s.item<double>() == 2.5);
  REQUIRE(at(s, {}) == 2.5);
  REQUIRE(s.to_vector<float>() == std::vector<float>{2.5f});
  require_error([&] { (void)s.size(0); }, "size");
  // Shape changes of a 0-d tensor.
  Tensor v = s.view({1});
  REQUIRE(v.shape() == Shape{1});
  REQUIRE(v.storage() == s.storage());
  REQUIRE(v.item<float>() == 2.5f);
  REQUIRE(v.view({}).dim() == 0);
  REQUIRE(s.view({1, 1, 1}).shape() == Shape{1, 1, 1});
  REQUIRE(s.view({-1}).shape() == Shape{1});
  REQUIRE(s.reshape({1, 1}).shape() == Shape{1, 1});
  REQUIRE(s.flatten().shape() == Shape{1});
  REQUIRE(s.unsqueeze(0).shape() == Shape{1});
  REQUIRE(s.unsqueeze(-1).shape() == Shape{1});
  REQUIRE(s.squeeze().dim() == 0);
  REQUIRE(s.t().dim() == 0);
  Tensor e = s.expand({2, 3});
  REQUIRE(e.shape() == Shape{2, 3});
  REQUIRE(e.strides() == Strides{0, 0});
  REQUIRE(e.to_vector<float>() == std::vector<float>(6, 2.5f));
  // Views that need a dim fail cleanly.
  require_error([&] { s.select(0, 0); }, "select");
  require_error([&] { s.narrow(0, 0, 1); }, "narrow");
  require_error([&] { s.slice(0, 0, 1); }, "slice");
  require_error([&] { s.view({2}); }, "view");
}

// PyTorch treats a 0-d tensor as having one wrappable dim (0 or -1) for
// squeeze and transpose; other dims are out of range.
TEST_CASE("squeeze(dim) on a 0-d tensor accepts only 0 and -1", "[tensor]") {
  Tensor s = scalar_tensor(1.5);
  REQUIRE(s.squeeze(0).dim() == 0);
  REQUIRE(s.squeeze(-1).dim() == 0);
  require_error([&] { s.squeeze(1); }, "squeeze");
  require_error([&] { s.squeeze(-2); }, "squeeze");
}

TEST_CASE("transpose on a 0-d tensor accepts only 0 and -1", "[tensor]") {
  Tensor s = scalar_tensor(1.5);
  REQUIRE(s.transpose(0, -1).dim() == 0);
  require_error([&] { s.transpose(0, 1); }, "transpose");
  require_error([&] { s.transpose(2, 0); }, "transpose");
}

TEST_CASE("unsqueeze on a 0-d tensor accepts only 0 and -1", "[tensor]") {
  Tensor s = scalar_tensor(1.5);
  require_error([&] { s.unsqueeze(1); }, "unsqueeze");
  require_error([&] { s.unsqueeze(-2); }, "unsqueeze");
}

TEST_CASE("tensors with size-0 dims", "[tensor]") {
  Tensor x = zeros({2, 0, 3});
  REQUIRE(x.numel() == 0);
  REQUIRE(x.dim() == 3);
  REQUIRE(x.size(1) == 0);
  CHECK(x.is_contiguous());  // a freshly allocated tensor is contiguous
  REQUIRE(x.to_vector<float>().empty());
  REQUIRE(x.view({0, 6}).shape() == Shape{0, 6});
  REQUIRE(x.view({3, 0}).shape() == Shape{3, 0});
  REQUIRE(x.view({-1}).shape() == Shape{0});
  REQUIRE(x.reshape({5, 0, 7}).shape() == Shape{5, 0, 7});
  REQUIRE(x.transpose(0, 2).shape() == Shape{3, 0, 2});
  REQUIRE(x.permute({1, 2, 0}).shape() == Shape{0, 3, 2});
  REQUIRE(x.select(0, 1).shape() == Shape{0, 3});
  REQUIRE(x.unsqueeze(1).shape() == Shape{2, 1, 0, 3});
  REQUIRE(x.flatten().shape() == Shape{0});
  REQUIRE(x.clone().shape() == Shape{2, 0, 3});
  REQUIRE(x.contiguous().numel() == 0);
  REQUIRE(x.to(DType::i64).dtype() == DType::i64);
  // -1 next to a 0 is ambiguous, as in PyTorch.
  require_error([&] { x.view({-1, 0}); }, "view");
  require_error([&] { x.reshape({0, -1}); }, "reshape");
  // PyTorch treats any tensor without elements as contiguous.
  Tensor y = zeros({4, 6}).narrow(1, 0, 0);
  REQUIRE(y.shape() == Shape{4, 0});
  CHECK(y.is_contiguous());
}

TEST_CASE("use of an undefined tensor throws", "[tensor]") {
  Tensor u;
  REQUIRE_FALSE(u.defined());
  require_error([&] { (void)u.shape(); }, "undefined");
  require_error([&] { (void)u.numel(); }, "undefined");
  require_error([&] { (void)u.dtype(); }, "undefined");
  require_error([&] { u.reshape({1}); }, "undefined");
  require_error([&] { u.transpose(0, 1); }, "undefined");
  require_error([&] { u.clone(); }, "undefined");
  require_error([&] { u.contiguous(); }, "undefined");
  require_error([&] { (void)u.item<float>(); }, "undefined");
  require_error([&] { fill_(u, 1.0); }, "undefined");
  require_error([&] { copy_(zeros({2}), u); }, "undefined");
  require_error([&] { copy_(u, zeros({2})); }, "undefined");
  Tensor a = zeros({2});
  Tensor b = a;
  REQUIRE(b.same(a));
  REQUIRE_FALSE(u.same(a));
}

TEST_CASE("data<T>() checks the type and points at the view's first element", "[tensor]") {
  Tensor x = iota({4, 6});
  REQUIRE(x.data<float>() == static_cast<float*>(x.raw_data()));
  require_error([&] { x.data<double>(); }, "data");
  require_error([&] { x.data<int64_t>(); }, "data");
  Tensor row = x.narrow(0, 2, 1);
  REQUIRE(row.offset() == 12);
  REQUIRE(row.data<float>() == x.data<float>() + 12);
  REQUIRE(*row.data<float>() == 12.0f);
  Tensor col = x.select(1, 5);
  REQUIRE(col.data<float>() == x.data<float>() + 5);
  Tensor i = iota({3}, DType::i32);
  REQUIRE(i.data<int32_t>()[2] == 2);
  require_error([&] { i.data<float>(); }, "data");
}

// ---------------------------------------------------------------- item / to_vector

TEST_CASE("item converts the single element and rejects other counts", "[tensor]") {
  Tensor x = from_vector<float>({2.75f}, {1, 1, 1});
  REQUIRE(x.item<float>() == 2.75f);
  REQUIRE(x.item<double>() == 2.75);
  REQUIRE(x.item<int64_t>() == 2);
  REQUIRE(x.item<int32_t>() == 2);
  REQUIRE(x.item<bool>() == true);
  REQUIRE(from_vector<float>({-2.75f}).item<int64_t>() == -2);  // truncation toward zero
  REQUIRE(from_vector<int64_t>({-7}).item<double>() == -7.0);
  REQUIRE(from_vector<bool>({false}).item<float>() == 0.0f);
  REQUIRE(scalar_tensor(0.0).item<bool>() == false);
  // One element of a non-contiguous view.
  Tensor m = iota({3, 4}).t();
  REQUIRE(m.select(0, 2).select(0, 1).item<float>() == 6.0f);
  REQUIRE(m.narrow(0, 3, 1).narrow(1, 2, 1).item<float>() == 11.0f);
  require_error([] { (void)zeros({2}).item<float>(); }, "item");
  require_error([] { (void)zeros({0}).item<float>(); }, "item");
  require_error([] { (void)zeros({1, 2}).item<double>(); }, "item");
}

TEST_CASE("to_vector reads in row-major order of the view and converts", "[tensor]") {
  Tensor x = iota({2, 3});
  REQUIRE(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  REQUIRE(x.t().to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  REQUIRE(x.slice(1, 0, 3, 2).to_vector<double>() == std::vector<double>{0, 2, 3, 5});
  REQUIRE(x.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  REQUIRE(x.to_vector<bool>() == std::vector<bool>{false, true, true, true, true, true});
  REQUIRE(from_vector<float>({1.7f, -1.7f, 0.2f}).to_vector<int32_t>() == std::vector<int32_t>{1, -1, 0});
  REQUIRE(from_vector<bool>({true, false}).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  Tensor e = from_vector<int32_t>({4, 5}, {2, 1}).expand({2, 3});
  REQUIRE(e.to_vector<int32_t>() == std::vector<int32_t>{4, 4, 4, 5, 5, 5});
  REQUIRE(zeros({0, 4}).to_vector<double>().empty());
  // Random, non-contiguous, against the strided reference.
  Tensor r = noncontiguous(random_tensor({3, 4, 5}, DType::f64, 7));
  std::vector<double> v = r.to_vector<double>();
  size_t k = 0;
  for_each_index(r.shape(), [&](const Index& i) { REQUIRE(v[k++] == at(r, i)); });
  REQUIRE(k == v.size());
}

// ---------------------------------------------------------------- view / reshape

TEST_CASE("view of a contiguous tensor shares storage with row-major strides", "[tensor]") {
  Tensor x = iota({24});
  Tensor v = x.view({2, 3, 4});
  REQUIRE(v.shape() == Shape{2, 3, 4});
  REQUIRE(v.strides() == Strides{12, 4, 1});
  REQUIRE(v.storage() == x.storage());
  REQUIRE(v.is_contiguous());
  require_values(v, [](const Index& i) { return double(i[0] * 12 + i[1] * 4 + i[2]); });
  REQUIRE(x.view({-1, 4}).shape() == Shape{6, 4});
  REQUIRE(x.view({4, -1, 2}).shape() == Shape{4, 3, 2});
  REQUIRE(v.view({-1}).shape() == Shape{24});
  REQUIRE(x.view({1, 24, 1}).strides()[1] == 1);
  // Writing through the view changes the base.
  fill_(v.select(0, 1).select(0, 2), -1.0);
  std::vector<float> got = x.to_vector<float>();
  for (int64_t i = 0; i < 24; ++i) REQUIRE(got[i] == (i >= 20 ? -1.0f : float(i)));
  copy_(x.view({6, 4}).select(1, 0), from_vector<float>({9, 9, 9, 9, 9, 9}));
  got = x.to_vector<float>();
  for (int64_t i = 0; i < 24; i += 4) REQUIRE(got[i] == 9.0f);
}

TEST_CASE("view errors: element count, several -1, negative sizes", "[tensor]") {
  Tensor x = zeros({2, 3, 4});
  require_error([&] { x.view({5, 5}); }, "view");
  require_error([&] { x.view({25}); }, "view");
  require_error([&] { x.view({-1, -1}); }, "view");
  require_error([&] { x.view({-1, 5}); }, "view");
  require_error([&] { x.view({-2, -12}); }, "view");
  require_error([&] { x.reshape({7}); }, "reshape");
  require_error([&] { x.reshape({-1, 2, -1}); }, "reshape");
  require_error([&] { x.reshape({-1, 7}); }, "reshape");
}

TEST_CASE("view on non-contiguous layouts follows PyTorch's stride rules", "[tensor]") {
  Tensor base = iota({2, 3});
  Tensor t = base.t();  // [3,2] strides [1,3]
  require_error([&] { t.view({6}); }, "view");
  require_error([&] { t.view({2, 3}); }, "view");
  // Adding size-1 dims only is always possible.
  Tensor u = t.view({3, 2, 1});
  REQUIRE(u.storage() == base.storage());
  REQUIRE(u.strides()[0] == 1);
  REQUIRE(u.strides()[1] == 3);
  require_maps(u, t, [](const Index& i) { return Index{i[0], i[1]}; });
  Tensor w = t.view({3, 1, 2});
  require_maps(w, t, [](const Index& i) { return Index{i[0], i[2]}; });

  // A narrowed row-major tensor can split its outer dim but not merge rows.
  Tensor m = iota({4, 6});
  Tensor n = m.narrow(1, 0, 3);  // [4,3] strides [6,1]
  REQUIRE_FALSE(n.is_contiguous());
  Tensor s = n.view({2, 2, 3});
  REQUIRE(s.storage() == m.storage());
  REQUIRE(s.strides() == Strides{12, 6, 1});
  require_maps(s, n, [](const Index& i) { return Index{i[0] * 2 + i[1], i[2]}; });
  REQUIRE(n.view({4, 3, 1}).shape() == Shape{4, 3, 1});
  require_error([&] { n.view({12}); }, "view");
  require_error([&] { n.view({3, 4}); }, "view");

  // Permuted 3-D: the two inner dims that stay adjacent can merge.
  Tensor p = iota({2, 3, 4}).permute({1, 2, 0});  // [3,4,2] strides [4,1,12]
  Tensor q = p.view({12, 2});
  REQUIRE(q.strides() == Strides{1, 12});
  require_maps(q, p, [](const Index& i) { return Index{i[0] / 4, i[0] % 4, i[1]}; });
  require_error([&] { p.view({24}); }, "view");
  require_error([&] { p.view({3, 8}); }, "view");
}

TEST_CASE("reshape views when it can and copies when it must", "[tensor]") {
  Tensor x = iota({2, 3});
  Tensor r = x.reshape({3, 2});
  REQUIRE(r.storage() == x.storage());
  REQUIRE(r.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  REQUIRE(x.reshape({-1}).shape() == Shape{6});

  Tensor t = x.t();
  Tensor c = t.reshape({6});
  REQUIRE(c.storage() != x.storage());
  REQUIRE(c.is_contiguous());
  REQUIRE(c.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  // The copy is independent of the base.
  fill_(c, 100.0);
  REQUIRE(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  // A viewable reshape writes through.
  fill_(r.select(0, 0), -5.0);
  REQUIRE(x.to_vector<float>() == std::vector<float>{-5, -5, 2, 3, 4, 5});

  // Random non-contiguous 3-D input: reshape keeps row-major element order.
  Tensor a = noncontiguous(random_tensor({3, 4, 5}, DType::f64, 3));
  REQUIRE_FALSE(a.is_contiguous());
  Tensor b = a.reshape({5, -1});
  REQUIRE(b.shape() == Shape{5, 12});
  require_maps(b, a, [](const Index& i) {
    int64_t k = i[0] * 12 + i[1];
    return Index{k / 20, (k / 5) % 4, k % 5};
  });
  // Expanded input.
  Tensor e = from_vector<int64_t>({1, 2, 3}, {3, 1}).expand({3, 4});
  REQUIRE(e.reshape({12}).to_vector<int64_t>() ==
          std::vector<int64_t>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
}

TEST_CASE("flatten", "[tensor]") {
  Tensor x = iota({2, 3, 4});
  REQUIRE(x.flatten().shape() == Shape{24});
  REQUIRE(x.flatten().storage() == x.storage());
  REQUIRE(x.flatten(1).shape() == Shape{2, 12});
  REQUIRE(x.flatten(0, 1).shape() == Shape{6, 4});
  REQUIRE(x.flatten(-2, -1).shape() == Shape{2, 12});
  REQUIRE(x.flatten(1, 1).shape() == Shape{2, 3, 4});
  REQUIRE(iota({5}).flatten().shape() == Shape{5});
  REQUIRE(scalar_tensor(1).flatten().shape() == Shape{1});
  Tensor nc = x.transpose(0, 2);  // [4,3,2]
  Tensor f = nc.flatten(1);
  REQUIRE(f.shape() == Shape{4, 6});
  require_maps(f, nc, [](const Index& i) { return Index{i[0], i[1] / 2, i[1] % 2}; });
  require_error([&] { x.flatten(2, 1); }, "flatten");
  require_error([&] { x.flatten(0, 3); }, "flatten");
  require_error([&] { x.flatten(-4); }, "flatten");
}

TEST_CASE("view and reshape on random layouts keep row-major order", "[tensor]") {
  std::mt19937 rng(12345);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int64_t viewed = 0, refused = 0;
  for (int iter = 0; iter < 300; ++iter) {
    Shape bs{pick(1, 4), pick(1, 4), pick(1, 4)};
    Tensor x = random_tensor(bs, DType::f64, uint64_t(iter));
    std::vector<int64_t> perm{0, 1, 2};
    std::shuffle(perm.begin(), perm.end(), rng);
    x = x.permute(perm);
    int64_t mode = pick(0, 2), d = pick(0, 2);
    if (mode == 1 && x.size(d) > 1) x = x.narrow(d, 1, x.size(d) - 1);
    if (mode == 2) x = x.slice(d, 0, x.size(d), 2);
    // A random target shape with the same element count: split the count
    // into prime factors, group them into dims and sprinkle size-1 dims.
    int64_t n = x.numel();
    std::vector<int64_t> primes;
    for (int64_t m = n, f = 2; m > 1;) {
      if (m % f == 0) {
        primes.push_back(f);
        m /= f;
      } else {
        ++f;
      }
    }
    std::shuffle(primes.begin(), primes.end(), rng);
    Shape to;
    for (int64_t f : primes) {
      if (to.empty() || pick(0, 1) == 0) to.push_back(f);
      else to.back() *= f;
    }
    int64_t ones = pick(0, 2);
    for (int64_t k = 0; k < ones; ++k) to.insert(to.begin() + pick(0, int64_t(to.size())), 1);
    INFO("iter " << iter << ": " << shape_str(x.shape()) << " strides " << shape_str(x.strides()) << " -> "
                 << shape_str(to));
    std::vector<double> want = row_major(x);
    bool ok = true;
    Tensor y;
    try {
      y = x.view(to);
    } catch (const Error& e) {
      ok = false;
      REQUIRE(std::string(e.what()).find("view") != std::string::npos);
    }
    if (ok) {
      ++viewed;
      REQUIRE(y.shape() == to);
      REQUIRE(y.storage() == x.storage());
      REQUIRE(row_major(y) == want);
    } else {
      ++refused;
      REQUIRE_FALSE(x.is_contiguous());  // a contiguous tensor can always be viewed
    }
    Tensor r = x.reshape(to);
    REQUIRE(r.shape() == to);
    REQUIRE(row_major(r) == want);
    if (x.is_contiguous()) REQUIRE(r.storage() == x.storage());
  }
  // The random layouts exercised both outcomes.
  REQUIRE(viewed > 50);
  REQUIRE(refused > 20);
}

// ---------------------------------------------------------------- transpose / permute

TEST_CASE("transpose and t", "[tensor]") {
  Tensor x = random_tensor({2, 3, 4}, DType::f32, 11);
  Tensor y = x.transpose(0, 2);
  REQUIRE(y.shape() == Shape{4, 3, 2});
  REQUIRE(y.strides() == Strides{1, 4, 12});
  REQUIRE(y.storage() == x.storage());
  REQUIRE_FALSE(y.is_contiguous());
  require_maps(y, x, [](const Index& i) { return Index{i[2], i[1], i[0]}; });
  Tensor z = x.transpose(-1, 0);
  REQUIRE(z.shape() == Shape{4, 3, 2});
  require_maps(z, x, [](const Index& i) { return Index{i[2], i[1], i[0]}; });
  Tensor w = x.transpose(1, -1);
  require_maps(w, x, [](const Index& i) { return Index{i[0], i[2], i[1]}; });
  REQUIRE(x.transpose(1, 1).strides() == x.strides());
  REQUIRE(y.transpose(0, 2).is_contiguous());
  require_error([&] { x.transpose(0, 3); }, "transpose");
  require_error([&] { x.transpose(-4, 0); }, "transpose");

  Tensor m = iota({2, 3});
  Tensor mt = m.t();
  REQUIRE(mt.shape() == Shape{3, 2});
  REQUIRE(mt.storage() == m.storage());
  require_maps(mt, m, [](const Index& i) { return Index{i[1], i[0]}; });
  REQUIRE(iota({5}).t().shape() == Shape{5});
  require_error([&] { x.t(); }, "t");
}

TEST_CASE("permute matches a reference loop for every order", "[tensor]") {
  Tensor x = random_tensor({2, 3, 4}, DType::f64, 5);
  std::vector<int64_t> perm{0, 1, 2};
  do {
    INFO("perm " << shape_str(perm));
    Tensor y = x.permute(perm);
    REQUIRE(y.storage() == x.storage());
    for (int k = 0; k < 3; ++k) {
      REQUIRE(y.size(k) == x.size(perm[k]));
      REQUIRE(y.strides()[k] == x.strides()[perm[k]]);
    }
    require_maps(y, x, [&](const Index& i) {
      Index j(3);
      for (int k = 0; k < 3; ++k) j[perm[k]] = i[k];
      return j;
    });
    // Permuting a non-contiguous input.
    Tensor nx = noncontiguous(x);
    require_maps(nx.permute(perm), x, [&](const Index& i) {
      Index j(3);
      for (int k = 0; k < 3; ++k) j[perm[k]] = i[k];
      return j;
    });
  } while (std::next_permutation(perm.begin(), perm.end()));
  Tensor n = x.permute({-1, 0, -2});
  REQUIRE(n.shape() == Shape{4, 2, 3});
  require_maps(n, x, [](const Index& i) { return Index{i[1], i[2], i[0]}; });
  REQUIRE(scalar_tensor(1).permute({}).dim() == 0);
}

TEST_CASE("permute errors", "[tensor]") {
  Tensor x = zeros({2, 3, 4});
  require_error([&] { x.permute({0, 0, 1}); }, "permute");
  require_error([&] { x.permute({0, -3, 1}); }, "permute");  // -3 is 0 again
  require_error([&] { x.permute({0, 1}); }, "permute");
  require_error([&] { x.permute({0, 1, 2, 3}); }, "permute");
  require_error([&] { x.permute({0, 1, 3}); }, "permute");
}

// ---------------------------------------------------------------- narrow / slice / select

TEST_CASE("narrow", "[tensor]") {
  Tensor x = iota({4, 6});
  Tensor a = x.narrow(0, 1, 2);
  REQUIRE(a.shape() == Shape{2, 6});
  REQUIRE(a.offset() == 6);
  REQUIRE(a.is_contiguous());
  REQUIRE(a.storage() == x.storage());
  require_maps(a, x, [](const Index& i) { return Index{i[0] + 1, i[1]}; });
  Tensor b = x.narrow(1, 2, 3);
  REQUIRE(b.shape() == Shape{4, 3});
  REQUIRE_FALSE(b.is_contiguous());
  require_maps(b, x, [](const Index& i) { return Index{i[0], i[1] + 2}; });
  Tensor c = x.narrow(-1, -2, 2);  // the last two columns
  REQUIRE(c.shape() == Shape{4, 2});
  require_maps(c, x, [](const Index& i) { return Index{i[0], i[1] + 4}; });
  REQUIRE(x.narrow(1, 6, 0).shape() == Shape{4, 0});
  REQUIRE(x.narrow(0, 0, 4).shape() == Shape{4, 6});
  // Narrowing a transposed view.
  Tensor t = x.t().narrow(0, 3, 2);  // columns 3,4 as rows
  require_maps(t, x, [](const Index& i) { return Index{i[1], i[0] + 3}; });
  // Writing through narrow changes only the window.
  fill_(b, -1.0);
  require_values(x, [](const Index& i) { return i[1] >= 2 && i[1] < 5 ? -1.0 : double(i[0] * 6 + i[1]); });
  require_error([&] { x.narrow(0, 3, 2); }, "narrow");
  require_error([&] { x.narrow(0, 5, 0); }, "narrow");
  require_error([&] { x.narrow(0, -5, 1); }, "narrow");
  require_error([&] { x.narrow(0, 0, -1); }, "narrow");
  require_error([&] { x.narrow(2, 0, 1); }, "narrow");
}

TEST_CASE("slice follows Python's clamping rules", "[tensor]") {
  const int64_t n = 10;
  Tensor x = iota({n});
  struct Case { int64_t start, end, step; };
  for (Case c : {Case{0, 10, 1}, Case{2, 8, 3}, Case{-3, 10, 1}, Case{-100, 100, 2}, Case{5, 2, 1},
                 Case{3, 3, 1}, Case{0, -1, 1}, Case{9, 100, 4}, Case{-1, 10, 1}, Case{10, 20, 1},
                 Case{0, 10, 20}, Case{1, -1, 3}, Case{-4, -2, 1}, Case{-20, -15, 1}}) {
    INFO("slice(" << c.start << ", " << c.end << ", " << c.step << ")");
    Tensor s = x.slice(0, c.start, c.end, c.step);
    std::vector<int64_t> want = py_slice(n, c.start, c.end, c.step);
    REQUIRE(s.shape() == Shape{int64_t(want.size())});
    REQUIRE(s.storage() == x.storage());
    for (size_t k = 0; k < want.size(); ++k) REQUIRE(at(s, {int64_t(k)}) == double(want[k]));
  }
  require_error([&] { x.slice(0, 0, 5, 0); }, "slice");
  require_error([&] { x.slice(0, 0, 5, -1); }, "slice");
  require_error([&] { x.slice(1, 0, 5); }, "slice");
}

TEST_CASE("slice of a 3-D non-contiguous tensor against a reference", "[tensor]") {
  Tensor x = noncontiguous(random_tensor({5, 6, 7}, DType::f64, 9));
  for (int64_t dim : {0, 1, 2, -1}) {
    for (int64_t step : {1, 2, 3}) {
      INFO("dim " << dim << " step " << step);
      int64_t d = dim < 0 ? dim + 3 : dim;
      std::vector<int64_t> idx = py_slice(x.size(d), 1, -1, step);
      Tensor s = x.slice(dim, 1, -1, step);
      REQUIRE(s.size(d) == int64_t(idx.size()));
      require_maps(s, x, [&](const Index& i) {
        Index j = i;
        j[d] = idx[i[d]];
        return j;
      });
    }
  }
  // Slices of slices.
  Tensor ss = x.slice(1, 1, 6, 2).slice(1, 1, 3);  // columns 3, 5
  REQUIRE(ss.size(1) == 2);
  require_maps(ss, x, [](const Index& i) { return Index{i[0], 3 + 2 * i[1], i[2]}; });
  // Writing through a stepped slice.
  Tensor y = zeros({2, 6}, DType::i32);
  fill_(y.slice(1, 0, 6, 2), 1.0);
  REQUIRE(y.to_vector<int32_t>() == std::vector<int32_t>{1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0});
}

TEST_CASE("select removes a dim", "[tensor]") {
  Tensor x = random_tensor({2, 3, 4}, DType::f32, 13);
  Tensor a = x.select(1, 2);
  REQUIRE(a.shape() == Shape{2, 4});
  REQUIRE(a.storage() == x.storage());
  require_maps(a, x, [](const Index& i) { return Index{i[0], 2, i[1]}; });
  Tensor b = x.select(-1, -1);
  REQUIRE(b.shape() == Shape{2, 3});
  require_maps(b, x, [](const Index& i) { return Index{i[0], i[1], 3}; });
  Tensor c = x.select(0, -2);
  require_maps(c, x, [](const Index& i) { return Index{0, i[0], i[1]}; });
  Tensor d = x.transpose(0, 2).select(0, 1);  // [3,2] = x[:, :, 1].T
  require_maps(d, x, [](const Index& i) { return Index{i[1], i[0], 1}; });
  Tensor v = iota({5});
  Tensor e = v.select(0, 3);
  REQUIRE(e.dim() == 0);
  REQUIRE(e.item<float>() == 3.0f);
  fill_(e, 42.0);
  REQUIRE(v.to_vector<float>() == std::vector<float>{0, 1, 2, 42, 4});
  require_error([&] { x.select(0, 2); }, "select");
  require_error([&] { x.select(0, -3); }, "select");
  require_error([&] { x.select(2, 4); }, "select");
  require_error([&] { x.select(3, 0); }, "select");
  require_error([&] { zeros({0, 2}).select(0, 0); }, "select");
}

// ---------------------------------------------------------------- expand / squeeze / unsqueeze

TEST_CASE("expand", "[tensor]") {
  Tensor a = from_vector<float>({1, 2, 3}, {3, 1});
  Tensor e = a.expand({3, 4});
  REQUIRE(e.shape() == Shape{3, 4});
  REQUIRE(e.strides()[1] == 0);
  REQUIRE(e.storage() == a.storage());
  require_values(e, [](const Index& i) { return double(i[0] + 1); });
  REQUIRE(a.expand({-1, 4}).shape() == Shape{3, 4});
  REQUIRE(a.expand({3, 1}).shape() == Shape{3, 1});
  Tensor l = a.expand({2, 3, 4});
  REQUIRE(l.shape() == Shape{2, 3, 4});
  REQUIRE(l.strides()[0] == 0);
  require_values(l, [](const Index& i) { return double(i[1] + 1); });
  REQUIRE(a.expand({3, 0}).numel() == 0);
  // The base's changes show through the expanded view.
  fill_(a, 9.0);
  REQUIRE(e.to_vector<float>() == std::vector<float>(12, 9.0f));
  // Expanding a non-contiguous row.
  Tensor row = iota({3, 4}).select(1, 1).unsqueeze(0);  // [1,3] = {1, 5, 9}
  require_values(row.expand({2, 3}), [](const Index& i) { return double(1 + 4 * i[1]); });

  require_error([&] { a.expand({4, 4}); }, "expand");
  require_error([&] { a.expand({4}); }, "expand");
  require_error([&] { a.expand({-1, 3, 4}); }, "expand");
  require_error([&] { iota({2, 3}).expand({2, 6}); }, "expand");
}

TEST_CASE("squeeze and unsqueeze", "[tensor]") {
  Tensor x = random_tensor({1, 3, 1, 2}, DType::f64, 17);
  Tensor s = x.squeeze();
  REQUIRE(s.shape() == Shape{3, 2});
  REQUIRE(s.storage() == x.storage());
  require_maps(s, x, [](const Index& i) { return Index{0, i[0], 0, i[1]}; });
  REQUIRE(x.squeeze(0).shape() == Shape{3, 1, 2});
  REQUIRE(x.squeeze(-2).shape() == Shape{1, 3, 2});
  REQUIRE(x.squeeze(1).shape() == Shape{1, 3, 1, 2});  // not size 1: unchanged
  require_maps(x.squeeze(2), x, [](const Index& i) { return Index{i[0], i[1], 0, i[2]}; });
  REQUIRE(zeros({1, 1}).squeeze().dim() == 0);
  Tensor nc = noncontiguous(x).squeeze();
  require_maps(nc, x, [](const Index& i) { return Index{0, i[0], 0, i[1]}; });
  require_error([&] { x.squeeze(4); }, "squeeze");
  require_error([&] { x.squeeze(-5); }, "squeeze");

  Tensor m = iota({2, 3});
  REQUIRE(m.unsqueeze(0).shape() == Shape{1, 2, 3});
  REQUIRE(m.unsqueeze(1).shape() == Shape{2, 1, 3});
  REQUIRE(m.unsqueeze(2).shape() == Shape{2, 3, 1});
  REQUIRE(m.unsqueeze(-1).shape() == Shape{2, 3, 1});
  REQUIRE(m.unsqueeze(-3).shape() == Shape{1, 2, 3});
  REQUIRE(m.unsqueeze(1).storage() == m.storage());
  REQUIRE(m.unsqueeze(1).is_contiguous());
  require_maps(m.unsqueeze(1), m, [](const Index& i) { return Index{i[0], i[2]}; });
  Tensor mt = m.t().unsqueeze(1);  // [3,1,2]
  require_maps(mt, m, [](const Index& i) { return Index{i[2], i[0]}; });
  REQUIRE(mt.squeeze(1).strides() == m.t().strides());
  require_error([&] { m.unsqueeze(3); }, "unsqueeze");
  require_error([&] { m.unsqueeze(-4); }, "unsqueeze");
}

TEST_CASE("a chain of views reads the right elements", "[tensor]") {
  Tensor x = random_tensor({3, 4, 5}, DType::f64, 21);
  // permute -> [5,3,4]; slice 1:5:2 -> [2,3,4]; select(2,3) -> [2,3];
  // unsqueeze(1) -> [2,1,3]; expand -> [2,4,3]: y[a,b,j] = x[j,3,1+2a].
  Tensor y = x.permute({2, 0, 1}).slice(0, 1, 5, 2).select(2, 3).unsqueeze(1).expand({2, 4, 3});
  REQUIRE(y.shape() == Shape{2, 4, 3});
  REQUIRE(y.storage() == x.storage());
  require_maps(y, x, [](const Index& i) { return Index{i[2], 3, 1 + 2 * i[0]}; });
  Tensor c = y.contiguous();
  REQUIRE(c.is_contiguous());
  require_maps(c, x, [](const Index& i) { return Index{i[2], 3, 1 + 2 * i[0]}; });
  Tensor r = y.reshape({8, 3});
  require_maps(r, x, [](const Index& i) { return Index{i[1], 3, 1 + 2 * (i[0] / 4)}; });
}

// ---------------------------------------------------------------- contiguous / clone / to

TEST_CASE("is_contiguous", "[tensor]") {
  Tensor x = zeros({3, 4});
  REQUIRE(x.is_contiguous());
  REQUIRE_FALSE(x.t().is_contiguous());
  REQUIRE(x.narrow(0, 1, 2).is_contiguous());
  REQUIRE_FALSE(x.narrow(1, 1, 2).is_contiguous());
  REQUIRE_FALSE(x.slice(0, 0, 3, 2).is_contiguous());
  REQUIRE(x.select(0, 1).is_contiguous());
  REQUIRE_FALSE(x.select(1, 1).is_contiguous());
  REQUIRE_FALSE(zeros({3, 1}).expand({3, 4}).is_contiguous());
  REQUIRE(zeros({1, 4}).t().is_contiguous());  // size-1 dims do not matter
  REQUIRE(x.narrow(1, 2, 1).is_contiguous() == false);
  REQUIRE(x.narrow(0, 2, 1).narrow(1, 1, 2).is_contiguous());
}

TEST_CASE("contiguous copies only when needed", "[tensor]") {
  Tensor x = random_tensor({3, 4}, DType::f32, 23);
  REQUIRE(x.contiguous().same(x));
  Tensor t = x.t();
  Tensor c = t.contiguous();
  REQUIRE_FALSE(c.same(t));
  REQUIRE(c.is_contiguous());
  REQUIRE(c.storage() != x.storage());
  REQUIRE(c.shape() == Shape{4, 3});
  REQUIRE(c.offset() == 0);
  require_maps(c, x, [](const Index& i) { return Index{i[1], i[0]}; });
  Tensor nr = x.narrow(0, 1, 2);  // contiguous with an offset: no copy
  REQUIRE(nr.contiguous().same(nr));
}

TEST_CASE("clone always copies", "[tensor]") {
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8}) {
    INFO(dtype_name(dt));
    Tensor x = random_tensor({3, 4}, dt, 29);
    Tensor c = x.clone();
    REQUIRE(c.dtype() == dt);
    REQUIRE(c.storage() != x.storage());
    REQUIRE(c.is_contiguous());
    require_maps(c, x, [](const Index& i) { return i; });
    Tensor ct = x.t().clone();
    REQUIRE(ct.is_contiguous());
    require_maps(ct, x, [](const Index& i) { return Index{i[1], i[0]}; });
    Tensor nw = x.narrow(0, 1, 2).clone();
    REQUIRE(nw.offset() == 0);
    require_maps(nw, x, [](const Index& i) { return Index{i[0] + 1, i[1]}; });
  }
  Tensor x = iota({4});
  Tensor c = x.clone();
  fill_(c, 7.0);
  REQUIRE(x.to_vector<float>() == std::vector<float>{0, 1, 2, 3});
  REQUIRE(scalar_tensor(4.5, DType::f64).clone().item<double>() == 4.5);
  REQUIRE(zeros({0, 3}).clone().shape() == Shape{0, 3});
}

TEST_CASE("to(dtype) casts, or returns the tensor itself", "[tensor]") {
  Tensor x = from_vector<float>({-2.5f, 0.0f, 1.75f, 3.0f}, {2, 2});
  REQUIRE(x.to(DType::f32).same(x));
  Tensor d = x.to(DType::f64);
  REQUIRE(d.dtype() == DType::f64);
  REQUIRE(d.storage() != x.storage());
  REQUIRE(d.to_vector<double>() == std::vector<double>{-2.5, 0.0, 1.75, 3.0});
  REQUIRE(x.to(DType::i32).to_vector<int32_t>() == std::vector<int32_t>{-2, 0, 1, 3});
  REQUIRE(x.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{-2, 0, 1, 3});
  REQUIRE(x.to(DType::b8).to_vector<bool>() == std::vector<bool>{true, false, true, true});
  Tensor tt = x.t().to(DType::i64);
  REQUIRE(tt.is_contiguous());
  REQUIRE(tt.to_vector<int64_t>() == std::vector<int64_t>{-2, 1, 0, 3});
  REQUIRE(x.to(Device::cpu()).same(x));
}

// ---------------------------------------------------------------- printing

TEST_CASE("str of a 0-d tensor", "[tensor]") {
  REQUIRE(scalar_tensor(3.5).str() == "tensor(3.5000)");
  REQUIRE(scalar_tensor(3.0).str() == "tensor(3.)");
  REQUIRE(scalar_tensor(7, DType::i64).str() == "tensor(7)");
  REQUIRE(scalar_tensor(-1.5, DType::f64).str() == "tensor(-1.5000, dtype=f64)");
}

TEST_CASE("str of integer-valued and fractional float tensors", "[tensor]") {
  REQUIRE(from_vector<float>({1, 2, 3}).str() == "tensor([1., 2., 3.])");
  REQUIRE(from_vector<float>({-1, 2, 10}).str() == "tensor([-1.,  2., 10.])");
  REQUIRE(from_vector<float>({0, 0}).str() == "tensor([0., 0.])");
  REQUIRE(from_vector<float>({1.23456f, -0.5f}).str() == "tensor([ 1.2346, -0.5000])");
  REQUIRE(from_vector<float>({1, 2, 3, 4}, {2, 2}).str() == "tensor([[1., 2.],\n        [3., 4.]])");
  REQUIRE(from_vector<float>({1.5f, -2.25f, 3.125f, 4.0f}, {2, 2}).str() ==
          "tensor([[ 1.5000, -2.2500],\n        [ 3.1250,  4.0000]])");
  REQUIRE(from_vector<double>({1.5, 2}).str() == "tensor([1.5000, 2.0000], dtype=f64)");
  REQUIRE(from_vector<double>({1, 2}).str() == "tensor([1., 2.], dtype=f64)");
}

TEST_CASE("str of a 3-D tensor separates blocks with a blank line", "[tensor]") {
  REQUIRE(iota({2, 2, 2}).str() ==
          "tensor([[[0., 1.],\n"
          "         [2., 3.]],\n"
          "\n"
          "        [[4., 5.],\n"
          "         [6., 7.]]])");
}

TEST_CASE("str prints a non-contiguous view in logical order", "[tensor]") {
  REQUIRE(iota({2, 2}).t().str() == "tensor([[0., 2.],\n        [1., 3.]])");
  std::ostringstream os;
  os << iota({2, 2}).t();
  REQUIRE(os.str() == iota({2, 2}).t().str());
}

TEST_CASE("str uses scientific notation when the range is large", "[tensor]") {
  // PyTorch: tensor([1.0000e-05, 1.0000e+00])
  REQUIRE(from_vector<float>({1e-5f, 1.0f}).str() == "tensor([1.0000e-05, 1.0000e+00])");
  // PyTorch switches integer-valued floats to scientific too when max/min > 1000:
  // torch.tensor([1., 10000.]) -> tensor([1.0000e+00, 1.0000e+04])
  CHECK(from_vector<float>({1.0f, 10000.0f}).str() == "tensor([1.0000e+00, 1.0000e+04])");
  // ... and below that ratio keeps the "1." form.
  REQUIRE(from_vector<float>({1.0f, 1000.0f}).str() == "tensor([   1., 1000.])");
}

TEST_CASE("str of non-finite values", "[tensor]") {
  // PyTorch sizes the columns from the finite values only:
  // torch.tensor([1., float('nan')]) -> tensor([1., nan])
  CHECK(from_vector<float>({1.0f, NAN}).str() == "tensor([1., nan])");
  CHECK(from_vector<float>({1.0f, INFINITY}).str() == "tensor([1., inf])");
  REQUIRE(from_vector<float>({1.5f, NAN}).str() == "tensor([1.5000,    nan])");
  REQUIRE(from_vector<float>({-1.0f, -INFINITY}).str() == "tensor([-1., -inf])");
}

TEST_CASE("str of integer and bool tensors", "[tensor]") {
  REQUIRE(from_vector<int64_t>({1, -2, 30}).str() == "tensor([ 1, -2, 30])");
  REQUIRE(from_vector<int32_t>({1, 2, 3}).str() == "tensor([1, 2, 3], dtype=i32)");
  REQUIRE(from_vector<int32_t>({5, -6}, {2, 1}).str() == "tensor([[ 5],\n        [-6]], dtype=i32)");
  // PyTorch pads bools to one width: tensor([ True, False]).
  REQUIRE(from_vector<bool>({true, false}).str() == "tensor([ True, False])");
  REQUIRE(from_vector<bool>({true, true}).str() == "tensor([True, True])");
  REQUIRE(scalar_tensor(1, DType::b8).str() == "tensor(True)");
  REQUIRE(zeros({0}).str() == "tensor([])");
}

TEST_CASE("str summarizes tensors over 1000 elements", "[tensor]") {
  Tensor small = arange(1000);
  REQUIRE(small.str().find("...") == std::string::npos);
  // torch.arange(2000): tensor([   0,    1,    2,  ..., 1997, 1998, 1999])
  Tensor v = arange(2000);
  CHECK(v.str() == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])");
  REQUIRE(v.str().find("...") != std::string::npos);
  REQUIRE(v.str().find("1998") != std::string::npos);
  REQUIRE(v.str().find(" 3,") == std::string::npos);
  // torch.arange(1200).view(40, 30)
  Tensor m = arange(1200).view({40, 30});
  CHECK(m.str() ==
        "tensor([[   0,    1,    2,  ...,   27,   28,   29],\n"
        "        [  30,   31,   32,  ...,   57,   58,   59],\n"
        "        [  60,   61,   62,  ...,   87,   88,   89],\n"
        "        ...,\n"
        "        [1110, 1111, 1112,  ..., 1137, 1138, 1139],\n"
        "        [1140, 1141, 1142,  ..., 1167, 1168, 1169],\n"
        "        [1170, 1171, 1172,  ..., 1197, 1198, 1199]])");
  std::string s = m.str();
  REQUIRE(std::count(s.begin(), s.end(), '\n') == 6);  // 6 rows + the "..." row
  REQUIRE(s.find("1199") != std::string::npos);
  REQUIRE(s.find("  90,") == std::string::npos);
}
