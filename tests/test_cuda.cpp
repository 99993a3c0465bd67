// The CUDA backend against the CPU backend: every backend op on random
// inputs (never zeros), in every dtype it takes, on contiguous, strided,
// transposed and broadcast views; the random streams bit for bit; autograd
// through an MLP, a transformer block and each MoE layer; Module::to; errors
// for tensors on different devices; and the caching allocator.
//
// Every case is tagged [cuda] and returns at once, passing, with a warning,
// where cuda_is_available() is false (a CPU-only build, or no GPU). Catch2 v2
// has no SKIP, so a skipped case reads as passed: the warning says so.
//
// Tolerances: f64 results agree to ~1e-12 relative (the GPU sums in another
// order; libdevice and glibc differ by an ulp or two); f32 to ~1e-5 (the CPU
// uses its own f32 exp/erf polynomials, backends/cpu/vec_math.h). Where both
// backends do the same arithmetic in the same order (copies, casts, integer
// ops, comparisons, selections, scatter_add/index_add, the random streams)
// the results must be identical, bit for bit.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "core/backend.h"
#include "core/device.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/join.h"
#include "core/matmul.h"
#include "core/norm.h"
#include "core/reduce.h"
#include "moe/mhmoe.h"
#include "moe/smoe.h"
#include "moe/thor.h"
#include "nn/feedforward.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

#define SKIP_WITHOUT_CUDA()                                          \
  do {                                                               \
    if (!cuda_is_available()) {                                      \
      WARN("skipped: no CUDA backend in this build or no GPU visible"); \
      return;                                                        \
    }                                                                \
  } while (0)

const Device kGpu = Device::cuda(0);
const Device kCpu = Device::cpu();

Tensor host(const Tensor& t) { return t.detach().to(kCpu).contiguous(); }

// Bytes of two tensors of one shape and dtype, compared as laid out row-major.
// A NaN meets any NaN: IEEE 754 leaves the payload and sign of a produced NaN
// to the hardware (a GPU returns its canonical 0x7fffffff, the CPU another).
void require_same_bits(const Tensor& got, const Tensor& want, const std::string& what = "") {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  Tensor g = host(got), w = host(want);
  const size_t bytes = size_t(g.numel()) * dtype_size(g.dtype());
  if (bytes == 0) return;
  if (std::memcmp(g.raw_data(), w.raw_data(), bytes) == 0) return;
  std::vector<double> gv = g.to_vector<double>(), wv = w.to_vector<double>();
  for (size_t i = 0; i < gv.size(); ++i) {
    const bool same = std::memcmp(static_cast<const char*>(g.raw_data()) + i * dtype_size(g.dtype()),
                                  static_cast<const char*>(w.raw_data()) + i * dtype_size(g.dtype()),
                                  dtype_size(g.dtype())) == 0;
    if (!same && !(std::isnan(gv[i]) && std::isnan(wv[i])))
      FAIL("element " << i << " of " << shape_str(g.shape()) << ": got " << gv[i] << ", want " << wv[i]);
  }
}

// Values within atol + rtol * |want|; NaN must meet NaN, inf the same inf.
void require_close_to(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what = "") {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  std::vector<double> gv = host(got).to_vector<double>(), wv = host(want).to_vector<double>();
  for (size_t i = 0; i < gv.size(); ++i) {
    const double g = gv[i], w = wv[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g)) {
      ok = std::isnan(w) && std::isnan(g);
    } else if (std::isinf(w) || std::isinf(g)) {
      ok = g == w;
    } else {
      ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    }
    if (!ok) FAIL("element " << i << " of " << shape_str(want.shape()) << ": got " << g << ", want " << w);
  }
}

// Tolerances for results computed differently on the two devices.
double rtol_for(DType t) { return t == DType::f64 ? 1e-11 : 2e-5; }
double atol_for(DType t) { return t == DType::f64 ? 1e-13 : 2e-6; }
void require_close_dt(const Tensor& got, const Tensor& want, const std::string& what = "") {
  require_close_to(got, want, rtol_for(want.dtype()), atol_for(want.dtype()), what);
}

// floor, on the host (moegrad has no floor op): integer-valued test data.
Tensor floor_like(const Tensor& x) {
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = std::floor(e);
  return from_vector(v, x.shape());
}

// Random CPU tensors, never all zeros: normals, or integers in [-range, range].
Tensor rnd(const Shape& shape, DType dtype, uint64_t seed) {
  Generator gen(seed);
  if (is_floating(dtype)) return randn(shape, dtype, &gen);
  Tensor v = floor_like(mul(randn(shape, DType::f64, &gen), 7.0));
  return cast(v, dtype);
}

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};
const DType kNumeric[] = {DType::f32, DType::f64, DType::i32, DType::i64};
const DType kFloating[] = {DType::f32, DType::f64};

}  // namespace

TEST_CASE("cuda: tensors move to the GPU and back unchanged in every dtype", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kAllDtypes) {
    Tensor x = rnd({3, 5, 7}, t, 1);
    Tensor g = x.to(kGpu);
    REQUIRE(g.device() == kGpu);
    REQUIRE(g.dtype() == t);
    require_same_bits(g.to(kCpu), x, dtype_name(t));
    // A strided view moves as its values.
    require_same_bits(x.transpose(0, 2).to(kGpu), x.transpose(0, 2).contiguous(), dtype_name(t));
  }
  // Gradients flow back across to().
  Tensor x = rnd({4, 3}, DType::f64, 2).requires_grad_();
  sum(mul(x.to(kGpu), x.to(kGpu))).backward();
  REQUIRE(x.grad().device() == kCpu);
  require_close_to(x.grad(), mul(x.detach(), 2.0), 1e-15, 0);
  // item/to_vector/printing read through the host.
  REQUIRE(scalar_tensor(2.5, DType::f32, kGpu).item<float>() == 2.5f);
  REQUIRE(Tensor(zeros({2}, DType::f32, kGpu)).str().find("cuda:0") != std::string::npos);
}

