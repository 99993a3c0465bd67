// Tests for core/matmul.h: 2-D products, batched and broadcast batch dims,
// 1-D operands on either side, empty and size-1 dims (K = 0 gives zeros),
// transposed, sliced and expanded operands (the strides BLAS is handed), f32
// and f64 -- each against a triple loop in double written with at(); then
// every error path. Then grouped_matmul (the MoE expert GEMM) the same way:
// each group of rows against the loop, empty groups and K = 0, its gradients
// (an empty group's weight gets exactly zero) and its error paths.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/copy.h"
#include "core/factory.h"
#include "core/matmul.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Distinct seeds for successive random inputs.
uint64_t next_seed(uint64_t& seed) { return ++seed; }

// PyTorch's matmul written out: 1-D operands promoted, batch dims broadcast,
// every output element a sum over k in double. Returns an f64 tensor.
Tensor matmul_ref(const Tensor& a, const Tensor& b) {
  bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  Shape as = a.shape(), bs = b.shape();
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  REQUIRE(bs[bs.size() - 2] == K);
  Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  size_t r = std::max(abatch.size(), bbatch.size());
  Shape batch(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - abatch.size() ? 1 : abatch[i - (r - abatch.size())];
    int64_t db = i < r - bbatch.size() ? 1 : bbatch[i - (r - bbatch.size())];
    REQUIRE((da == db || da == 1 || db == 1));
    batch[i] = da == 1 ? db : da;
  }
  // The index of an operand's batch dims for an output batch index.
  auto batch_index = [&](const Shape& own, const Index& out) {
    Index idx(own.size());
    for (size_t d = 0; d < own.size(); ++d) idx[d] = own[d] == 1 ? 0 : out[d + (r - own.size())];
    return idx;
  };
  Shape full = batch;
  full.push_back(M);
  full.push_back(N);
  std::vector<double> out;
  for_each_index(full, [&](const Index& i) {
    Index bi(i.begin(), i.begin() + int64_t(r));
    int64_t m = i[r], n = i[r + 1];
    Index ai = batch_index(abatch, bi), bj = batch_index(bbatch, bi);
    double s = 0;
    for (int64_t k = 0; k < K; ++k) {
      Index ia = ai, ib = bj;
      if (a_vec) {
        ia = {k};
      } else {
        ia.push_back(m);
        ia.push_back(k);
      }
      if (b_vec) {
        ib = {k};
      } else {
        ib.push_back(k);
        ib.push_back(n);
      }
      s += at(a, ia) * at(b, ib);
    }
    out.push_back(s);
  });
  Shape shape = batch;
  if (!a_vec) shape.push_back(M);
  if (!b_vec) shape.push_back(N);
  return cast(from_vector(out, shape), DType::f64);
}

void check_matmul(const Tensor& a, const Tensor& b) {
  INFO(shape_str(a.shape()) << " @ " << shape_str(b.shape()) << ", dtype " << a.dtype() << ", contiguous "
                            << a.is_contiguous() << "/" << b.is_contiguous());
  Tensor expected = matmul_ref(a, b);
  Tensor got = matmul(a, b);
  REQUIRE(got.dtype() == a.dtype());
  REQUIRE(got.shape() == expected.shape());
  if (a.dtype() == DType::f32)
    require_close(got, expected, 1e-4, 1e-4);
  else
    require_close(got, expected, 1e-12, 1e-12);
}

// Allocates and frees a buffer full of a nonzero pattern, so that a result
// buffer allocated next is likely to start out dirty; a kernel that forgets
// to write an element then shows it.
void dirty_the_heap(DType dtype) {
  for (int i = 0; i < 4; ++i) {
    Tensor junk = full({64, 64}, 7.5, dtype);
    REQUIRE(at(junk, {63, 63}) == 7.5);
  }
}

const DType kFloatTypes[] = {DType::f32, DType::f64};

}  // namespace

