// Tests for core/factory.h and core/random.h: constant and range factories,
// from_vector, the Philox generator (against Random123's published
// known-answer vectors), reproducibility of random draws and their rough
// statistics.
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};

// Philox4x32-10 over a full 128-bit counter and 64-bit key, written from the
// Random123 paper independently of core/random.h.
std::array<uint32_t, 4> philox_ref(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k[0] += W0;
      k[1] += W1;
    }
    uint64_t p0 = uint64_t(M0) * c[0], p1 = uint64_t(M1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
  }
  return c;
}

// Bitwise equality of two tensors' elements (same shape and dtype).
bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

struct Stats {
  double mean, std, min, max;
};
Stats stats(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
  for (double x : v) {
    s += x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  double m = s / double(v.size());
  for (double x : v) s2 += (x - m) * (x - m);
  return {m, std::sqrt(s2 / double(v.size() - 1)), lo, hi};
}

}  // namespace

// ---------------------------------------------------------------- constants

TEST_CASE("zeros, ones and full for every dtype", "[factory]") {
  for (DType dt : kAllDTypes) {
    INFO(dtype_name(dt));
    Tensor z = zeros({2, 3}, dt);
    REQUIRE(z.dtype() == dt);
    REQUIRE(z.shape() == Shape{2, 3});
    REQUIRE(z.is_contiguous());
    REQUIRE(z.device() == Device::cpu());
    for_each_index(z.shape(), [&](const Index& i) { REQUIRE(at(z, i) == 0.0); });
    Tensor o = ones({4}, dt);
    for_each_index(o.shape(), [&](const Index& i) { REQUIRE(at(o, i) == 1.0); });
    Tensor f = full({3, 1, 2}, 1.0, dt);
    REQUIRE(f.shape() == Shape{3, 1, 2});
    for_each_index(f.shape(), [&](const Index& i) { REQUIRE(at(f, i) == 1.0); });
    REQUIRE(zeros({0, 5}, dt).numel() == 0);
    REQUIRE(zeros({}, dt).dim() == 0);
    REQUIRE(zeros({}, dt).item<double>() == 0.0);
  }
  REQUIRE(full({2}, -3.25).to_vector<float>() == std::vector<float>{-3.25f, -3.25f});
  REQUIRE(full({2}, -3.25, DType::f64).to_vector<double>() == std::vector<double>{-3.25, -3.25});
  REQUIRE(full({2}, 7, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{7, 7});
  REQUIRE(full({2}, -2.7, DType::i64).to_vector<int64_t>() == std::vector<int64_t>{-2, -2});
  REQUIRE(full({2}, 3e9, DType::i64).to_vector<int64_t>() == std::vector<int64_t>{3000000000LL, 3000000000LL});
  REQUIRE(full({2}, 0.5, DType::b8).to_vector<bool>() == std::vector<bool>{true, true});
  REQUIRE(full({2}, 0.0, DType::b8).to_vector<bool>() == std::vector<bool>{false, false});
  // 0.1 is stored as the nearest float / double, not truncated.
  REQUIRE(full({1}, 0.1).item<float>() == 0.1f);
  REQUIRE(full({1}, 0.1, DType::f64).item<double>() == 0.1);
  require_error([] { zeros({2, -1}); }, "size");
}

TEST_CASE("zeros_like and ones_like keep shape and dtype, not layout", "[factory]") {
  for (DType dt : kAllDTypes) {
    INFO(dtype_name(dt));
    Tensor x = full({3, 4}, 5, dt).t();
    Tensor z = zeros_like(x);
    REQUIRE(z.shape() == Shape{4, 3});
    REQUIRE(z.dtype() == dt);
    REQUIRE(z.is_contiguous());
    REQUIRE(z.storage() != x.storage());
    for_each_index(z.shape(), [&](const Index& i) { REQUIRE(at(z, i) == 0.0); });
    Tensor o = ones_like(x);
    REQUIRE(o.dtype() == dt);
    for_each_index(o.shape(), [&](const Index& i) { REQUIRE(at(o, i) == 1.0); });
    // The source is untouched (5 reads back as true for bool).
    double five = dt == DType::b8 ? 1.0 : 5.0;
    for_each_index(x.shape(), [&](const Index& i) { REQUIRE(at(x, i) == five); });
  }
  REQUIRE(zeros_like(scalar_tensor(3)).dim() == 0);
}

TEST_CASE("scalar_tensor is 0-d", "[factory]") {
  for (DType dt : kAllDTypes) {
    INFO(dtype_name(dt));
    Tensor s = scalar_tensor(1, dt);
    REQUIRE(s.dim() == 0);
    REQUIRE(s.numel() == 1);
    REQUIRE(s.dtype() == dt);
    REQUIRE(s.item<double>() == 1.0);
  }
  REQUIRE(scalar_tensor(-0.75).item<float>() == -0.75f);
  REQUIRE(scalar_tensor(-0.75, DType::f64).item<double>() == -0.75);
  REQUIRE(scalar_tensor(9.9, DType::i32).item<int32_t>() == 9);
}

// ---------------------------------------------------------------- arange

TEST_CASE("arange", "[factory]") {
  Tensor a = arange(5);
  REQUIRE(a.dtype() == DType::i64);
  REQUIRE(a.shape() == Shape{5});
  REQUIRE(a.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  REQUIRE(arange(5, DType::f32).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  REQUIRE(arange(4, DType::i32).dtype() == DType::i32);
  REQUIRE(arange(0, 10, 3).to_vector<int64_t>() == std::vector<int64_t>{0, 3, 6, 9});
  REQUIRE(arange(2, 7).to_vector<int64_t>() == std::vector<int64_t>{2, 3, 4, 5, 6});
  REQUIRE(arange(5, 0, -1).to_vector<int64_t>() == std::vector<int64_t>{5, 4, 3, 2, 1});
  REQUIRE(arange(5, 0, -2).to_vector<int64_t>() == std::vector<int64_t>{5, 3, 1});
  REQUIRE(arange(0, 1, 0.25, DType::f32).to_vector<float>() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  REQUIRE(arange(1, 2.5, 0.5, DType::f64).to_vector<double>() == std::vector<double>{1, 1.5, 2});
  REQUIRE(arange(-1, 1, 0.5, DType::f32).to_vector<float>() == std::vector<float>{-1, -0.5f, 0, 0.5f});
  // Length is ceil((end - start) / step).
  REQUIRE(arange(0, 1.1, 0.5, DType::f64).numel() == 3);
  REQUIRE(arange(0, 10, 4, DType::i32).to_vector<int32_t>() == std::vector<int32_t>{0, 4, 8});
  REQUIRE(arange(3, 3).numel() == 0);
  REQUIRE(arange(0).numel() == 0);
  REQUIRE(arange(0).shape() == Shape{0});
  Tensor big = arange(100000);
  REQUIRE(big.is_contiguous());
  std::vector<int64_t> v = big.to_vector<int64_t>();
  for (int64_t i = 0; i < 100000; ++i) REQUIRE(v[i] == i);
}

TEST_CASE("arange errors", "[factory]") {
  require_error([] { arange(0, 5, 0); }, "arange");
  require_error([] { arange(3, 0, 1); }, "arange");  // step points away from end
  require_error([] { arange(0, 3, -1); }, "arange");
  require_error([] { arange(-3); }, "arange");
  require_error([] { arange(0, NAN, 1); }, "arange");
  require_error([] { arange(0, INFINITY, 1); }, "arange");
}

// ---------------------------------------------------------------- from_vector

TEST_CASE("from_vector copies values in row-major order for every dtype", "[factory]") {
  Tensor f = from_vector<float>({1.5f, -2, 3, 4, 5, 6}, {2, 3});
  REQUIRE(f.dtype() == DType::f32);
  REQUIRE(f.shape() == Shape{2, 3});
  REQUIRE(f.is_contiguous());
  REQUIRE(at(f, {0, 0}) == 1.5);
  REQUIRE(at(f, {0, 1}) == -2.0);
  REQUIRE(at(f, {1, 2}) == 6.0);
  Tensor d = from_vector<double>({0.1, 0.2});
  REQUIRE(d.dtype() == DType::f64);
  REQUIRE(d.shape() == Shape{2});
  REQUIRE(at(d, {1}) == 0.2);
  Tensor i = from_vector<int32_t>({-7, 2147483647}, {2, 1});
  REQUIRE(i.dtype() == DType::i32);
  REQUIRE(at(i, {0, 0}) == -7.0);
  REQUIRE(at(i, {1, 0}) == 2147483647.0);
  Tensor l = from_vector<int64_t>({int64_t(1) << 40, -3});
  REQUIRE(l.dtype() == DType::i64);
  REQUIRE(l.to_vector<int64_t>() == std::vector<int64_t>{int64_t(1) << 40, -3});
  Tensor b = from_vector<bool>({true, false, true}, {3, 1});
  REQUIRE(b.dtype() == DType::b8);
  REQUIRE(b.to_vector<bool>() == std::vector<bool>{true, false, true});
  REQUIRE(at(b, {2, 0}) == 1.0);
  Tensor s = from_vector<float>({4.0f}, Shape{});
  REQUIRE(s.dim() == 0);
  REQUIRE(s.item<float>() == 4.0f);
  Tensor e = from_vector<float>({}, {0, 3});
  REQUIRE(e.shape() == Shape{0, 3});
  // The tensor owns a copy.
  std::vector<float> src{1, 2, 3};
  Tensor c = from_vector(src);
  src[0] = 99;
  REQUIRE(c.to_vector<float>() == std::vector<float>{1, 2, 3});
}

TEST_CASE("from_vector rejects a wrong element count", "[factory]") {
  require_error([] { from_vector<float>({1, 2, 3}, {2, 2}); }, "from_vector");
  require_error([] { from_vector<int64_t>({1, 2, 3, 4, 5}, {2, 2}); }, "from_vector");
  require_error([] { from_vector<bool>({true}, {0}); }, "from_vector");
  require_error([] { from_vector<double>({}, Shape{}); }, "from_vector");
}

// ---------------------------------------------------------------- Philox

TEST_CASE("the reference Philox matches Random123's known-answer vectors", "[factory]") {
  // Random123 kat_vectors, philox4x32 10 rounds.
  REQUIRE(philox_ref({0, 0, 0, 0}, {0, 0}) ==
          std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  REQUIRE(philox_ref({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}) ==
          std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  REQUIRE(philox_ref({0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u}) ==
          std::array<uint32_t, 4>{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("philox4x32 matches the known-answer vector and the reference", "[factory]") {
  REQUIRE(philox4x32(0, 0) == std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  // The library's counter fills the low two words; the high two are zero.
  const uint64_t counters[] = {0, 1, 2, 0xffffffffull, 0x100000000ull, 0x85a308d3243f6a88ull, ~0ull};
  const uint64_t keys[] = {0, 1, 42, 0x299f31d0a4093822ull, ~0ull};
  for (uint64_t c : counters)
    for (uint64_t k : keys) {
      INFO("counter " << c << " key " << k);
      REQUIRE(philox4x32(c, k) == philox_ref({uint32_t(c), uint32_t(c >> 32), 0, 0}, {uint32_t(k), uint32_t(k >> 32)}));
    }
  REQUIRE(philox4x32(1, 0) != philox4x32(0, 0));
  REQUIRE(philox4x32(0, 1) != philox4x32(0, 0));
}

TEST_CASE("Generator holds a seed and an offset", "[factory]") {
  Generator g(7);
  REQUIRE(g.seed() == 7);
  REQUIRE(g.offset() == 0);
  REQUIRE(g.advance(10) == 0);
  REQUIRE(g.offset() == 10);
  REQUIRE(g.advance(5) == 10);
  REQUIRE(g.offset() == 15);
  g.set_offset(3);
  REQUIRE(g.offset() == 3);
  g.manual_seed(9);
  REQUIRE(g.seed() == 9);
  REQUIRE(g.offset() == 0);
  Tensor r = rand({2, 3}, DType::f32, &g);
  REQUIRE(g.offset() == 6);
  randn({4}, DType::f64, &g);
  REQUIRE(g.offset() == 10);
  uniform({0}, 0, 1, DType::f32, &g);
  REQUIRE(g.offset() == 10);
  normal({5, 1}, 0, 2, DType::f32, &g);
  REQUIRE(g.offset() == 15);
}

// ---------------------------------------------------------------- random draws

TEST_CASE("random draws are reproducible bit for bit", "[factory]") {
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Generator a(1234), b(1234);
    REQUIRE(bit_identical(rand({7, 9}, dt, &a), rand({7, 9}, dt, &b)));
    REQUIRE(bit_identical(randn({100}, dt, &a), randn({100}, dt, &b)));
    REQUIRE(bit_identical(uniform({3, 3}, -2, 5, dt, &a), uniform({3, 3}, -2, 5, dt, &b)));
    REQUIRE(bit_identical(normal({50}, 1, 3, dt, &a), normal({50}, 1, 3, dt, &b)));
    // Seeds differ -> draws differ.
    Generator c(1235);
    Tensor x = rand({1000}, dt, &a), y = rand({1000}, dt, &c);
    REQUIRE_FALSE(bit_identical(x, y));
    // Successive draws from one generator differ.
    Tensor z = rand({1000}, dt, &a);
    REQUIRE_FALSE(bit_identical(x, z));
    // Resetting the seed replays the stream.
    Generator d(99);
    Tensor first = randn({64}, dt, &d);
    d.manual_seed(99);
    REQUIRE(bit_identical(randn({64}, dt, &d), first));
  }
}

TEST_CASE("element i of a draw depends only on (seed, offset + i)", "[factory]") {
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Generator whole(5);
    Tensor all = rand({10}, dt, &whole);
    // The same stream drawn in two pieces and another shape.
    Generator parts(5);
    Tensor p0 = rand({2, 2}, dt, &parts), p1 = rand({6}, dt, &parts);
    std::vector<double> v = all.to_vector<double>(), a = p0.to_vector<double>(), b = p1.to_vector<double>();
    for (int i = 0; i < 4; ++i) REQUIRE(v[i] == a[i]);
    for (int i = 0; i < 6; ++i) REQUIRE(v[4 + i] == b[i]);
    // Starting from an offset gives the tail of the stream.
    Generator skip(5);
    skip.set_offset(7);
    std::vector<double> tail = rand({3}, dt, &skip).to_vector<double>();
    for (int i = 0; i < 3; ++i) REQUIRE(tail[i] == v[7 + i]);
    // Normal draws too.
    Generator n1(5), n2(5);
    std::vector<double> nv = randn({8}, dt, &n1).to_vector<double>();
    n2.set_offset(5);
    std::vector<double> nt = randn({3}, dt, &n2).to_vector<double>();
    for (int i = 0; i < 3; ++i) REQUIRE(nt[i] == nv[5 + i]);
  }
}

TEST_CASE("the default generator is seeded by manual_seed", "[factory]") {
  manual_seed(2024);
  REQUIRE(default_generator().seed() == 2024);
  REQUIRE(default_generator().offset() == 0);
  Tensor a = rand({16});
  REQUIRE(default_generator().offset() == 16);
  Tensor b = randn({16}, DType::f64);
  REQUIRE(default_generator().offset() == 32);
  manual_seed(2024);
  REQUIRE(bit_identical(rand({16}), a));
  REQUIRE(bit_identical(randn({16}, DType::f64), b));
  // The default generator and an explicit one with the same seed agree.
  Generator g(2024);
  REQUIRE(bit_identical(rand({16}, DType::f32, &g), a));
  manual_seed(2025);
  REQUIRE_FALSE(bit_identical(rand({16}), a));
}

TEST_CASE("random factories return contiguous tensors of the requested shape and dtype", "[factory]") {
  Generator g(3);
  for (DType dt : {DType::f32, DType::f64}) {
    for (Tensor t : {rand({2, 3, 4}, dt, &g), randn({2, 3, 4}, dt, &g), uniform({2, 3, 4}, 1, 2, dt, &g),
                     normal({2, 3, 4}, 1, 2, dt, &g)}) {
      REQUIRE(t.shape() == Shape{2, 3, 4});
      REQUIRE(t.dtype() == dt);
      REQUIRE(t.is_contiguous());
      for_each_index(t.shape(), [&](const Index& i) { REQUIRE(std::isfinite(at(t, i))); });
    }
    REQUIRE(rand({}, dt, &g).dim() == 0);
    REQUIRE(randn({0, 3}, dt, &g).numel() == 0);
  }
}

TEST_CASE("rand and uniform stay within low <= x < high with the right mean", "[factory]") {
  const int64_t n = 100000;
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Generator g(11);
    Tensor r = rand({n}, dt, &g);
    Stats s = stats(r);
    REQUIRE(s.min >= 0.0);
    REQUIRE(s.max < 1.0);
    REQUIRE(s.min < 0.001);
    REQUIRE(s.max > 0.999);
    REQUIRE(std::abs(s.mean - 0.5) < 0.01);
    REQUIRE(std::abs(s.std - std::sqrt(1.0 / 12)) < 0.01);
    // Each tenth of [0, 1) gets about a tenth of the draws.
    std::vector<int64_t> bins(10, 0);
    for (double x : r.to_vector<double>()) bins[size_t(x * 10)]++;
    for (int64_t c : bins) REQUIRE(std::abs(double(c) / double(n) - 0.1) < 0.01);

    Tensor u = uniform({n}, -2, 3, dt, &g);
    Stats su = stats(u);
    REQUIRE(su.min >= -2.0);
    REQUIRE(su.max < 3.0);
    REQUIRE(std::abs(su.mean - 0.5) < 0.05);
    REQUIRE(std::abs(su.std - 5 / std::sqrt(12.0)) < 0.05);
    // low == high gives that value.
    Tensor c = uniform({10}, 2, 2, dt, &g);
    for_each_index(c.shape(), [&](const Index& i) { REQUIRE(at(c, i) == 2.0); });
  }
}

TEST_CASE("rand f64 uses double precision", "[factory]") {
  Generator g(17);
  std::vector<double> v = rand({1000}, DType::f64, &g).to_vector<double>();
  int64_t finer = 0;
  for (double x : v) finer += double(float(x)) != x;
  REQUIRE(finer > 900);
}

TEST_CASE("randn and normal have the right mean and spread", "[factory]") {
  const int64_t n = 100000;
  for (DType dt : {DType::f32, DType::f64}) {
    INFO(dtype_name(dt));
    Generator g(12);
    Tensor r = randn({n}, dt, &g);
    Stats s = stats(r);
    REQUIRE(std::abs(s.mean) < 0.02);
    REQUIRE(std::abs(s.std - 1.0) < 0.02);
    REQUIRE(s.min < -3.5);
    REQUIRE(s.max > 3.5);
    // About 68.3% within one sigma, 50% positive.
    int64_t within = 0, positive = 0;
    for (double x : r.to_vector<double>()) {
      within += std::abs(x) < 1.0;
      positive += x > 0;
    }
    REQUIRE(std::abs(double(within) / double(n) - 0.6827) < 0.01);
    REQUIRE(std::abs(double(positive) / double(n) - 0.5) < 0.01);
    // Shape does not matter for the statistics.
    Stats s2 = stats(randn({100, 1000}, dt, &g));
    REQUIRE(std::abs(s2.mean) < 0.02);
    REQUIRE(std::abs(s2.std - 1.0) < 0.02);

    Stats sn = stats(normal({n}, 3, 0.5, dt, &g));
    REQUIRE(std::abs(sn.mean - 3.0) < 0.01);
    REQUIRE(std::abs(sn.std - 0.5) < 0.01);
    Tensor z = normal({10}, -1.5, 0, dt, &g);
    for_each_index(z.shape(), [&](const Index& i) { REQUIRE(at(z, i) == -1.5); });
  }
}

TEST_CASE("random factories reject bad arguments", "[factory]") {
  Generator g(1);
  for (DType dt : {DType::i32, DType::i64, DType::b8}) {
    INFO(dtype_name(dt));
    REQUIRE_THROWS_AS(rand({3}, dt, &g), Error);
    REQUIRE_THROWS_AS(randn({3}, dt, &g), Error);
    require_error([&] { uniform({3}, 0, 1, dt, &g); }, "uniform");
    require_error([&] { normal({3}, 0, 1, dt, &g); }, "normal");
  }
  require_error([&] { normal({3}, 0, -1, DType::f32, &g); }, "normal");
  require_error([&] { randn({3}, DType::f64, &g, Device::cpu()); (void)normal({3}, 1, -0.5, DType::f64, &g); },
                "normal");
  require_error([&] { uniform({3}, 2, 1, DType::f32, &g); }, "uniform");
  // A rejected draw does not consume the stream (the one good randn above
  // took 3 counters).
  REQUIRE(g.offset() == 3);
}

TEST_CASE("rand and randn errors name the function that was called", "[factory]") {
  Generator g(1);
  require_error([&] { rand({3}, DType::i64, &g); }, "rand");
  require_error([&] { randn({3}, DType::i32, &g); }, "randn");
}