TEST_CASE("cuda: fill and copy with casts on strided views", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kAllDtypes) {
    Tensor c = rnd({6, 8}, t, 3), g = c.to(kGpu);
    fill_(c.transpose(0, 1).slice(0, 1, 7, 2), 3.0);
    fill_(g.transpose(0, 1).slice(0, 1, 7, 2), 3.0);
    require_same_bits(g, c, std::string("fill ") + dtype_name(t));
  }
  for (DType from : kAllDtypes)
    for (DType to : kAllDtypes) {
      Tensor src = from == DType::f32 || from == DType::f64 ? mul(rnd({5, 4, 3}, from, 4), 5.0) : rnd({5, 4, 3}, from, 4);
      auto view = [](const Tensor& v) { return v.permute({2, 0, 1}).slice(1, 0, 5, 2); };
      require_same_bits(cast(view(src.to(kGpu)), to), cast(view(src), to),
                        std::string("cast ") + dtype_name(from) + " -> " + dtype_name(to));
      // copy_ into a strided destination, from a broadcast source.
      Tensor dc = rnd({4, 6}, to, 5), dg = dc.to(kGpu);
      Tensor row = src.reshape({-1}).slice(0, 0, 4).reshape({4, 1});
      copy_(dc.transpose(0, 1), row.reshape({1, 4}).expand({6, 4}));
      copy_(dg.transpose(0, 1), row.to(kGpu).reshape({1, 4}).expand({6, 4}));
      require_same_bits(dg, dc, std::string("copy_ ") + dtype_name(from) + " -> " + dtype_name(to));
    }
}

TEST_CASE("cuda: arange", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric) {
    require_same_bits(arange(-3.5, 1000.25, 0.75, t, kGpu), arange(-3.5, 1000.25, 0.75, t), dtype_name(t));
    require_same_bits(arange(5000, t, kGpu), arange(5000, t), dtype_name(t));
  }
}

TEST_CASE("cuda: random streams are the CPU's, bit for bit", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kFloating) {
    Generator gc(42), gg(42);
    // Several draws, so the offsets advance the same way on both devices.
    for (int round = 0; round < 3; ++round) {
      require_same_bits(uniform({1000, 37}, -2, 3, t, &gg, kGpu), uniform({1000, 37}, -2, 3, t, &gc),
                        std::string("uniform ") + dtype_name(t));
      require_same_bits(rand({17}, t, &gg, kGpu), rand({17}, t, &gc), std::string("rand ") + dtype_name(t));
      Tensor ng = normal({1000, 37}, 0.5, 2.0, t, &gg, kGpu), nc = normal({1000, 37}, 0.5, 2.0, t, &gc);
      if (t == DType::f32) {
        require_same_bits(ng, nc, "normal f32");
      } else {
        // log and cos differ by an ulp or two between libdevice and glibc.
        require_close_to(ng, nc, 1e-14, 1e-14, "normal f64");
      }
    }
    REQUIRE(gc.offset() == gg.offset());
  }
  // The default generator serves both devices from one stream.
  manual_seed(7);
  Tensor a = randn({300}, DType::f32, nullptr, kGpu);
  manual_seed(7);
  require_same_bits(a, randn({300}));
}

TEST_CASE("cuda: every unary op, all dtypes, strided sources", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  const UnaryOp all[] = {UnaryOp::neg,           UnaryOp::abs,           UnaryOp::exp,     UnaryOp::log,
                         UnaryOp::sqrt,          UnaryOp::rsqrt,         UnaryOp::tanh,    UnaryOp::sigmoid,
                         UnaryOp::relu,          UnaryOp::gelu_erf,      UnaryOp::gelu_tanh, UnaryOp::silu,
                         UnaryOp::pow,           UnaryOp::gelu_erf_grad, UnaryOp::gelu_tanh_grad};
  for (DType t : kNumeric) {
    for (UnaryOp op : all) {
      const bool integer_op = op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu;
      if (!is_floating(t) && !integer_op) continue;
      Tensor x = rnd({9, 33}, t, 10 + int(op));
      if (op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt || op == UnaryOp::pow)
        x = add(abs(x), 0.1);
      for (double arg : {2.0, 3.5}) {
        if (op != UnaryOp::pow && arg != 2.0) continue;
        for (bool strided : {false, true}) {
          auto view = [&](const Tensor& v) { return strided ? v.transpose(0, 1).slice(0, 1, 33, 3) : v; };
          Tensor src = view(x), src_gpu = view(x.to(kGpu));
          Tensor want = Tensor::empty(src.shape(), t), got = Tensor::empty(src.shape(), t, kGpu);
          backend(kCpu).unary(op, src, want, arg);
          backend(kGpu).unary(op, src_gpu, got, arg);
          const std::string what = std::string("unary op ") + std::to_string(int(op)) + " " + dtype_name(t) +
                                   (strided ? " strided" : "") + " arg " + std::to_string(arg);
          if (integer_op) {
            require_same_bits(got, want, what);
          } else {
            require_close_dt(got, want, what);
          }
        }
      }
    }
  }
  // Strided on the GPU side too: the source's own view of GPU memory.
  Tensor x = rnd({8, 12}, DType::f32, 20), xg = x.to(kGpu);
  require_close_dt(tanh(xg.transpose(0, 1).slice(1, 1, 8, 2)), tanh(x.transpose(0, 1).slice(1, 1, 8, 2)));
  require_close_dt(gelu(xg.t(), true), gelu(x.t(), true));
  require_close_dt(silu(xg.t()), silu(x.t()));
}

