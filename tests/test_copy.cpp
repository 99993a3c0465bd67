// Tests for core/copy.h: fill_, copy_ (broadcasting, strided destinations,
// dtype conversion), cast between every pair of dtypes, and the version
// counter that in-place writes bump.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};

// The value a source value v takes once converted to dtype `to`, following
// C++/PyTorch conversion: floats keep it, integers truncate toward zero,
// bools are v != 0.
double converted(double v, DType to) {
  if (is_floating(to)) return v;
  if (is_integral(to)) return std::trunc(v);
  return v != 0 ? 1.0 : 0.0;
}

// A [2,4] tensor of dtype dt built without any cast, with values exactly
// representable in every dtype of its kind.
Tensor source(DType dt) {
  const std::vector<double> fv{-2.75, -1.0, 0.0, 0.5, 1.0, 3.25, 100.0, -0.25};
  const std::vector<int64_t> iv{-3, -1, 0, 1, 2, 100, 7, 0};
  switch (dt) {
    case DType::f32: return from_vector(std::vector<float>(fv.begin(), fv.end()), {2, 4});
    case DType::f64: return from_vector(fv, {2, 4});
    case DType::i32: return from_vector(std::vector<int32_t>(iv.begin(), iv.end()), {2, 4});
    case DType::i64: return from_vector(iv, {2, 4});
    case DType::b8: return from_vector(std::vector<bool>{true, false, true, true, false, false, true, false}, {2, 4});
  }
  return Tensor();
}

// The index of `src` that broadcasts to index i of the destination.
Index broadcast_index(const Index& i, const Shape& src) {
  Index j(src.size());
  size_t lead = i.size() - src.size();
  for (size_t d = 0; d < src.size(); ++d) j[d] = src[d] == 1 ? 0 : i[lead + d];
  return j;
}

}  // namespace

// ---------------------------------------------------------------- fill_

TEST_CASE("fill_ sets every element for every dtype", "[copy]") {
  for (DType dt : kAllDTypes) {
    INFO(dtype_name(dt));
    Tensor x = zeros({3, 5}, dt);
    fill_(x, 1.0);
    for_each_index(x.shape(), [&](const Index& i) { REQUIRE(at(x, i) == 1.0); });
    fill_(x, 0.0);
    for_each_index(x.shape(), [&](const Index& i) { REQUIRE(at(x, i) == 0.0); });
  }
  Tensor f = zeros({4});
  fill_(f, -1.25);
  REQUIRE(f.to_vector<float>() == std::vector<float>(4, -1.25f));
  Tensor d = zeros({4}, DType::f64);
  fill_(d, 0.1);
  REQUIRE(d.to_vector<double>() == std::vector<double>(4, 0.1));
  Tensor i = zeros({4}, DType::i32);
  fill_(i, -2.7);  // truncates toward zero
  REQUIRE(i.to_vector<int32_t>() == std::vector<int32_t>(4, -2));
  Tensor l = zeros({4}, DType::i64);
  fill_(l, double(int64_t(1) << 40));
  REQUIRE(l.to_vector<int64_t>() == std::vector<int64_t>(4, int64_t(1) << 40));
  Tensor b = zeros({4}, DType::b8);
  fill_(b, 0.5);
  REQUIRE(b.to_vector<bool>() == std::vector<bool>(4, true));
  Tensor n = zeros({3});
  fill_(n, NAN);
  for_each_index(n.shape(), [&](const Index& k) { REQUIRE(std::isnan(at(n, k))); });
  // A large tensor (exercises the threaded path).
  Tensor big = zeros({300, 1000});
  fill_(big, 3.0);
  std::vector<float> v = big.to_vector<float>();
  REQUIRE(std::count(v.begin(), v.end(), 3.0f) == int64_t(v.size()));
}

TEST_CASE("fill_ writes only the elements of a strided view", "[copy]") {
  Tensor base = zeros({4, 6}, DType::i64);
  fill_(base.slice(1, 1, 6, 2), 7);  // columns 1, 3, 5
  for_each_index(base.shape(), [&](const Index& i) { REQUIRE(at(base, i) == (i[1] % 2 == 1 ? 7.0 : 0.0)); });
  Tensor t = zeros({3, 4});
  fill_(t.t().narrow(0, 1, 2), 5);  // columns 1, 2 of t
  for_each_index(t.shape(), [&](const Index& i) { REQUIRE(at(t, i) == (i[1] == 1 || i[1] == 2 ? 5.0 : 0.0)); });
  Tensor s = zeros({3}, DType::f64);
  fill_(s.select(0, 1), 2.5);  // a 0-d view
  REQUIRE(s.to_vector<double>() == std::vector<double>{0, 2.5, 0});
  // An expanded view writes its single base element.
  Tensor one = zeros({1}, DType::i32);
  fill_(one.expand({5}), 4);
  REQUIRE(one.item<int32_t>() == 4);
  // Empty views are fine.
  fill_(zeros({0, 3}), 1);
  fill_(base.narrow(0, 2, 0), 1);
  REQUIRE(at(base, {2, 0}) == 0.0);
}