TEST_CASE("matmul: 2-D products match the triple loop", "[matmul]") {
  struct MKN {
    int64_t m, k, n;
  };
  std::vector<MKN> sizes = {{1, 1, 1}, {1, 7, 1}, {5, 1, 4}, {7, 5, 3}, {3, 8, 1},
                            {1, 8, 6}, {4, 4, 4}, {33, 17, 20}, {2, 65, 3}};
  uint64_t seed = 2000;
  for (DType dtype : kFloatTypes) {
    for (const MKN& s : sizes) {
      check_matmul(random_tensor({s.m, s.k}, dtype, next_seed(seed)), random_tensor({s.k, s.n}, dtype, next_seed(seed)));
    }
  }
}

TEST_CASE("matmul: a larger product, exact on small integers", "[matmul]") {
  // Integer-valued operands: every partial sum is exact in both dtypes, so
  // any dropped or doubled term shows as a wrong integer.
  for (DType dtype : kFloatTypes) {
    Tensor a = random_tensor({64, 48}, DType::i32, 1).to(dtype);
    Tensor b = random_tensor({48, 40}, DType::i32, 2).to(dtype);
    Tensor got = matmul(a, b);
    require_close(got, matmul_ref(a, b), 0, 0);
  }
}

TEST_CASE("matmul: empty dims, and K = 0 gives zeros", "[matmul]") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype " << dtype);
    REQUIRE(matmul(zeros({0, 3}, dtype), zeros({3, 4}, dtype)).shape() == Shape{0, 4});
    REQUIRE(matmul(zeros({3, 4}, dtype), zeros({4, 0}, dtype)).shape() == Shape{3, 0});
    REQUIRE(matmul(zeros({0, 0}, dtype), zeros({0, 0}, dtype)).shape() == Shape{0, 0});
    REQUIRE(matmul(zeros({0, 3, 4}, dtype), zeros({4, 2}, dtype)).shape() == Shape{0, 3, 2});
    REQUIRE(matmul(zeros({1, 3, 4}, dtype), zeros({0, 4, 2}, dtype)).shape() == Shape{0, 3, 2});
    dirty_the_heap(dtype);
    Tensor z = matmul(zeros({64, 0}, dtype), zeros({0, 64}, dtype));
    REQUIRE(z.shape() == Shape{64, 64});
    REQUIRE(z.dtype() == dtype);
    for_each_index(z.shape(), [&](const Index& i) { REQUIRE(at(z, i) == 0); });
    dirty_the_heap(dtype);
    Tensor zb = matmul(zeros({2, 8, 0}, dtype), zeros({2, 0, 16}, dtype));
    REQUIRE(zb.shape() == Shape{2, 8, 16});
    for_each_index(zb.shape(), [&](const Index& i) { REQUIRE(at(zb, i) == 0); });
    // K = 0 with vectors: the dot product of two empty vectors is 0.
    dirty_the_heap(dtype);
    Tensor d = matmul(zeros({0}, dtype), zeros({0}, dtype));
    REQUIRE(d.shape() == Shape{});
    REQUIRE(at(d, {}) == 0);
    Tensor v = matmul(zeros({0}, dtype), zeros({0, 5}, dtype));
    REQUIRE(v.shape() == Shape{5});
    for (int64_t j = 0; j < 5; ++j) REQUIRE(at(v, {j}) == 0);
  }
}