TEST_CASE("cuda: every binary op with broadcasting and transposed operands", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric) {
    Tensor a = rnd({4, 1, 5}, t, 30), b = rnd({5, 3}, t, 31).t();  // b: [3, 5] transposed view
    if (!is_floating(t)) b = add(abs(b), 1.0);                      // no integer division by zero
    if (is_floating(t)) {  // some NaNs, to check their propagation through maximum/minimum
      Tensor nan = full({}, std::nan(""), t);
      a = where(gt(a, 1.2), nan, a);
    }
    // Ties for the comparisons: half of b's row 0 copies a.
    Tensor ag = a.to(kGpu), bg = b.to(kGpu);
    auto check = [&](const char* name, Tensor (*f)(const Tensor&, const Tensor&), bool exact) {
      Tensor want = f(a, b), got = f(ag, bg);
      if (exact) {
        require_same_bits(got, want, std::string(name) + " " + dtype_name(t));
      } else {
        require_close_dt(got, want, std::string(name) + " " + dtype_name(t));
      }
    };
    check("add", add, true);
    check("sub", sub, true);
    check("mul", mul, true);
    if (is_floating(t)) check("div", div, t == DType::f64);  // f64 division is exact-rounded everywhere
    check("maximum", maximum, true);
    check("minimum", minimum, true);
    check("eq", eq, true);
    check("ne", ne, true);
    check("lt", lt, true);
    check("le", le, true);
    check("gt", gt, true);
    check("ge", ge, true);
    // Ties: a tensor against itself, and against a scalar it contains.
    require_same_bits(eq(ag, ag), eq(a, a));
    require_same_bits(le(ag.transpose(0, 2), ag.transpose(0, 2)), le(a.transpose(0, 2), a.transpose(0, 2)));
    require_same_bits(add(ag, 2.0), add(a, 2.0));
  }
  // Comparisons on bool.
  Tensor p = gt(rnd({6, 7}, DType::f32, 32), 0.0), q = gt(rnd({7}, DType::f32, 33), 0.0);
  require_same_bits(eq(p.to(kGpu), q.to(kGpu)), eq(p, q));
  require_same_bits(lt(p.to(kGpu), q.to(kGpu)), lt(p, q));
}

TEST_CASE("cuda: where with broadcast operands, every dtype", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kAllDtypes) {
    Tensor c = gt(rnd({5, 1, 4}, DType::f32, 40), 0.0), a = rnd({3, 4}, t, 41), b = rnd({4}, t, 42);
    require_same_bits(where(c.to(kGpu), a.to(kGpu).t().t(), b.to(kGpu)), where(c, a, b), dtype_name(t));
  }
}

TEST_CASE("cuda: reductions over every dim, every op", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric) {
    Tensor x = rnd({7, 300, 5}, t, 50);
    if (is_floating(t)) x = where(gt(abs(x), 3.0), full({}, std::nan(""), t), x);  // a few NaNs
    Tensor xg = x.to(kGpu);
    for (std::vector<int64_t> dims : {std::vector<int64_t>{0}, {1}, {2}, {0, 2}, {}}) {
      const std::string what = std::string(dtype_name(t)) + " dims " + shape_str(dims);
      if (is_floating(t)) {
        require_close_dt(sum(xg, dims), sum(x, dims), "sum " + what);
        require_close_dt(mean(xg, dims, true), mean(x, dims, true), "mean " + what);
        require_close_dt(var(xg, dims), var(x, dims), "var " + what);
        require_close_dt(var(xg, dims, false, 0), var(x, dims, false, 0), "var0 " + what);
        require_close_dt(logsumexp(xg, dims), logsumexp(x, dims), "logsumexp " + what);
      } else {
        require_same_bits(sum(xg, dims), sum(x, dims), "sum " + what);
      }
      require_same_bits(amax(xg, dims), amax(x, dims), "amax " + what);
      require_same_bits(amin(xg, dims), amin(x, dims), "amin " + what);
    }
    for (int64_t d = 0; d < 3; ++d) {
      require_same_bits(argmax(xg, d), argmax(x, d), "argmax");
      require_same_bits(argmin(xg, d, true), argmin(x, d, true), "argmin");
    }
    require_same_bits(argmax(xg), argmax(x));
    // Many ties: the first extreme wins on both.
    Tensor ties = cast(cast(mul(cast(x, DType::f64), 0.2), DType::i32), t);
    for (int64_t d = 0; d < 3; ++d) require_same_bits(argmax(ties.to(kGpu), d), argmax(ties, d), "argmax ties");
  }
  // Long rows (many tiles per thread), no NaN, and logsumexp of -inf rows.
  Tensor big = rnd({3, 20000}, DType::f32, 51);
  require_close_to(sum(big.to(kGpu), {1}), sum(big, {1}), 1e-5, 1e-4);
  require_close_dt(logsumexp(big.to(kGpu), {1}), logsumexp(big, {1}));
  Tensor ninf = full({2, 5}, -INFINITY);
  require_same_bits(logsumexp(ninf.to(kGpu), {1}), logsumexp(ninf, {1}));
}

TEST_CASE("cuda: indices out of range are refused, read on the device", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Tensor x = rnd({5, 3}, DType::f32, 54).to(kGpu);
  for (DType t : {DType::i32, DType::i64}) {
    Tensor bad = cast(from_vector(std::vector<double>{0, 4, 99, 1}), t).to(kGpu);
    CHECK_THROWS_WITH(index_select(x, 0, bad), Catch::Contains("index 99 is out of range for size 5"));
    Tensor neg = cast(from_vector(std::vector<double>{0, -3}), t).to(kGpu);
    CHECK_THROWS_WITH(gather(x, 0, neg.unsqueeze(1)), Catch::Contains("index -3 is out of range"));
    CHECK_THROWS_WITH(bincount(neg), Catch::Contains("non-negative, got -3"));
    require_same_bits(bincount(cast(from_vector(std::vector<double>{3, 0, 3}), t).to(kGpu)),
                      from_vector(std::vector<int64_t>{1, 0, 0, 2}));
  }
}