// ---------------------------------------------------------------- copy_

TEST_CASE("copy_ between same-shape tensors", "[copy]") {
  for (DType dt : kAllDTypes) {
    INFO(dtype_name(dt));
    Tensor src = random_tensor({3, 4, 5}, dt, 31);
    Tensor dst = zeros({3, 4, 5}, dt);
    copy_(dst, src);
    require_close(dst, src, 0, 0);
    REQUIRE(dst.storage() != src.storage());
    // Non-contiguous source.
    Tensor dst2 = zeros({3, 4, 5}, dt);
    copy_(dst2, noncontiguous(src));
    require_close(dst2, src, 0, 0);
  }
  Tensor z = zeros({});
  copy_(z, scalar_tensor(2.5));
  REQUIRE(z.item<float>() == 2.5f);
  copy_(zeros({0, 3}), zeros({0, 3}));
}

TEST_CASE("copy_ into non-contiguous destinations leaves the rest of the base alone", "[copy]") {
  Tensor src = random_tensor({2, 3, 4}, DType::f64, 37);
  // Every other row of a larger base.
  Tensor base = full({2, 6, 4}, -100.0, DType::f64);
  Tensor dst = base.slice(1, 0, 6, 2);
  copy_(dst, src);
  for_each_index(base.shape(), [&](const Index& i) {
    double want = i[1] % 2 == 0 ? at(src, {i[0], i[1] / 2, i[2]}) : -100.0;
    REQUIRE(at(base, i) == want);
  });
  // A permuted destination.
  Tensor base2 = zeros({4, 3, 2}, DType::f64);
  copy_(base2.permute({2, 1, 0}), src);
  for_each_index(base2.shape(), [&](const Index& i) { REQUIRE(at(base2, i) == at(src, {i[2], i[1], i[0]})); });
  // Both sides strided, large enough for the threaded path.
  Tensor big = random_tensor({200, 300}, DType::f32, 41);
  Tensor bigdst = zeros({300, 200});
  copy_(bigdst.t(), big);
  require_close(bigdst.t(), big, 0, 0);
  Tensor bigdst2 = zeros({200, 300});
  copy_(bigdst2, big.t().contiguous().t());
  require_close(bigdst2, big, 0, 0);
}

TEST_CASE("copy_ broadcasts the source to the destination's shape", "[copy]") {
  const Shape dst_shape{2, 3, 4};
  for (Shape src_shape : {Shape{4}, Shape{3, 1}, Shape{1, 3, 4}, Shape{2, 1, 1}, Shape{}, Shape{1}, Shape{2, 3, 4},
                          Shape{1, 1, 1}, Shape{2, 1, 4}}) {
    INFO("src " << shape_str(src_shape));
    Tensor src = random_tensor(src_shape, DType::f32, 43);
    // Contiguous destination.
    Tensor dst = zeros(dst_shape);
    copy_(dst, src);
    for_each_index(dst_shape, [&](const Index& i) { REQUIRE(at(dst, i) == at(src, broadcast_index(i, src_shape))); });
    // Transposed destination, f64, from a non-contiguous source.
    Tensor base = zeros({4, 3, 2}, DType::f64);
    Tensor tdst = base.permute({2, 1, 0});
    copy_(tdst, noncontiguous(src));
    for_each_index(dst_shape, [&](const Index& i) { REQUIRE(at(tdst, i) == at(src, broadcast_index(i, src_shape))); });
  }
  // Across dtypes while broadcasting.
  Tensor col = from_vector<int64_t>({-1, 2}, {2, 1});
  Tensor out = zeros({2, 3}, DType::f64);
  copy_(out, col);
  REQUIRE(out.to_vector<double>() == std::vector<double>{-1, -1, -1, 2, 2, 2});
  Tensor mask = zeros({2, 2}, DType::b8);
  copy_(mask, from_vector<float>({0.0f, 3.0f}));
  REQUIRE(mask.to_vector<bool>() == std::vector<bool>{false, true, false, true});
}