TEST_CASE("matmul: batched products with equal batch dims", "[matmul]") {
  uint64_t seed = 2100;
  for (DType dtype : kFloatTypes) {
    check_matmul(random_tensor({4, 3, 5}, dtype, next_seed(seed)), random_tensor({4, 5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({1, 3, 5}, dtype, next_seed(seed)), random_tensor({1, 5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({2, 3, 1, 4}, dtype, next_seed(seed)), random_tensor({2, 3, 4, 6}, dtype, next_seed(seed)));
    check_matmul(random_tensor({5, 1, 1}, dtype, next_seed(seed)), random_tensor({5, 1, 1}, dtype, next_seed(seed)));
  }
}

TEST_CASE("matmul: batch dims broadcast", "[matmul]") {
  uint64_t seed = 2200;
  for (DType dtype : kFloatTypes) {
    // The brief's case: [2,1,M,K] @ [3,K,N] -> [2,3,M,N].
    Tensor a = random_tensor({2, 1, 4, 5}, dtype, next_seed(seed));
    Tensor b = random_tensor({3, 5, 6}, dtype, next_seed(seed));
    REQUIRE(matmul(a, b).shape() == Shape{2, 3, 4, 6});
    check_matmul(a, b);
    check_matmul(random_tensor({4, 5}, dtype, next_seed(seed)), random_tensor({3, 5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({3, 4, 5}, dtype, next_seed(seed)), random_tensor({5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({1, 4, 5}, dtype, next_seed(seed)), random_tensor({3, 5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({3, 4, 5}, dtype, next_seed(seed)), random_tensor({1, 5, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({4, 1, 2, 3}, dtype, next_seed(seed)), random_tensor({1, 5, 3, 2}, dtype, next_seed(seed)));
    check_matmul(random_tensor({2, 1, 3, 2, 3}, dtype, next_seed(seed)), random_tensor({4, 1, 3, 4}, dtype, next_seed(seed)));
  }
}

TEST_CASE("matmul: 1-D operands lose their dim in the result", "[matmul]") {
  uint64_t seed = 2300;
  for (DType dtype : kFloatTypes) {
    Tensor v = random_tensor({5}, dtype, next_seed(seed));
    Tensor m = random_tensor({5, 3}, dtype, next_seed(seed));
    REQUIRE(matmul(v, m).shape() == Shape{3});
    check_matmul(v, m);
    Tensor m2 = random_tensor({4, 5}, dtype, next_seed(seed));
    REQUIRE(matmul(m2, v).shape() == Shape{4});
    check_matmul(m2, v);
    Tensor w = random_tensor({5}, dtype, next_seed(seed));
    Tensor dot = matmul(v, w);
    REQUIRE(dot.shape() == Shape{});
    check_matmul(v, w);
    double expected = 0;
    for (int64_t k = 0; k < 5; ++k) expected += at(v, {k}) * at(w, {k});
    REQUIRE(dot.item<double>() == Approx(expected).epsilon(1e-5));
    check_matmul(v, random_tensor({2, 5, 3}, dtype, next_seed(seed)));   // -> [2,3]
    check_matmul(random_tensor({2, 4, 5}, dtype, next_seed(seed)), v);   // -> [2,4]
    check_matmul(random_tensor({1}, dtype, next_seed(seed)), random_tensor({1, 3}, dtype, next_seed(seed)));
    check_matmul(random_tensor({1}, dtype, next_seed(seed)), random_tensor({1}, dtype, next_seed(seed)));
    REQUIRE(matmul(v, random_tensor({2, 5, 3}, dtype, next_seed(seed))).shape() == Shape{2, 3});
    REQUIRE(matmul(random_tensor({2, 4, 5}, dtype, next_seed(seed)), v).shape() == Shape{2, 4});
  }
}

TEST_CASE("matmul: transposed, sliced and expanded operands", "[matmul]") {
  uint64_t seed = 2400;
  for (DType dtype : kFloatTypes) {
    auto R = [&](const Shape& s) { return random_tensor(s, dtype, next_seed(seed)); };
    // Transposes: BLAS gets a transpose flag instead of a copy.
    check_matmul(R({5, 4}).t(), R({5, 3}));
    check_matmul(R({4, 5}), R({3, 5}).t());
    check_matmul(R({5, 4}).t(), R({3, 5}).t());
    check_matmul(R({9, 7}).t(), R({7, 9}).t());
    // Inner stride 2 (no BLAS layout fits; must be handled somehow).
    check_matmul(R({4, 10}).slice(1, 0, 10, 2), R({5, 3}));
    check_matmul(R({4, 5}), R({5, 6}).slice(1, 0, 6, 2));
    check_matmul(R({8, 5}).slice(0, 1, 8, 2), R({5, 7}).slice(1, 1, 7, 2));
    // Sub-matrices: the leading dimension exceeds the row length.
    check_matmul(R({6, 9}).narrow(0, 1, 4).narrow(1, 2, 5), R({5, 8}).narrow(1, 3, 3));
    check_matmul(R({9, 6}).narrow(0, 2, 5).narrow(1, 1, 4).t(), R({7, 5}).narrow(0, 1, 3).t());
    // Stride-0 rows and columns from expand.
    check_matmul(R({1, 5}).expand({4, 5}), R({5, 3}));
    check_matmul(R({4, 5}), R({5, 1}).expand({5, 3}));
    check_matmul(R({4, 1}).expand({4, 5}), R({1, 3}).expand({5, 3}));
    // Size-1 dims whose strides are not the "natural" ones.
    check_matmul(R({5, 1}).t(), R({5, 3}));                   // [1,5] with strides [1,1]
    check_matmul(R({4, 5}), R({5}).unsqueeze(1));             // [5,1] with strides [1,1]
    check_matmul(R({4, 1}), R({3, 1}).t());                   // K = 1, outer product
    check_matmul(R({3, 6}).select(1, 2).unsqueeze(0), R({3, 4}));  // [1,3], inner stride 6
    // 1-D operands that are strided.
    check_matmul(R({10}).slice(0, 0, 10, 2), R({5, 3}));
    check_matmul(R({4, 5}), R({10}).slice(0, 1, 10, 2));
    check_matmul(R({5, 3}).select(1, 1), R({4, 5}).select(0, 2));
    // Batched views: transposed matrices, permuted and sliced batches,
    // expanded (stride-0) batch dims, and the transposed-copy helper.
    check_matmul(R({2, 5, 4}).transpose(1, 2), R({2, 3, 5}).transpose(1, 2));
    check_matmul(R({4, 2, 5}).permute({1, 0, 2}), R({2, 5, 3}));
    check_matmul(R({6, 4, 5}).slice(0, 0, 6, 2), R({3, 5, 2}));
    check_matmul(R({1, 4, 5}).expand({3, 4, 5}), R({3, 5, 2}));
    check_matmul(R({3, 4, 5}), R({5, 2}).unsqueeze(0).expand({3, 5, 2}));
    check_matmul(noncontiguous(R({3, 4, 5})), noncontiguous(R({3, 5, 2})));
    // A shared right operand with left operands laid out in different ways
    // (the batch can only be folded into one GEMM when the rows are evenly
    // spaced across batch entries).
    check_matmul(R({3, 4, 5}), R({5, 2}));
    check_matmul(R({3, 4, 7}).narrow(2, 0, 5), R({5, 2}));
    check_matmul(R({4, 3, 5}).permute({1, 0, 2}), R({5, 2}));
    check_matmul(R({6, 4, 5}).slice(0, 0, 6, 2), R({5, 2}));
    check_matmul(R({3, 5, 4}).transpose(1, 2), R({5, 2}));
    check_matmul(R({1, 4, 5}).expand({3, 4, 5}), R({5, 2}));
    check_matmul(R({3, 4, 5}), R({2, 5}).t());
    check_matmul(noncontiguous(R({2, 1, 4, 5})), R({3, 5, 6}).transpose(1, 2).contiguous().transpose(1, 2));
  }
}

TEST_CASE("matmul: inputs are left unchanged and the result is a new tensor", "[matmul]") {
  for (DType dtype : kFloatTypes) {
    Tensor a = random_tensor({4, 5}, dtype, 1);
    Tensor b = random_tensor({5, 4}, dtype, 2);
    Tensor a0 = a.clone(), b0 = b.clone();
    Tensor c = matmul(a, b);
    REQUIRE(c.storage() != a.storage());
    REQUIRE(c.storage() != b.storage());
    require_close(a, a0, 0, 0);
    require_close(b, b0, 0, 0);
    // Two views of one storage as operands.
    Tensor sq = random_tensor({5, 5}, dtype, 3);
    check_matmul(sq, sq.t());
    check_matmul(sq, sq);
  }
}

TEST_CASE("matmul: mismatched inner dims throw naming the op and both shapes", "[matmul]") {
  Tensor a = random_tensor({4, 3}, DType::f32, 1);
  Tensor b = random_tensor({5, 2}, DType::f32, 2);
  require_error([&] { matmul(a, b); }, "matmul");
  require_error([&] { matmul(a, b); }, "[4,3]");
  require_error([&] { matmul(a, b); }, "[5,2]");
  require_error([&] { matmul(a, b); }, "3 != 5");
  require_error([&] { matmul(random_tensor({3}, DType::f32, 3), random_tensor({4}, DType::f32, 4)); }, "matmul");
  require_error([&] { matmul(random_tensor({3}, DType::f32, 3), random_tensor({4, 2}, DType::f32, 4)); },
                "matmul");
  require_error([&] { matmul(random_tensor({2, 3}, DType::f32, 3), random_tensor({4}, DType::f32, 4)); },
                "matmul");
  require_error([&] { matmul(random_tensor({2, 4, 3}, DType::f32, 3), random_tensor({2, 4, 3}, DType::f32, 4)); },
                "matmul");
}

TEST_CASE("matmul: batch dims that do not broadcast throw", "[matmul]") {
  Tensor a = random_tensor({2, 3, 4}, DType::f32, 1);
  Tensor b = random_tensor({3, 4, 5}, DType::f32, 2);
  require_error([&] { matmul(a, b); }, "matmul");
  require_error([&] { matmul(random_tensor({2, 1, 3, 4}, DType::f32, 3), random_tensor({3, 3, 4, 5}, DType::f32, 4)); },
                "matmul");
}

TEST_CASE("matmul: 0-d operands, mismatched and non-floating dtypes throw", "[matmul]") {
  Tensor s = full({}, 2.0, DType::f32);
  Tensor m = random_tensor({2, 2}, DType::f32, 1);
  require_error([&] { matmul(s, m); }, "matmul");
  require_error([&] { matmul(m, s); }, "matmul");
  require_error([&] { matmul(s, s); }, "matmul");
  require_error([&] { matmul(m, m.to(DType::f64)); }, "matmul");
  require_error([&] { matmul(m.to(DType::f64), m); }, "matmul");
  for (DType dtype : {DType::i32, DType::i64, DType::b8}) {
    INFO("dtype " << dtype);
    Tensor x = random_tensor({2, 2}, dtype, 2);
    require_error([&] { matmul(x, x); }, "matmul");
  }
}

// ---------------- grouped_matmul ----------------

namespace {

// grouped_matmul written out: row s of the result is x[s] @ w[g] for the
// group g whose [offsets[g], offsets[g+1]) holds s, each element a sum over
// k in double. Returns an f64 [S, N] tensor.
Tensor grouped_matmul_ref(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets) {
  REQUIRE(x.dim() == 2);
  REQUIRE(w.dim() == 3);
  REQUIRE(int64_t(offsets.size()) == w.size(0) + 1);
  int64_t S = x.size(0), K = x.size(1), N = w.size(2);
  std::vector<double> out(size_t(S * N), 0.0);
  for (int64_t g = 0; g < w.size(0); ++g)
    for (int64_t s = offsets[size_t(g)]; s < offsets[size_t(g) + 1]; ++s)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += at(x, {s, k}) * at(w, {g, k, n});
        out[size_t(s * N + n)] = acc;
      }
  return from_vector(out, {S, N});
}

void check_grouped(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets) {
  std::string offs;
  for (int64_t o : offsets) offs += std::to_string(o) + " ";
  INFO("grouped_matmul " << shape_str(x.shape()) << " x " << shape_str(w.shape()) << ", offsets " << offs << ", dtype "
                         << x.dtype() << ", contiguous " << x.is_contiguous() << "/" << w.is_contiguous());
  dirty_the_heap(x.dtype());
  Tensor got = grouped_matmul(x, w, offsets);
  REQUIRE(got.dtype() == x.dtype());
  Tensor expected = grouped_matmul_ref(x, w, offsets);
  REQUIRE(got.shape() == expected.shape());
  if (x.dtype() == DType::f32)
    require_close(got, expected, 1e-4, 1e-4);
  else
    require_close(got, expected, 1e-12, 1e-12);
}

}  // namespace

TEST_CASE("grouped_matmul: each group of rows uses its own weight, as the triple loop", "[matmul]") {
  uint64_t seed = 2500;
  for (DType dtype : kFloatTypes) {
    auto R = [&](const Shape& s) { return random_tensor(s, dtype, next_seed(seed)); };
    check_grouped(R({5, 3}), R({3, 3, 4}), {0, 2, 2, 5});            // middle group empty
    check_grouped(R({6, 4}), R({4, 4, 2}), {0, 0, 1, 6, 6});         // first and last groups empty
    check_grouped(R({7, 5}), R({1, 5, 3}), {0, 7});                  // one group: a plain matmul
    check_grouped(R({9, 8}), R({3, 8, 6}), {0, 3, 6, 9});            // equal groups
    check_grouped(R({13, 17}), R({5, 17, 11}), {0, 1, 1, 8, 12, 13});  // odd sizes
    check_grouped(R({4, 1}), R({2, 1, 3}), {0, 3, 4});                 // K = 1
    check_grouped(R({4, 3}), R({2, 3, 1}), {0, 1, 4});                 // N = 1
    // Views: transposed w (as the backward hands it), transposed, sliced
    // and narrowed x, a strided w batch.
    check_grouped(R({5, 3}), R({3, 4, 3}).transpose(1, 2), {0, 2, 2, 5});
    check_grouped(R({3, 5}).t(), R({2, 3, 2}), {0, 4, 5});
    check_grouped(R({6, 8}).slice(1, 0, 8, 2), R({2, 4, 3}), {0, 1, 6});
    check_grouped(R({9, 4}).narrow(0, 2, 6), R({3, 4, 3}).narrow(2, 1, 2), {0, 2, 3, 6});
    check_grouped(R({5, 3}), R({6, 3, 2}).slice(0, 0, 6, 2), {0, 0, 5, 5});
    check_grouped(noncontiguous(R({6, 5})), noncontiguous(R({2, 5, 4})), {0, 5, 6});
  }
}

TEST_CASE("grouped_matmul: exact on small integers", "[matmul]") {
  // Every partial sum is an exact integer in both dtypes: a row multiplied by
  // the neighbouring group's weight, or a missed row, shows as a wrong integer.
  for (DType dtype : kFloatTypes) {
    Tensor x = random_tensor({40, 24}, DType::i32, 11).to(dtype);
    Tensor w = random_tensor({4, 24, 20}, DType::i32, 12).to(dtype);
    std::vector<int64_t> offsets = {0, 9, 9, 31, 40};
    require_close(grouped_matmul(x, w, offsets), grouped_matmul_ref(x, w, offsets), 0, 0);
  }
}

TEST_CASE("grouped_matmul: empty groups give no rows, K = 0 gives zeros", "[matmul]") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype " << dtype);
    // Every group empty: S = 0 rows out, whatever G.
    REQUIRE(grouped_matmul(zeros({0, 3}, dtype), random_tensor({4, 3, 5}, dtype, 1), {0, 0, 0, 0, 0}).shape() ==
            Shape{0, 5});
    // No groups at all.
    REQUIRE(grouped_matmul(zeros({0, 3}, dtype), zeros({0, 3, 5}, dtype), {0}).shape() == Shape{0, 5});
    // N = 0.
    REQUIRE(grouped_matmul(random_tensor({4, 3}, dtype, 2), zeros({2, 3, 0}, dtype), {0, 1, 4}).shape() ==
            Shape{4, 0});
    // K = 0: every row is an empty dot product, so 0, even in a buffer that
    // started out dirty.
    dirty_the_heap(dtype);
    Tensor z = grouped_matmul(zeros({64, 0}, dtype), zeros({3, 0, 64}, dtype), {0, 10, 10, 64});
    REQUIRE(z.shape() == Shape{64, 64});
    REQUIRE(z.dtype() == dtype);
    for_each_index(z.shape(), [&](const Index& i) { REQUIRE(at(z, i) == 0); });
  }
}

TEST_CASE("grouped_matmul: gradients, and an empty group's weight gets exactly zero", "[matmul]") {
  for (DType dtype : kFloatTypes) {
    INFO("dtype " << dtype);
    std::vector<int64_t> offsets = {0, 3, 3, 7, 7};  // groups 1 and 3 empty
    Tensor x = random_tensor({7, 4}, dtype, 21).requires_grad_();
    Tensor w = random_tensor({4, 4, 5}, dtype, 22);
    // Fill the empty groups' weights with large values: a gradient or an
    // output that leaks through them shows.
    copy_(w.select(0, 1), full({4, 5}, 100.0, dtype));
    copy_(w.select(0, 3), full({4, 5}, -100.0, dtype));
    w.requires_grad_();
    Tensor dy = random_tensor({7, 5}, dtype, 23);
    grouped_matmul(x, w, offsets).backward(dy);
    Tensor gw = w.grad(), gx = x.grad();
    REQUIRE(gw.shape() == w.shape());
    REQUIRE(gx.shape() == x.shape());
    for (int64_t g : {1, 3})
      for_each_index({4, 5}, [&](const Index& i) { REQUIRE(at(gw, {g, i[0], i[1]}) == 0.0); });
    // dw[g] = x_g^T dy_g and dx_s = dy_s w[g]^T, in double.
    double tol = dtype == DType::f32 ? 1e-4 : 1e-12;
    for (int64_t g : {0, 2})
      for_each_index({4, 5}, [&](const Index& i) {
        double s = 0;
        for (int64_t r = offsets[size_t(g)]; r < offsets[size_t(g) + 1]; ++r) s += at(x, {r, i[0]}) * at(dy, {r, i[1]});
        REQUIRE(at(gw, {g, i[0], i[1]}) == Approx(s).epsilon(tol).margin(tol));
      });
    for_each_index({7, 4}, [&](const Index& i) {
      int64_t g = i[0] < 3 ? 0 : 2;
      double s = 0;
      for (int64_t n = 0; n < 5; ++n) s += at(dy, {i[0], n}) * at(w, {g, i[1], n});
      REQUIRE(at(gx, i) == Approx(s).epsilon(tol).margin(tol));
    });
  }
}

TEST_CASE("grouped_matmul: bad inputs throw naming the op", "[matmul]") {
  Tensor x = random_tensor({5, 3}, DType::f32, 1);
  Tensor w = random_tensor({3, 3, 4}, DType::f32, 2);
  const std::vector<int64_t> ok = {0, 2, 2, 5};
  REQUIRE(grouped_matmul(x, w, ok).shape() == Shape{5, 4});
  // Wrong ranks.
  require_error([&] { grouped_matmul(x.reshape({15}), w, ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x.unsqueeze(0), w, ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w.select(0, 0), ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w.unsqueeze(0), ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(full({}, 1.0, DType::f32), w, ok); }, "grouped_matmul");
  // Inner dims: x [5,3] with w [3,4,4].
  require_error([&] { grouped_matmul(x, random_tensor({3, 4, 4}, DType::f32, 3), ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w.transpose(1, 2), ok); }, "grouped_matmul");
  // Offsets of the wrong length (G + 1 = 4 needed).
  require_error([&] { grouped_matmul(x, w, {0, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, 1, 2, 3, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {}); }, "grouped_matmul");
  // Not starting at 0, not ending at S (both short and long).
  require_error([&] { grouped_matmul(x, w, {1, 2, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {-1, 2, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, 2, 2, 4}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, 2, 2, 6}); }, "grouped_matmul");
  // Decreasing offsets, including ones that stay inside [0, S] and ones
  // that leave it.
  require_error([&] { grouped_matmul(x, w, {0, 3, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, 7, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, -2, 2, 5}); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x, w, {0, 2, 6, 5}); }, "grouped_matmul");
  // Dtypes: mismatched, and non-floating.
  require_error([&] { grouped_matmul(x, w.to(DType::f64), ok); }, "grouped_matmul");
  require_error([&] { grouped_matmul(x.to(DType::f64), w, ok); }, "grouped_matmul");
  for (DType dtype : {DType::i32, DType::i64}) {
    INFO("dtype " << dtype);
    require_error([&] { grouped_matmul(x.to(dtype), w.to(dtype), ok); }, "grouped_matmul");
  }
}