TEST_CASE("cuda: few long rows are split over the SMs, with the same results", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric) {
    for (Shape shape : {Shape{1 << 21}, Shape{5, 300001}}) {
      Tensor x = rnd(shape, t, 52);
      if (is_floating(t)) x = add(x, 0.25);  // a sum far from zero, so rtol means something
      Tensor xg = x.to(kGpu);
      const std::string what = std::string(dtype_name(t)) + " " + shape_str(shape);
      const Dims last = {int64_t(shape.size()) - 1};
      if (is_floating(t)) {
        require_close_dt(sum(xg, last), sum(x, last), "sum " + what);
        require_close_dt(mean(xg, last), mean(x, last), "mean " + what);
        require_same_bits(sum(xg, last), sum(xg, last), "sum twice " + what);  // fixed pieces, fixed order
      } else {
        require_same_bits(sum(xg, last), sum(x, last), "sum " + what);
      }
      require_same_bits(amax(xg, last), amax(x, last), "amax " + what);
      require_same_bits(amin(xg, last), amin(x, last), "amin " + what);
    }
  }
  // A NaN deep inside one piece wins the row.
  Tensor x = rnd({1 << 20}, DType::f32, 53);
  x = where(eq(arange(0, 1 << 20, 1, DType::f32), 777777.0), full({}, std::nan(""), DType::f32), x);
  CHECK(std::isnan(amax(x.to(kGpu)).item<float>()));
  CHECK(std::isnan(amin(x.to(kGpu)).item<float>()));
  CHECK(std::isnan(sum(x.to(kGpu)).item<float>()));
}

TEST_CASE("cuda: softmax, log_softmax and cumsum", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kFloating)
    for (int64_t n : {1, 7, 256, 1000, 3001}) {
      Tensor x = mul(rnd({5, n}, t, 60 + n), 4.0);
      const std::string what = std::string(dtype_name(t)) + " n " + std::to_string(n);
      require_close_dt(softmax(x.to(kGpu), 1), softmax(x, 1), "softmax " + what);
      require_close_dt(log_softmax(x.to(kGpu), 1), log_softmax(x, 1), "log_softmax " + what);
      require_close_dt(softmax(x.to(kGpu), 0), softmax(x, 0), "softmax dim 0 " + what);
      Tensor cs = cumsum(x.to(kGpu), 1), cc = cumsum(x, 1);
      require_close_to(cs, cc, rtol_for(t), t == DType::f64 ? 1e-11 : 1e-4, "cumsum " + what);
    }
  for (DType t : {DType::i32, DType::i64}) {
    Tensor x = rnd({4, 1000}, t, 61);
    require_same_bits(cumsum(x.to(kGpu), 1), cumsum(x, 1), dtype_name(t));
    require_same_bits(cumsum(x.to(kGpu), 0), cumsum(x, 0), dtype_name(t));
  }
}

TEST_CASE("cuda: layer_norm and rms_norm, forward and backward, deterministic", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kFloating)
    for (int64_t rows : {1, 3, 200}) {
      for (int64_t n : {1, 5, 300}) {
        const std::string what = std::string(dtype_name(t)) + " " + std::to_string(rows) + "x" + std::to_string(n);
        Tensor x = add(rnd({rows, n}, t, 70), 0.3), w = rnd({n}, t, 71), b = rnd({n}, t, 72), gy = rnd({rows, n}, t, 73);
        for (bool center : {true, false}) {
          Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_(), bc = b.clone().requires_grad_();
          Tensor xg = x.to(kGpu).requires_grad_(), wg = w.to(kGpu).requires_grad_(), bg = b.to(kGpu).requires_grad_();
          Tensor yc = center ? layer_norm(xc, wc, bc) : rms_norm(xc, wc);
          Tensor yg = center ? layer_norm(xg, wg, bg) : rms_norm(xg, wg);
          require_close_dt(yg, yc, "forward " + what);
          yc.backward(gy);
          yg.backward(gy.to(kGpu));
          require_close_to(xg.grad(), xc.grad(), rtol_for(t) * 10, atol_for(t) * 10, "dx " + what);
          require_close_to(wg.grad(), wc.grad(), rtol_for(t) * 10, atol_for(t) * 10, "dweight " + what);
          if (center) require_close_to(bg.grad(), bc.grad(), rtol_for(t) * 10, atol_for(t) * 10, "dbias " + what);
          // Run again: bit-identical gradients (no atomics in the column sums).
          Tensor w2 = w.to(kGpu).requires_grad_();
          Tensor y2 = center ? layer_norm(x.to(kGpu), w2, b.to(kGpu)) : rms_norm(x.to(kGpu), w2);
          y2.backward(gy.to(kGpu));
          require_same_bits(w2.grad(), wg.grad(), "dweight run to run " + what);
        }
      }
    }
  // Without weight and bias.
  Tensor x = rnd({6, 40}, DType::f32, 74);
  require_close_dt(layer_norm(x.to(kGpu), Tensor(), Tensor()), layer_norm(x, Tensor(), Tensor()));
}