TEST_CASE("large strided fills and copies (threaded, chunked rows)", "[copy]") {
  // One long row with stride 2.
  Tensor base = zeros({100001}, DType::i32);
  fill_(base.slice(0, 0, 100001, 2), 1);
  std::vector<int32_t> b = base.to_vector<int32_t>();
  for (size_t i = 0; i < b.size(); ++i) REQUIRE(b[i] == (i % 2 == 0 ? 1 : 0));
  // A broadcast row into a long strided destination, converting dtype.
  Tensor src = random_tensor({1, 70000}, DType::f64, 59);
  Tensor dst_base = zeros({3, 140000}, DType::f32);
  Tensor dst = dst_base.slice(1, 1, 140000, 2);  // [3, 70000], stride 2
  copy_(dst, src);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t j = 0; j < 140000; ++j) {
      double want = j % 2 == 1 ? double(float(at(src, {0, j / 2}))) : 0.0;
      if (at(dst_base, {r, j}) != want) {
        INFO("row " << r << " col " << j);
        REQUIRE(at(dst_base, {r, j}) == want);
      }
    }
  // A 3-D permuted copy with more elements than the parallel grain.
  Tensor x = random_tensor({40, 50, 30}, DType::f32, 61);
  Tensor y = zeros({30, 40, 50});
  copy_(y, x.permute({2, 0, 1}));
  int64_t bad = 0;
  for_each_index(y.shape(), [&](const Index& i) { bad += at(y, i) != at(x, {i[1], i[2], i[0]}); });
  REQUIRE(bad == 0);
}

TEST_CASE("copy_ shape errors", "[copy]") {
  require_error([] { copy_(zeros({2, 3}), zeros({3, 2})); }, "copy_");
  require_error([] { copy_(zeros({3}), zeros({2, 3})); }, "copy_");
  require_error([] { copy_(zeros({2, 3}), zeros({2})); }, "copy_");
  require_error([] { copy_(zeros({2, 3}), zeros({0})); }, "copy_");
  require_error([] { copy_(zeros({}), zeros({2})); }, "copy_");
  // The source may not have more dims than dst, even of size 1 (as PyTorch).
  require_error([] { copy_(zeros({3}), zeros({1, 3})); }, "copy_");
}

TEST_CASE("copy_ from an overlapping view of the same storage", "[copy]") {
  // Either rejected with an Error or done as if through a temporary; never
  // a result that read already-overwritten elements.
  Tensor x = arange(6, DType::f32);
  bool threw = false;
  try {
    copy_(x.narrow(0, 1, 5), x.narrow(0, 0, 5));
  } catch (const Error&) {
    threw = true;
  }
  if (!threw) REQUIRE(x.to_vector<float>() == std::vector<float>{0, 0, 1, 2, 3, 4});

  Tensor m = arange(9, DType::f64).view({3, 3});
  threw = false;
  try {
    copy_(m, m.t());
  } catch (const Error&) {
    threw = true;
  }
  if (!threw) REQUIRE(m.to_vector<double>() == std::vector<double>{0, 3, 6, 1, 4, 7, 2, 5, 8});

  Tensor same = arange(4, DType::i32);
  copy_(same, same);
  REQUIRE(same.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 2, 3});
}

// ---------------------------------------------------------------- cast

TEST_CASE("cast between every pair of dtypes", "[copy]") {
  for (DType from : kAllDTypes) {
    Tensor src = source(from);
    REQUIRE(src.dtype() == from);
    for (DType to : kAllDTypes) {
      INFO(dtype_name(from) << " -> " << dtype_name(to));
      Tensor c = cast(src, to);
      REQUIRE(c.dtype() == to);
      REQUIRE(c.shape() == src.shape());
      REQUIRE(c.is_contiguous());
      REQUIRE(c.storage() != src.storage());  // a copy even when dtypes match
      for_each_index(c.shape(), [&](const Index& i) { REQUIRE(at(c, i) == converted(at(src, i), to)); });
      // Non-contiguous source.
      Tensor ct = cast(src.t(), to);
      REQUIRE(ct.shape() == Shape{4, 2});
      REQUIRE(ct.is_contiguous());
      for_each_index(ct.shape(), [&](const Index& i) { REQUIRE(at(ct, i) == converted(at(src, {i[1], i[0]}), to)); });
      // The same conversion through copy_ into a strided destination.
      Tensor base = zeros({4, 2}, to);
      copy_(base.t(), src);
      for_each_index(src.shape(), [&](const Index& i) { REQUIRE(at(base, {i[1], i[0]}) == converted(at(src, i), to)); });
      // to(dtype) agrees.
      Tensor viato = src.to(to);
      for_each_index(src.shape(), [&](const Index& i) { REQUIRE(at(viato, i) == converted(at(src, i), to)); });
    }
  }
}