TEST_CASE("cuda: matmul on every layout, batched and broadcast", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  REQUIRE_FALSE(cuda_tf32());
  for (DType t : kFloating) {
    const double rtol = t == DType::f64 ? 1e-12 : 1e-5, atol = t == DType::f64 ? 1e-12 : 1e-4;
    auto check = [&](const Tensor& a, const Tensor& b, const std::string& what) {
      require_close_to(matmul(a.to(kGpu), b.to(kGpu)), matmul(a, b), rtol, atol, what + " " + dtype_name(t));
    };
    Tensor a = rnd({37, 64}, t, 80), b = rnd({64, 19}, t, 81);
    check(a, b, "plain");
    check(rnd({64, 37}, t, 82).t(), b, "a transposed");
    check(a, rnd({19, 64}, t, 83).t(), "b transposed");
    check(rnd({64, 37}, t, 82).t(), rnd({19, 64}, t, 83).t(), "both transposed");
    check(rnd({37, 128}, t, 84).slice(1, 0, 128, 2), b, "a with column stride 2 (copied)");
    check(rnd({37, 80}, t, 85).narrow(1, 3, 64), rnd({64, 40}, t, 86).narrow(1, 5, 19), "padded rows (ld > cols)");
    check(rnd({64}, t, 87), b, "vector @ matrix");
    check(a, rnd({64}, t, 88), "matrix @ vector");
    check(rnd({1, 64}, t, 89), rnd({64, 1}, t, 90), "1x1 result");
    check(rnd({5, 37, 64}, t, 91), b, "batched @ shared matrix");
    check(a, rnd({5, 64, 19}, t, 92), "shared matrix @ batched");
    check(rnd({5, 37, 64}, t, 93), rnd({5, 64, 19}, t, 94), "batched @ batched");
    check(rnd({2, 1, 37, 64}, t, 95), rnd({1, 3, 64, 19}, t, 96).transpose(-1, -2).transpose(-1, -2),
          "broadcast batch dims");
    check(rnd({5, 64, 37}, t, 97).transpose(1, 2), rnd({5, 19, 64}, t, 98).transpose(1, 2), "batched transposed");
    check(rnd({3, 0}, t, 99), rnd({0, 4}, t, 99), "K = 0");
  }
  // Gradients of a batched broadcast matmul.
  Tensor a = rnd({3, 6, 8}, DType::f64, 100).requires_grad_(), b = rnd({8, 5}, DType::f64, 101).requires_grad_();
  Tensor ag = a.detach().to(kGpu).requires_grad_(), bg = b.detach().to(kGpu).requires_grad_();
  sum(pow(matmul(a, b), 2)).backward();
  sum(pow(matmul(ag, bg), 2)).backward();
  require_close_to(ag.grad(), a.grad(), 1e-12, 1e-12);
  require_close_to(bg.grad(), b.grad(), 1e-12, 1e-12);
  // TF32: a switch, off by default; on, f32 results are within ~1e-3.
  cuda_set_tf32(true);
  REQUIRE(cuda_tf32());
  Tensor x = rnd({64, 256}, DType::f32, 102), y = rnd({256, 32}, DType::f32, 103);
  Tensor z = matmul(x.to(kGpu), y.to(kGpu));
  cuda_set_tf32(false);
  REQUIRE_FALSE(cuda_tf32());
  require_close_to(z, matmul(x, y), 5e-3, 5e-2, "tf32");
}

TEST_CASE("cuda: index_select, gather and embedding, every dtype and index type", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kAllDtypes)
    for (DType it : {DType::i32, DType::i64}) {
      const std::string what = std::string(dtype_name(t)) + " index " + dtype_name(it);
      Tensor x = rnd({6, 7, 5}, t, 110);
      Tensor xs = x.permute({2, 0, 1});  // a strided source, [5, 6, 7]
      for (int64_t d = 0; d < 3; ++d) {
        Tensor idx = cast(from_vector(std::vector<int64_t>{3, 0, 3, 1, 4, 4, 2}, {7}), it);
        require_same_bits(index_select(xs.to(kGpu), d, idx.to(kGpu)), index_select(xs, d, idx), "index_select " + what);
        // gather: an index of x's rank, no larger than x outside dim.
        Shape ishape = xs.shape();
        ishape[size_t(d)] = 9;
        ishape[size_t((d + 1) % 3)] -= 1;
        Tensor gi = cast(floor_like(mul(rand(ishape, DType::f64), double(xs.size(d)) - 1e-9)), it);
        require_same_bits(gather(xs.to(kGpu), d, gi.to(kGpu)), gather(xs, d, gi), "gather " + what);
        // A strided index.
        Tensor gi_strided = gi.transpose(0, 2).contiguous().transpose(0, 2);  // same values, another layout
        require_same_bits(gather(xs.to(kGpu), d, gi_strided.to(kGpu).transpose(0, 2).contiguous().transpose(0, 2)),
                          gather(xs, d, gi_strided), "gather strided index " + what);
      }
    }
  Tensor w = rnd({50, 16}, DType::f32, 111).requires_grad_();
  Tensor wg = w.detach().to(kGpu).requires_grad_();
  Tensor ids = from_vector(std::vector<int64_t>{3, 49, 3, 0, 7, 3, 12, 49}, {2, 4});
  Tensor gy = rnd({2, 4, 16}, DType::f32, 112);
  embedding(w, ids).backward(gy);
  embedding(wg, ids.to(kGpu)).backward(gy.to(kGpu));
  require_same_bits(wg.grad(), w.grad(), "embedding backward (index_add)");
}

TEST_CASE("cuda: scatter_add and index_add match the CPU bit for bit, run after run", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric)
    for (int64_t d = 0; d < 3; ++d) {
      const std::string what = std::string(dtype_name(t)) + " dim " + std::to_string(d);
      Tensor x = rnd({5, 6, 4}, t, 120);
      Shape ishape = x.shape();
      ishape[size_t(d)] = 40;  // many contributions per destination
      Tensor idx = cast(floor_like(mul(rand(ishape, DType::f64), double(x.size(d)) - 1e-9)), DType::i64);
      Tensor src = rnd(ishape, t, 121);
      Tensor want = scatter_add(x, d, idx, src);
      Tensor got = scatter_add(x.to(kGpu), d, idx.to(kGpu), src.to(kGpu));
      require_same_bits(got, want, "scatter_add " + what);
      require_same_bits(scatter_add(x.to(kGpu), d, cast(idx, DType::i32).to(kGpu), src.to(kGpu)), got,
                        "scatter_add again, i32 index " + what);
      // A strided src.
      Tensor src_base = rnd({ishape[2], ishape[1], ishape[0]}, t, 122);
      require_same_bits(scatter_add(x.to(kGpu), d, idx.to(kGpu), src_base.to(kGpu).permute({2, 1, 0})),
                        scatter_add(x, d, idx, src_base.permute({2, 1, 0})), "scatter_add strided src " + what);

      Tensor li = cast(floor_like(mul(rand({30}, DType::f64), double(x.size(d)) - 1e-9)), DType::i32);
      Shape sshape = x.shape();
      sshape[size_t(d)] = 30;
      Tensor s2 = rnd(sshape, t, 123);
      Tensor want2 = index_add(x, d, li, s2);
      require_same_bits(index_add(x.to(kGpu), d, li.to(kGpu), s2.to(kGpu)), want2, "index_add " + what);
      require_same_bits(index_add(x.to(kGpu), d, li.to(kGpu), s2.to(kGpu).transpose(0, 2).contiguous().transpose(0, 2)),
                        want2, "index_add strided src " + what);
    }
}

TEST_CASE("cuda: topk, small and large k, ties and NaN", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kNumeric) {
    // Rounded values: many ties; a NaN and signed zeros in floating rows.
    Tensor x = cast(cast(mul(rnd({6, 50}, DType::f64, 130), 3.0), DType::i64), t);
    if (is_floating(t)) {
      std::vector<double> v = x.to_vector<double>();
      v[3] = std::nan("");
      v[60] = -0.0;
      v[61] = 0.0;
      v[62] = -0.0;
      v[75] = std::nan("");
      v[80] = INFINITY;
      v[81] = -INFINITY;
      x = cast(from_vector(v, {6, 50}), t);
    }
    for (int64_t k : {1, 2, 5, 16, 17, 40, 50})
      for (bool largest : {true, false}) {
        const std::string what =
            std::string(dtype_name(t)) + " k " + std::to_string(k) + (largest ? " largest" : " smallest");
        auto [vc, ic] = topk(x, k, -1, largest);
        auto [vg, ig] = topk(x.to(kGpu), k, -1, largest);
        require_same_bits(vg, vc, "values " + what);
        require_same_bits(ig, ic, "indices " + what);
        auto [vc0, ic0] = topk(x, std::min<int64_t>(k, 6), 0, largest);  // along a strided dim
        auto [vg0, ig0] = topk(x.to(kGpu), std::min<int64_t>(k, 6), 0, largest);
        require_same_bits(vg0, vc0, "values dim 0 " + what);
        require_same_bits(ig0, ic0, "indices dim 0 " + what);
      }
  }
  // A long row, as in sampling from a vocabulary.
  Tensor logits = rnd({2, 5000}, DType::f32, 131);
  auto [vc, ic] = topk(logits, 40, -1, true);
  auto [vg, ig] = topk(logits.to(kGpu), 40, -1, true);
  require_same_bits(ig, ic);
  require_same_bits(vg, vc);
}

TEST_CASE("cuda: sort is stable, NaN last, in every dtype", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kAllDtypes)
    for (int64_t rows : {1, 3, 70000}) {
      const int64_t n = rows > 100 ? 9 : 300;
      Tensor x = cast(cast(mul(rnd({rows, n}, DType::f64, 140), 3.0), DType::i64), t);  // many ties
      if (is_floating(t)) {
        std::vector<double> v = x.to_vector<double>();
        for (size_t i = 0; i < v.size(); i += 37) v[i] = std::nan("");
        for (size_t i = 5; i < v.size(); i += 41) v[i] = -0.0;
        for (size_t i = 7; i < v.size(); i += 43) v[i] = INFINITY;
        x = cast(from_vector(v, x.shape()), t);
      }
      for (bool descending : {false, true}) {
        const std::string what = std::string(dtype_name(t)) + " rows " + std::to_string(rows) +
                                 (descending ? " descending" : " ascending");
        auto [vc, ic] = sort(x, -1, descending);
        auto [vg, ig] = sort(x.to(kGpu), -1, descending);
        require_same_bits(ig, ic, "indices " + what);
        require_same_bits(vg, vc, "values " + what);
      }
    }
  // Sorting along dim 0 of a transposed view, with gradients.
  Tensor y = rnd({40, 3}, DType::f64, 141).requires_grad_();
  Tensor yg = y.detach().to(kGpu).requires_grad_();
  Tensor gy = rnd({40, 3}, DType::f64, 142);
  sort(y, 0).first.backward(gy);
  sort(yg, 0).first.backward(gy.to(kGpu));
  require_same_bits(yg.grad(), y.grad());
}

TEST_CASE("cuda: bincount", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType it : {DType::i32, DType::i64}) {
    Tensor x = cast(floor_like(mul(rand({10000}, DType::f64), 17.0 - 1e-9)), it);
    require_same_bits(bincount(x.to(kGpu)), bincount(x));
    require_same_bits(bincount(x.to(kGpu).slice(0, 1, 10000, 3), 30), bincount(x.slice(0, 1, 10000, 3), 30));
  }
}