TEST_CASE("cast edge values", "[copy]") {
  // NaN and infinities are true as bools, as in PyTorch.
  Tensor special = from_vector<float>({NAN, INFINITY, -INFINITY, -0.0f});
  REQUIRE(cast(special, DType::b8).to_vector<bool>() == std::vector<bool>{true, true, true, false});
  Tensor d = cast(special, DType::f64);
  REQUIRE(std::isnan(at(d, {0})));
  REQUIRE(at(d, {1}) == INFINITY);
  REQUIRE(at(d, {2}) == -INFINITY);
  // f64 -> f32 rounds to nearest.
  REQUIRE(cast(from_vector<double>({0.1, 1.0 / 3}), DType::f32).to_vector<float>() ==
          std::vector<float>{0.1f, float(1.0 / 3)});
  // Large i64 -> f64 and back.
  int64_t big = (int64_t(1) << 53) - 1;
  REQUIRE(cast(cast(from_vector<int64_t>({big, -big}), DType::f64), DType::i64).to_vector<int64_t>() ==
          std::vector<int64_t>{big, -big});
  // i32 -> i64 keeps negative values.
  REQUIRE(cast(from_vector<int32_t>({-2147483647 - 1, 2147483647}), DType::i64).to_vector<int64_t>() ==
          std::vector<int64_t>{-2147483648LL, 2147483647LL});
  // Shapes: 0-d and empty.
  Tensor s = cast(scalar_tensor(2.5), DType::i64);
  REQUIRE(s.dim() == 0);
  REQUIRE(s.item<int64_t>() == 2);
  REQUIRE(cast(zeros({0, 2}), DType::b8).shape() == Shape{0, 2});
  // An expanded source materializes every element.
  Tensor e = cast(from_vector<int32_t>({3}).expand({2, 2}), DType::f32);
  REQUIRE(e.is_contiguous());
  REQUIRE(e.to_vector<float>() == std::vector<float>(4, 3.0f));
  // The source is untouched.
  Tensor src = from_vector<float>({1.5f});
  cast(src, DType::i32);
  REQUIRE(src.item<float>() == 1.5f);
}

// ---------------------------------------------------------------- version counter

TEST_CASE("in-place writes bump the storage's version", "[copy]") {
  Tensor x = zeros({3, 4});
  uint64_t v0 = x.storage()->version();
  fill_(x, 1.0);
  uint64_t v1 = x.storage()->version();
  REQUIRE(v1 > v0);
  copy_(x, ones({3, 4}));
  uint64_t v2 = x.storage()->version();
  REQUIRE(v2 > v1);
  // A write through a view bumps the shared storage, seen from the base.
  Tensor view = x.t().select(0, 1);
  fill_(view, 2.0);
  uint64_t v3 = x.storage()->version();
  REQUIRE(v3 > v2);
  REQUIRE(view.storage()->version() == v3);
  copy_(x.narrow(0, 0, 1), from_vector<float>({1, 2, 3, 4}));
  uint64_t v4 = x.storage()->version();
  REQUIRE(v4 > v3);
  // Broadcasting copy_ and a dtype-converting copy_ bump too.
  copy_(x, scalar_tensor(5, DType::i64));
  uint64_t v5 = x.storage()->version();
  REQUIRE(v5 > v4);
}

TEST_CASE("reads and out-of-place copies do not bump the version", "[copy]") {
  Tensor x = random_tensor({3, 4}, DType::f32, 47);
  uint64_t v0 = x.storage()->version();
  Tensor src_only = zeros({3, 4});
  uint64_t s0 = src_only.storage()->version();
  copy_(src_only, x);  // x is the source here
  REQUIRE(x.storage()->version() == v0);
  REQUIRE(src_only.storage()->version() > s0);
  (void)cast(x, DType::f64);
  (void)x.clone();
  (void)x.t().contiguous();
  (void)x.to(DType::i32);
  (void)x.to_vector<float>();
  (void)x.reshape({12});
  (void)x.t().reshape({12});
  (void)x.str();
  REQUIRE(x.storage()->version() == v0);
  // The copy of a clone has its own counter.
  Tensor c = x.clone();
  uint64_t c0 = c.storage()->version();
  fill_(x, 0.0);
  REQUIRE(c.storage()->version() == c0);
}