namespace {

// A copy of a CPU module's weights in a GPU module built the same way.
template <class M>
void copy_weights_to_gpu(const M& cpu_module, M& gpu_module) {
  gpu_module.to(kGpu);
  gpu_module.load_state_dict(cpu_module.state_dict());
}

// Every parameter's gradient on the GPU against the CPU's.
void require_same_grads(const Module& gpu_module, const Module& cpu_module, double rtol, double atol) {
  NamedTensors g = gpu_module.named_parameters(), c = cpu_module.named_parameters();
  REQUIRE(g.size() == c.size());
  for (size_t i = 0; i < g.size(); ++i) {
    REQUIRE(g[i].first == c[i].first);
    if (!c[i].second.grad().defined()) {
      REQUIRE_FALSE(g[i].second.grad().defined());
      continue;
    }
    REQUIRE(g[i].second.grad().device() == kGpu);
    require_close_to(g[i].second.grad(), c[i].second.grad(), rtol, atol, "grad of " + c[i].first);
  }
}

struct Mlp : Module {
  std::shared_ptr<Linear> fc1, fc2;
  explicit Mlp(DType t)
      : fc1(register_module("fc1", std::make_shared<Linear>(12, 32, true, t))),
        fc2(register_module("fc2", std::make_shared<Linear>(32, 5, true, t))) {}
  Tensor forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }
};

}  // namespace

TEST_CASE("cuda: autograd through an MLP, and training steps, match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  for (DType t : kFloating) {
    const double rtol = t == DType::f64 ? 1e-10 : 1e-4, atol = t == DType::f64 ? 1e-12 : 1e-5;
    Mlp cpu(t), gpu(t);
    copy_weights_to_gpu(cpu, gpu);
    Tensor x = rnd({16, 12}, t, 150);
    Tensor y = cast(floor_like(mul(rand({16}, DType::f64), 5 - 1e-9)), DType::i64);
    AdamW oc(cpu.parameters(), 1e-2), og(gpu.parameters(), 1e-2);
    for (int step = 0; step < 3; ++step) {
      oc.zero_grad();
      og.zero_grad();
      Tensor lc = cross_entropy(cpu.forward(x), y), lg = cross_entropy(gpu.forward(x.to(kGpu)), y.to(kGpu));
      require_close_to(lg, lc, rtol, atol, "loss");
      lc.backward();
      lg.backward();
      require_same_grads(gpu, cpu, rtol, atol);
      oc.step();
      og.step();
    }
    NamedTensors pg = gpu.named_parameters(), pc = cpu.named_parameters();
    for (size_t i = 0; i < pg.size(); ++i) require_close_to(pg[i].second, pc[i].second, rtol, atol, pc[i].first);
  }
}

TEST_CASE("cuda: a transformer block and a small decoder LM match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  {
    const DType t = DType::f64;
    TransformerBlock cpu(32, 4, std::make_shared<FeedForward>(32, 64, FfnActivation::gelu, true, t), 0.0, false, t);
    TransformerBlock gpu(32, 4, std::make_shared<FeedForward>(32, 64, FfnActivation::gelu, true, t), 0.0, false, t);
    copy_weights_to_gpu(cpu, gpu);
    Tensor x = rnd({2, 9, 32}, t, 160);
    Tensor xc = x.clone().requires_grad_(), xg = x.to(kGpu).requires_grad_();
    Tensor yc = cpu.forward(xc, true), yg = gpu.forward(xg, true);
    require_close_to(yg, yc, 1e-10, 1e-12, "block output");
    Tensor gy = rnd({2, 9, 32}, t, 161);
    yc.backward(gy);
    yg.backward(gy.to(kGpu));
    require_close_to(xg.grad(), xc.grad(), 1e-10, 1e-12, "block dx");
    require_same_grads(gpu, cpu, 1e-10, 1e-12);
  }
  {
    TransformerConfig c;
    c.vocab = 64;
    c.dim = 32;
    c.heads = 4;
    c.layers = 2;
    c.ffn_hidden = 64;
    c.max_len = 16;
    DecoderLM cpu(c), gpu(c);
    copy_weights_to_gpu(cpu, gpu);
    Tensor ids = cast(floor_like(mul(rand({3, 16}, DType::f64), 64 - 1e-9)), DType::i64);
    Tensor targets = cast(floor_like(mul(rand({3, 16}, DType::f64), 64 - 1e-9)), DType::i64);
    Tensor lc = cross_entropy(cpu.forward(ids), targets), lg = cross_entropy(gpu.forward(ids.to(kGpu)), targets.to(kGpu));
    require_close_to(lg, lc, 1e-5, 1e-5, "LM loss");
    lc.backward();
    lg.backward();
    require_same_grads(gpu, cpu, 1e-3, 1e-5);
  }
}

namespace {

// Routing picks experts by comparing router scores, so the layers run in f64
// where a near-tie cannot fall differently on the two devices.
MoEConfig moe_config(int64_t heads) {
  MoEConfig c;
  c.dim = 16;
  c.hidden = 24;
  c.num_experts = 4;
  c.top_k = 2;
  c.heads = heads;
  c.capacity_factor = 1.0;  // some tokens dropped: the capacity path runs too
  c.balance_weight = 0.5;
  c.z_weight = 0.1;
  c.dtype = DType::f64;
  return c;
}

template <class Layer>
void check_moe_layer(Layer& cpu, Layer& gpu, const std::string& what) {
  copy_weights_to_gpu(cpu, gpu);
  Tensor x = rnd({3, 10, 16}, DType::f64, 170);
  Tensor xc = x.clone().requires_grad_(), xg = x.to(kGpu).requires_grad_();
  Tensor yc = cpu.forward(xc), yg = gpu.forward(xg);
  require_close_to(yg, yc, 1e-10, 1e-12, what + " output");
  REQUIRE(gpu.aux_loss().device() == kGpu);
  require_close_to(gpu.aux_loss(), cpu.aux_loss(), 1e-10, 1e-12, what + " aux loss");
  Tensor gy = rnd({3, 10, 16}, DType::f64, 171);
  add(sum(mul(yc, gy)), cpu.aux_loss()).backward();
  add(sum(mul(yg, gy.to(kGpu))), gpu.aux_loss()).backward();
  require_close_to(xg.grad(), xc.grad(), 1e-10, 1e-12, what + " dx");
  require_same_grads(gpu, cpu, 1e-10, 1e-12);
}

}  // namespace

TEST_CASE("cuda: SMoE forward and backward match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  MoE cpu(moe_config(1)), gpu(moe_config(1));
  check_moe_layer(cpu, gpu, "SMoE");
  REQUIRE(gpu.last_stats().routed == cpu.last_stats().routed);
  REQUIRE(gpu.last_stats().kept == cpu.last_stats().kept);
}

TEST_CASE("cuda: MH-MoE forward and backward match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  MHMoE cpu(moe_config(4)), gpu(moe_config(4));
  check_moe_layer(cpu, gpu, "MH-MoE");
}

TEST_CASE("cuda: THOR forward and backward match the CPU", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  ThorConfig c;
  c.dim = 16;
  c.hidden = 24;
  c.num_experts = 3;
  c.dtype = DType::f64;
  c.seed = 5;
  Thor cpu(c), gpu(c);  // one seed: the same expert draws on both
  check_moe_layer(cpu, gpu, "THOR");
  require_same_bits(gpu.last_experts(), cpu.last_experts(), "THOR expert draws");
}

TEST_CASE("cuda: Module::to moves parameters in place, keeping identity", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Linear lin(4, 3);
  Tensor w = lin.weight;  // a handle held elsewhere, as an optimizer holds one
  Tensor before = w.detach().clone();
  sum(lin.forward(rnd({2, 4}, DType::f32, 180))).backward();
  REQUIRE(w.grad().defined());
  Module& same = lin.to(kGpu);
  REQUIRE(&same == &lin);
  REQUIRE(w.same(lin.weight));
  REQUIRE(w.device() == kGpu);
  REQUIRE(lin.bias.device() == kGpu);
  REQUIRE(w.requires_grad());
  REQUIRE(w.is_leaf());
  REQUIRE(w.grad().device() == kGpu);
  require_same_bits(w, before);
  // Training works on the moved module; and back again.
  lin.zero_grad();
  sum(lin.forward(rnd({2, 4}, DType::f32, 181).to(kGpu))).backward();
  REQUIRE(w.grad().device() == kGpu);
  lin.to(kCpu);
  REQUIRE(w.device() == kCpu);
  require_same_bits(w, before);
}

TEST_CASE("cuda: ops mixing devices throw naming both devices", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  Tensor c = rnd({3, 3}, DType::f32, 190), g = c.to(kGpu);
  auto require_names_both = [](const std::function<void()>& f) {
    try {
      f();
      FAIL("expected moegrad::Error");
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      REQUIRE(msg.find("cpu") != std::string::npos);
      REQUIRE(msg.find("cuda:0") != std::string::npos);
    }
  };
  require_names_both([&] { add(c, g); });
  require_names_both([&] { matmul(g, c); });
  require_names_both([&] { where(gt(c, 0.0), g, g); });
  require_names_both([&] { copy_(c, g); });
  require_names_both([&] { index_select(g, 0, from_vector(std::vector<int64_t>{0, 1}, {2})); });
  require_names_both([&] { cat({c, g}); });
  require_names_both([&] { layer_norm(g, ones({3}), Tensor()); });
  // A GPU that does not exist is an error naming it.
  try {
    Tensor::empty({2}, DType::f32, Device::cuda(cuda_device_count() + 7));
    FAIL("expected moegrad::Error");
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()).find("cuda:" + std::to_string(cuda_device_count() + 7)) != std::string::npos);
  }
}

TEST_CASE("cuda: the caching allocator reuses freed blocks", "[cuda]") {
  SKIP_WITHOUT_CUDA();
  cuda_empty_cache();  // so the next 1 MiB request is a fresh block, and the one after reuses it
  const size_t in_use = cuda_memory_allocated();
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({1 << 18}, DType::f32, kGpu);  // 1 MiB
    first = t.raw_data();
    REQUIRE(cuda_memory_allocated() >= in_use + (size_t(1) << 20));
  }
  REQUIRE(cuda_memory_allocated() == in_use);
  REQUIRE(cuda_memory_cached() >= (size_t(1) << 20));
  {
    Tensor t = Tensor::empty({1 << 18}, DType::f32, kGpu);
    REQUIRE(t.raw_data() == first);  // the same block again, no cudaMalloc
  }
  // A training-like loop: memory in use returns to the same value each step.
  Tensor w = rnd({64, 64}, DType::f32, 200).to(kGpu).requires_grad_();
  size_t after_first = 0;
  for (int step = 0; step < 3; ++step) {
    sum(pow(matmul(w, w), 2)).backward();
    w.set_grad(Tensor());
    if (step == 0) after_first = cuda_memory_allocated();
    REQUIRE(cuda_memory_allocated() == after_first);
  }
  cuda_empty_cache();
  REQUIRE(cuda_memory_cached() == 0);
  // Still usable after the cache is given back.
  require_same_bits(add(w.detach(), 1.0).to(kCpu), add(w.detach().to(kCpu), 1.0));
}
