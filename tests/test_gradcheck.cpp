// Finite-difference gradchecks (f64) of every differentiable op, driven by the
// op registry (core/op_registry.h).
//
// One table maps each differentiable op's registry name to a case that runs
// gradcheck (autograd/gradcheck.h) on the op's interesting forms: broadcasting
// and scalar operands for binary ops, one / several / all dims and keepdim for
// reductions, non-contiguous inputs built inside f, repeated indices so that
// gradients accumulate. The first test fails, naming the op, when a
// differentiable op has no case here or a case names no registry op; the
// second runs every case in its own section, so a failure names the op.
//
// Inputs whose op has a kink (abs, relu, maximum, amax, topk, sort, ...) use
// distinct values spaced well apart, so the finite differences never cross a
// tie or zero.
#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/graph.h"
#include "core/indexing.h"
#include "core/join.h"
#include "core/matmul.h"
#include "core/norm.h"
#include "core/op_registry.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

using In = std::vector<Tensor>;
using Case = std::function<void()>;

// abs(randn) + 0.5: bounded away from zero, for log, sqrt, rsqrt, pow 0.5, div.
Tensor positive(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return add(abs(randn(shape, DType::f64, &gen)), 0.5).requires_grad_();
}

// Distinct values 0.3 * (k + 0.5) + shift for k = -n/2 .. n/2 - 1, shuffled:
// no two elements within 0.3 of each other, none within 0.15 of -shift.
// Two tensors made with shifts 0 and 0.1 never tie either (their differences
// are 0.3 m - 0.1).
Tensor distinct(const Shape& shape, uint64_t seed, double shift = 0.0) {
  int64_t n = numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) v[size_t(k)] = 0.3 * (double(k - n / 2) + 0.5) + shift;
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  std::shuffle(v.begin(), v.end(), rng);
  return from_vector(v, shape).requires_grad_();
}

Tensor i64(const std::vector<int64_t>& v, const Shape& shape) { return from_vector<int64_t>(v, shape); }
Tensor i32(const std::vector<int32_t>& v, const Shape& shape) { return from_vector<int32_t>(v, shape); }

void check(const char* form, const GradcheckFn& f, const In& inputs, double eps = 1e-6, double atol = 1e-5,
           double rtol = 1e-4) {
  INFO("form: " << form);
  GradcheckResult r = gradcheck(f, inputs, eps, atol, rtol);
  INFO(r.message);
  REQUIRE(r.ok);
}

// A weighted sum of the pieces: each piece gets its own weight, so a gradient
// sent to the wrong piece shows.
Tensor weighted_cat(const std::vector<Tensor>& pieces, int64_t dim) {
  std::vector<Tensor> scaled;
  for (size_t i = 0; i < pieces.size(); ++i) scaled.push_back(mul(pieces[i], double(i) + 1.5));
  return cat(scaled, dim);
}

const std::map<std::string, Case>& gradcheck_cases() {
  static const std::map<std::string, Case> table = {
      // ---------------- views and copies ----------------
      {"view",
       [] {
         check("[3,4] -> [4,3]", [](const In& in) { return in[0].view({4, 3}); }, {grad_leaf({3, 4}, 1)});
         check("[3,4] -> [2,-1,3]", [](const In& in) { return in[0].view({2, -1, 3}); }, {grad_leaf({3, 4}, 2)});
         check("of a narrowed view", [](const In& in) { return in[0].narrow(0, 1, 2).view({4, 4}); },
               {grad_leaf({3, 4, 2}, 3)});
       }},
      {"reshape",
       [] {
         check("contiguous", [](const In& in) { return in[0].reshape({2, 2, 3}); }, {grad_leaf({3, 4}, 4)});
         check("of a transpose (copies)", [](const In& in) { return in[0].t().reshape({-1}); }, {grad_leaf({3, 4}, 5)});
       }},
      {"flatten",
       [] {
         check("all", [](const In& in) { return in[0].flatten(); }, {grad_leaf({2, 3, 2}, 6)});
         check("from 1", [](const In& in) { return in[0].flatten(1); }, {grad_leaf({2, 3, 2}, 7)});
         check("0..1 of a permute", [](const In& in) { return in[0].permute({2, 0, 1}).flatten(0, 1); },
               {grad_leaf({2, 3, 2}, 8)});
       }},
      {"transpose",
       [] {
         check("0,2", [](const In& in) { return in[0].transpose(0, 2); }, {grad_leaf({2, 3, 4}, 9)});
         check("-1,-2 then matmul-free mul", [](const In& in) { return mul(in[0].transpose(-1, -2), in[1]); },
               {grad_leaf({2, 3, 4}, 10), grad_leaf({4, 3}, 11)});
       }},
      {"t",
       [] {
         check("t", [](const In& in) { return in[0].t(); }, {grad_leaf({3, 4}, 12)});
         check("t t", [](const In& in) { return add(in[0].t().t(), in[0]); }, {grad_leaf({3, 4}, 13)});
       }},
      {"permute",
       [] {
         check("2,0,1", [](const In& in) { return in[0].permute({2, 0, 1}); }, {grad_leaf({2, 3, 4}, 14)});
         check("negative dims", [](const In& in) { return in[0].permute({-1, 0, 1}).contiguous(); },
               {grad_leaf({2, 3, 4}, 15)});
       }},
      {"narrow",
       [] {
         check("dim 1", [](const In& in) { return in[0].narrow(1, 1, 2); }, {grad_leaf({3, 4}, 16)});
         check("overlapping pieces accumulate",
               [](const In& in) { return add(in[0].narrow(1, 0, 3), mul(in[0].narrow(1, 1, 3), 2.0)); },
               {grad_leaf({3, 4}, 17)});
         check("of a transpose", [](const In& in) { return in[0].t().narrow(0, 2, 2); }, {grad_leaf({3, 4}, 18)});
       }},
      {"slice",
       [] {
         check("step 2, negative start", [](const In& in) { return in[0].slice(1, -4, 5, 2); }, {grad_leaf({3, 5}, 19)});
         check("step 3 on dim 0", [](const In& in) { return in[0].slice(0, 0, 7, 3); }, {grad_leaf({7, 2}, 20)});
         check("two interleaved slices",
               [](const In& in) { return sub(in[0].slice(0, 0, 6, 2), mul(in[0].slice(0, 1, 6, 2), 3.0)); },
               {grad_leaf({6, 2}, 21)});
       }},
      {"select",
       [] {
         check("last row", [](const In& in) { return in[0].select(0, -1); }, {grad_leaf({3, 4}, 22)});
         check("column, twice", [](const In& in) { return stack({in[0].select(1, 2), in[0].select(1, 2)}); },
               {grad_leaf({3, 4}, 23)});
         check("to 0-d", [](const In& in) { return in[0].select(0, 1); }, {grad_leaf({3}, 24)});
       }},
      {"expand",
       [] {
         check("[3,1] -> [2,3,4]", [](const In& in) { return in[0].expand({2, 3, 4}); }, {grad_leaf({3, 1}, 25)});
         check("-1 keeps a dim", [](const In& in) { return in[0].expand({-1, 5}); }, {grad_leaf({3, 1}, 26)});
         check("0-d -> [2,3]", [](const In& in) { return in[0].expand({2, 3}); }, {grad_leaf({}, 27)});
       }},
      {"squeeze",
       [] {
         check("all", [](const In& in) { return in[0].squeeze(); }, {grad_leaf({3, 1, 2, 1}, 28)});
         check("one dim", [](const In& in) { return in[0].squeeze(1); }, {grad_leaf({3, 1, 2}, 29)});
         check("negative dim", [](const In& in) { return in[0].squeeze(-1); }, {grad_leaf({3, 2, 1}, 30)});
       }},
      {"unsqueeze",
       [] {
         check("front", [](const In& in) { return in[0].unsqueeze(0); }, {grad_leaf({3, 4}, 31)});
         check("end of a transpose", [](const In& in) { return in[0].t().unsqueeze(-1); }, {grad_leaf({3, 4}, 32)});
         check("0-d", [](const In& in) { return in[0].unsqueeze(0); }, {grad_leaf({}, 33)});
       }},
      {"contiguous",
       [] {
         check("of a transpose", [](const In& in) { return in[0].t().contiguous(); }, {grad_leaf({3, 4}, 34)});
         check("of a strided slice", [](const In& in) { return in[0].slice(1, 0, 4, 2).contiguous(); },
               {grad_leaf({3, 4}, 35)});
       }},
      {"clone",
       [] {
         check("contiguous", [](const In& in) { return in[0].clone(); }, {grad_leaf({3, 4}, 36)});
         check("of a transpose", [](const In& in) { return mul(in[0].t().clone(), in[0].t()); }, {grad_leaf({3, 4}, 37)});
       }},
      // f64 -> f32 -> f64: the f32 rounding of the forward needs a larger
      // step and a looser tolerance.
      {"to",
       [] {
         check("f64 -> f32 -> f64", [](const In& in) { return mul(in[0].to(DType::f32), 3.0).to(DType::f64); },
               {grad_leaf({5}, 38)}, 1e-3, 1e-3, 1e-3);
         check("to the same dtype", [](const In& in) { return mul(in[0].to(DType::f64), 2.0); }, {grad_leaf({4}, 39)});
       }},
      // ---------------- unary ----------------
      {"neg",
       [] {
         check("neg", [](const In& in) { return neg(in[0]); }, {grad_leaf({3, 4}, 40)});
         check("operator-", [](const In& in) { return -in[0].t(); }, {grad_leaf({3, 4}, 41)});
       }},
      {"abs", [] { check("away from 0", [](const In& in) { return abs(in[0].t()); }, {distinct({3, 4}, 42)}); }},
      {"exp",
       [] {
         check("exp", [](const In& in) { return exp(in[0]); }, {grad_leaf({3, 4}, 43)});
         check("of a non-leaf, non-contiguous", [](const In& in) { return exp(mul(in[0], 0.5).t()); },
               {grad_leaf({3, 4}, 44)});
       }},
      {"log", [] { check("positive", [](const In& in) { return log(in[0].t()); }, {positive({3, 4}, 45)}); }},
      {"sqrt", [] { check("positive", [](const In& in) { return sqrt(in[0]); }, {positive({3, 4}, 46)}); }},
      {"rsqrt", [] { check("positive", [](const In& in) { return rsqrt(in[0].t()); }, {positive({3, 4}, 47)}); }},
      {"tanh", [] { check("tanh", [](const In& in) { return tanh(in[0]); }, {grad_leaf({3, 4}, 48)}); }},
      {"sigmoid", [] { check("sigmoid", [](const In& in) { return sigmoid(in[0].t()); }, {grad_leaf({3, 4}, 49)}); }},
      {"relu", [] { check("away from 0", [](const In& in) { return relu(in[0]); }, {distinct({3, 4}, 50)}); }},
      {"gelu",
       [] {
         check("erf form", [](const In& in) { return gelu(in[0]); }, {grad_leaf({3, 4}, 51)});
         check("tanh form", [](const In& in) { return gelu(in[0].t(), true); }, {grad_leaf({3, 4}, 52)});
       }},
      {"silu", [] { check("silu", [](const In& in) { return silu(in[0]); }, {grad_leaf({3, 4}, 53)}); }},
      {"pow",
       [] {
         check("exponent 3", [](const In& in) { return pow(in[0], 3); }, {grad_leaf({3, 4}, 54)});
         check("exponent 0.5", [](const In& in) { return pow(in[0], 0.5); }, {positive({3, 4}, 55)});
         check("exponent -1.5 of a transpose", [](const In& in) { return pow(in[0].t(), -1.5); },
               {positive({3, 4}, 56)});
         check("exponent 2", [](const In& in) { return pow(in[0], 2); }, {grad_leaf({3, 4}, 57)});
       }},
      // ---------------- binary, with broadcasting ----------------
      {"add",
       [] {
         check("[3,1,4] + [2,1] + 0-d", [](const In& in) { return add(add(in[0], in[1]), in[2]); },
               {grad_leaf({3, 1, 4}, 60), grad_leaf({2, 1}, 61), grad_leaf({}, 62)});
         check("scalar", [](const In& in) { return add(in[0], 2.5); }, {grad_leaf({3}, 63)});
         check("x + x", [](const In& in) { return in[0] + in[0]; }, {grad_leaf({3}, 64)});
         check("transposed + row", [](const In& in) { return add(in[0].t(), in[1]); },
               {grad_leaf({3, 4}, 65), grad_leaf({3}, 66)});
       }},
      {"sub",
       [] {
         check("[2,1] - [3,1,4]", [](const In& in) { return sub(in[0], in[1]); },
               {grad_leaf({2, 1}, 67), grad_leaf({3, 1, 4}, 68)});
         check("0-d - [3,4]", [](const In& in) { return sub(in[0], in[1]); }, {grad_leaf({}, 69), grad_leaf({3, 4}, 70)});
         check("scalar, both sides", [](const In& in) { return sub(in[0], 1.5) * (2.0 - in[0]); }, {grad_leaf({4}, 71)});
       }},
      {"mul",
       [] {
         check("[3,1,4] * [2,4]^T ... [4,2].t()", [](const In& in) { return mul(in[0], in[1].t()); },
               {grad_leaf({3, 1, 4}, 72), grad_leaf({4, 2}, 73)});
         check("with a 0-d", [](const In& in) { return mul(in[0], in[1]); }, {grad_leaf({2, 3}, 74), grad_leaf({}, 75)});
         check("x * x", [](const In& in) { return mul(in[0], in[0]); }, {grad_leaf({3}, 76)});
         check("scalar", [](const In& in) { return mul(in[0], -3.0); }, {grad_leaf({3}, 77)});
       }},
      {"div",
       [] {
         check("[3,4] / [4]", [](const In& in) { return div(in[0], in[1]); }, {grad_leaf({3, 4}, 78), positive({4}, 79)});
         check("[3,1] / [2,1,4]", [](const In& in) { return div(in[0], in[1]); },
               {grad_leaf({3, 1}, 80), positive({2, 1, 4}, 81)});
         check("by a 0-d", [](const In& in) { return div(in[0], in[1]); }, {grad_leaf({2, 3}, 82), positive({}, 83)});
         check("scalar", [](const In& in) { return div(in[0], 4.0); }, {grad_leaf({3}, 84)});
         check("x / x^T", [](const In& in) { return div(in[0], in[0].t()); }, {positive({3, 3}, 85)});
       }},
      {"maximum",
       [] {
         check("[3,4] vs [4]", [](const In& in) { return maximum(in[0], in[1]); },
               {distinct({3, 4}, 86), distinct({4}, 87, 0.1)});
         check("[3,1] vs 0-d", [](const In& in) { return maximum(in[0], in[1]); },
               {distinct({3, 1}, 88), distinct({}, 89, 0.1)});
         check("scalar", [](const In& in) { return maximum(in[0], 0.1); }, {distinct({3, 4}, 90)});
       }},
      {"minimum",
       [] {
         check("[3,4] vs [3,1]", [](const In& in) { return minimum(in[0], in[1]); },
               {distinct({3, 4}, 91), distinct({3, 1}, 92, 0.1)});
         check("transposed", [](const In& in) { return minimum(in[0].t(), in[1]); },
               {distinct({4, 3}, 93), distinct({3, 4}, 94, 0.1)});
         check("scalar", [](const In& in) { return minimum(in[0], -0.1); }, {distinct({3, 4}, 95)});
       }},
      {"where",
       [] {
         Tensor mask = from_vector<bool>({true, false, false, true}, {4});
         check("mask [4], a [3,4], b [3,1]", [mask](const In& in) { return where(mask, in[0], in[1]); },
               {grad_leaf({3, 4}, 96), grad_leaf({3, 1}, 97)});
         Tensor mask2 = from_vector<bool>({true, false, true, true, false, false}, {2, 3});
         check("0-d b", [mask2](const In& in) { return where(mask2, in[0], in[1]); }, {grad_leaf({2, 3}, 98), grad_leaf({}, 99)});
         check("same tensor both sides", [mask2](const In& in) { return where(mask2, in[0], mul(in[0], 3.0)); },
               {grad_leaf({2, 3}, 100)});
       }},
      // ---------------- reductions and row ops ----------------
      {"sum",
       [] {
         check("all", [](const In& in) { return sum(in[0]); }, {grad_leaf({2, 3, 4}, 110)});
         check("0-d", [](const In& in) { return sum(in[0]); }, {grad_leaf({}, 109)});
         check("one dim", [](const In& in) { return sum(in[0], {1}); }, {grad_leaf({2, 3, 4}, 111)});
         check("two dims keepdim", [](const In& in) { return sum(in[0], {0, 2}, true); }, {grad_leaf({2, 3, 4}, 112)});
         check("negative dim of a transpose", [](const In& in) { return sum(in[0].t(), {-1}); }, {grad_leaf({3, 4}, 113)});
       }},
      {"mean",
       [] {
         check("all", [](const In& in) { return mean(in[0]); }, {grad_leaf({2, 3, 4}, 114)});
         check("last dim", [](const In& in) { return mean(in[0], {-1}); }, {grad_leaf({2, 3, 4}, 115)});
         check("two dims keepdim", [](const In& in) { return mean(in[0], {0, 2}, true); }, {grad_leaf({2, 3, 4}, 116)});
       }},
      {"var",
       [] {
         check("one dim, correction 1", [](const In& in) { return var(in[0], {1}, false, 1); }, {grad_leaf({2, 3, 4}, 117)});
         check("one dim, correction 0", [](const In& in) { return var(in[0], {-1}, false, 0); },
               {grad_leaf({2, 3, 4}, 118)});
         check("all, keepdim, correction 0", [](const In& in) { return var(in[0], {}, true, 0); }, {grad_leaf({2, 3}, 119)});
         check("all, correction 1", [](const In& in) { return var(in[0]); }, {grad_leaf({2, 3}, 120)});
         check("two dims keepdim of a transpose", [](const In& in) { return var(in[0].transpose(0, 2), {0, 2}, true); },
               {grad_leaf({2, 3, 4}, 121)});
       }},
      {"amax",
       [] {
         check("one dim", [](const In& in) { return amax(in[0], {1}); }, {distinct({3, 4}, 122)});
         check("all", [](const In& in) { return amax(in[0]); }, {distinct({3, 4}, 123)});
         check("two dims keepdim", [](const In& in) { return amax(in[0], {0, 2}, true); }, {distinct({2, 3, 4}, 124)});
       }},
      {"amin",
       [] {
         check("one dim of a transpose", [](const In& in) { return amin(in[0].t(), {1}); }, {distinct({3, 4}, 125)});
         check("all", [](const In& in) { return amin(in[0], {0, 1}); }, {distinct({3, 4}, 126)});
         check("keepdim", [](const In& in) { return amin(in[0], {-1}, true); }, {distinct({2, 3, 4}, 127)});
       }},
      {"logsumexp",
       [] {
         check("one dim keepdim", [](const In& in) { return logsumexp(in[0], {1}, true); }, {grad_leaf({3, 4}, 128)});
         check("one dim", [](const In& in) { return logsumexp(in[0], {0}); }, {grad_leaf({3, 4}, 129)});
         check("all", [](const In& in) { return logsumexp(in[0]); }, {grad_leaf({2, 3, 2}, 130)});
       }},
      {"softmax",
       [] {
         check("dim 0", [](const In& in) { return softmax(in[0], 0); }, {grad_leaf({3, 4}, 131)});
         check("dim -1", [](const In& in) { return softmax(in[0], -1); }, {grad_leaf({3, 4}, 132)});
         check("middle dim", [](const In& in) { return softmax(in[0], 1); }, {grad_leaf({2, 3, 2}, 133)});
         check("of a transpose", [](const In& in) { return softmax(in[0].t(), -1); }, {grad_leaf({3, 4}, 134)});
       }},
      {"log_softmax",
       [] {
         check("dim 0", [](const In& in) { return log_softmax(in[0], 0); }, {grad_leaf({3, 4}, 135)});
         check("dim -1", [](const In& in) { return log_softmax(in[0], -1); }, {grad_leaf({3, 4}, 136)});
         check("middle dim of a transpose", [](const In& in) { return log_softmax(in[0].transpose(0, 2), 1); },
               {grad_leaf({2, 3, 2}, 137)});
       }},
      {"layer_norm",
       [] {
         check("weight and bias", [](const In& in) { return layer_norm(in[0], in[1], in[2], 1e-5); },
               {grad_leaf({3, 5}, 401), grad_leaf({5}, 402), grad_leaf({5}, 403)});
         check("no affine, 3-d", [](const In& in) { return layer_norm(in[0], Tensor(), Tensor(), 1e-5); },
               {grad_leaf({2, 3, 4}, 404)});
         check("of a transpose, weight only", [](const In& in) { return layer_norm(in[0].t(), in[1], Tensor(), 0.1); },
               {grad_leaf({4, 3}, 405), grad_leaf({4}, 406)});
         check("rows of one element", [](const In& in) { return layer_norm(in[0], in[1], in[2], 1e-3); },
               {grad_leaf({4, 1}, 407), grad_leaf({1}, 408), grad_leaf({1}, 409)});
       }},
      {"rms_norm",
       [] {
         check("weight", [](const In& in) { return rms_norm(in[0], in[1], 1e-6); },
               {grad_leaf({3, 5}, 410), grad_leaf({5}, 411)});
         check("no weight, of a transpose", [](const In& in) { return rms_norm(in[0].transpose(0, 2), Tensor(), 1e-6); },
               {grad_leaf({2, 3, 4}, 412)});
       }},
      {"cumsum",
       [] {
         check("dim 0", [](const In& in) { return cumsum(in[0], 0); }, {grad_leaf({3, 4}, 138)});
         check("dim -1", [](const In& in) { return cumsum(in[0], -1); }, {grad_leaf({3, 4}, 139)});
         check("of a transpose", [](const In& in) { return cumsum(in[0].t(), 1); }, {grad_leaf({3, 4}, 140)});
         check("1-D", [](const In& in) { return cumsum(in[0], 0); }, {grad_leaf({5}, 141)});
       }},
      // ---------------- matmul ----------------
      {"matmul",
       [] {
         check("2-D", [](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({3, 4}, 150), grad_leaf({4, 2}, 151)});
         check("2-D, transposed operands", [](const In& in) { return matmul(in[0].t(), in[1].t()); },
               {grad_leaf({4, 3}, 152), grad_leaf({2, 4}, 153)});
         check("batched, broadcast batch dims", [](const In& in) { return matmul(in[0], in[1]); },
               {grad_leaf({2, 1, 3, 4}, 154), grad_leaf({3, 4, 2}, 155)});
         check("batched @ 2-D", [](const In& in) { return matmul(in[0], in[1]); },
               {grad_leaf({2, 3, 4}, 156), grad_leaf({4, 2}, 157)});
         check("1-D @ 2-D", [](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({4}, 158), grad_leaf({4, 2}, 159)});
         check("2-D @ 1-D", [](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({3, 4}, 160), grad_leaf({4}, 161)});
         check("1-D @ 1-D", [](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({4}, 164), grad_leaf({4}, 165)});
         check("2-D @ batched", [](const In& in) { return matmul(in[0], in[1]); },
               {grad_leaf({3, 4}, 162), grad_leaf({2, 4, 2}, 163)});
         check("1-D @ batched", [](const In& in) { return matmul(in[0], in[1]); },
               {grad_leaf({4}, 165), grad_leaf({2, 4, 3}, 166)});
         check("batched @ 1-D", [](const In& in) { return matmul(in[0], in[1]); },
               {grad_leaf({2, 3, 4}, 167), grad_leaf({4}, 168)});
         check("x^T x", [](const In& in) { return matmul(in[0].t(), in[0]); }, {grad_leaf({3, 2}, 164)});
       }},
      {"grouped_matmul",
       [] {
         // Group 1 is empty: its w[1] must get a zero gradient, and the rows
         // of groups 0 and 2 must not see each other's weights.
         check("3 groups, one empty", [](const In& in) { return grouped_matmul(in[0], in[1], {0, 2, 2, 5}); },
               {grad_leaf({5, 3}, 230), grad_leaf({3, 3, 2}, 231)});
         check("transposed-view w", [](const In& in) { return grouped_matmul(in[0], in[1].transpose(1, 2), {0, 1, 4}); },
               {grad_leaf({4, 3}, 232), grad_leaf({2, 2, 3}, 233)});
         check("non-contiguous x, first and last groups empty",
               [](const In& in) { return grouped_matmul(in[0].t(), in[1], {0, 0, 3, 3}); },
               {grad_leaf({2, 3}, 234), grad_leaf({3, 2, 4}, 235)});
         check("single group", [](const In& in) { return grouped_matmul(in[0], in[1], {0, 4}); },
               {grad_leaf({4, 3}, 236), grad_leaf({1, 3, 2}, 237)});
         check("of a non-leaf x", [](const In& in) { return grouped_matmul(mul(in[0], in[0]), in[1], {0, 2, 3}); },
               {grad_leaf({3, 2}, 238), grad_leaf({2, 2, 2}, 239)});
       }},
      // ---------------- indexing ----------------
      {"index_select",
       [] {
         check("dim 1, repeated", [](const In& in) { return index_select(in[0], 1, i64({3, 0, 3}, {3})); },
               {grad_leaf({2, 4}, 170)});
         check("dim 0, repeated, i32", [](const In& in) { return index_select(in[0], 0, i32({2, 2, 0, 2}, {4})); },
               {grad_leaf({3, 2}, 171)});
         check("of a transpose", [](const In& in) { return index_select(in[0].t(), 0, i64({1, 1}, {2})); },
               {grad_leaf({2, 3}, 172)});
         check("0-d index", [](const In& in) { return index_select(in[0], 1, i64({2}, {})); }, {grad_leaf({2, 3}, 193)});
       }},
      {"gather",
       [] {
         check("dim 1, repeated", [](const In& in) { return gather(in[0], 1, i64({0, 0, 2, 1}, {2, 2})); },
               {grad_leaf({2, 3}, 173)});
         check("dim 0", [](const In& in) { return gather(in[0], 0, i64({2, 0, 1, 2, 2, 2}, {2, 3})); },
               {grad_leaf({3, 3}, 174)});
         check("index smaller than x", [](const In& in) { return gather(in[0], 0, i64({1, 1}, {1, 2})); },
               {grad_leaf({3, 4}, 175)});
       }},
      {"scatter_add",
       [] {
         check("dim 0, repeated",
               [](const In& in) { return scatter_add(in[0], 0, i64({0, 2, 0, 1, 1, 1}, {2, 3}), in[1]); },
               {grad_leaf({3, 3}, 176), grad_leaf({2, 3}, 177)});
         check("dim 1, repeated", [](const In& in) { return scatter_add(in[0], 1, i64({3, 3, 0, 1}, {2, 2}), in[1]); },
               {grad_leaf({2, 4}, 178), grad_leaf({2, 2}, 179)});
       }},
      {"index_add",
       [] {
         check("dim 0, repeated", [](const In& in) { return index_add(in[0], 0, i64({2, 2}, {2}), in[1]); },
               {grad_leaf({3, 4}, 180), grad_leaf({2, 4}, 181)});
         check("dim 1, repeated", [](const In& in) { return index_add(in[0], 1, i64({0, 3, 0}, {3}), in[1]); },
               {grad_leaf({2, 4}, 182), grad_leaf({2, 3}, 183)});
       }},
      {"embedding",
       [] {
         check("2-D ids, repeated", [](const In& in) { return embedding(in[0], i64({1, 1, 3, 0}, {2, 2})); },
               {grad_leaf({4, 3}, 184)});
         check("1-D ids, repeated", [](const In& in) { return embedding(in[0], i64({2, 2, 2}, {3})); },
               {grad_leaf({4, 3}, 185)});
       }},
      {"topk",
       [] {
         check("largest, dim 0", [](const In& in) { return topk(in[0], 2, 0).first; }, {distinct({3, 4}, 186)});
         check("smallest, dim -1", [](const In& in) { return topk(in[0], 3, -1, false).first; },
               {distinct({2, 4}, 187)});
         check("1-D, k = n", [](const In& in) { return topk(in[0], 5).first; }, {distinct({5}, 188)});
         check("0-d", [](const In& in) { return topk(in[0], 1, 0).first; }, {distinct({}, 191)});
       }},
      {"sort",
       [] {
         check("descending, dim -1", [](const In& in) { return sort(in[0], -1, true).first; }, {distinct({3, 4}, 189)});
         check("ascending, dim 0", [](const In& in) { return sort(in[0], 0).first; }, {distinct({3, 4}, 190)});
         check("0-d", [](const In& in) { return sort(in[0]).first; }, {distinct({}, 192)});
       }},
      // ---------------- joins ----------------
      {"cat",
       [] {
         check("dim 1, one input twice", [](const In& in) { return cat({in[0], in[1], in[0]}, 1); },
               {grad_leaf({3, 2}, 200), grad_leaf({3, 1}, 201)});
         check("dim 0, non-contiguous part", [](const In& in) { return cat({in[0].t(), mul(in[1], 2.0)}, 0); },
               {grad_leaf({2, 3}, 202), grad_leaf({1, 2}, 203)});
         check("with an empty [0] piece", [](const In& in) { return cat({in[0], in[1], in[0]}); },
               {grad_leaf({3}, 212), grad_leaf({0}, 213)});
       }},
      {"stack",
       [] {
         check("dim -1", [](const In& in) { return stack({in[0], in[1]}, -1); },
               {grad_leaf({3, 2}, 204), grad_leaf({3, 2}, 205)});
         check("dim 0, weighted", [](const In& in) { return stack({mul(in[0], 2.0), in[1], in[0]}, 0); },
               {grad_leaf({2, 2}, 206), grad_leaf({2, 2}, 207)});
       }},
      {"split",
       [] {
         check("sizes, product of pieces",
               [](const In& in) {
                 auto p = split(in[0], std::vector<int64_t>{1, 3}, 1);
                 return mul(p[0], p[1]);
               },
               {grad_leaf({2, 4}, 208)});
         check("split_size, uneven, weighted", [](const In& in) { return weighted_cat(split(in[0], 2, 0), 0); },
               {grad_leaf({5, 2}, 209)});
       }},
      {"chunk",
       [] {
         check("2 chunks", [](const In& in) {
                 auto p = chunk(in[0], 2, 0);
                 return sub(mul(p[0], 2.0), p[1]);
               },
               {grad_leaf({4, 3}, 210)});
         check("uneven, weighted", [](const In& in) { return weighted_cat(chunk(in[0], 3, -1), -1); },
               {grad_leaf({2, 5}, 211)});
       }},
  };
  return table;
}

}  // namespace

TEST_CASE("gradcheck table: one case per differentiable registry op, keyed by its name", "[gradcheck]") {
  std::set<std::string> registry;
  for (const OpInfo& op : op_registry()) {
    registry.insert(op.name);
    if (!op.differentiable) continue;
    INFO("differentiable op without a gradcheck case in tests/test_gradcheck.cpp: " << op.name);
    CHECK(gradcheck_cases().count(op.name) == 1);
  }
  for (const auto& entry : gradcheck_cases()) {
    INFO("gradcheck case whose name is not a differentiable registry op: " << entry.first);
    CHECK(registry.count(entry.first) == 1);
    bool differentiable = false;
    for (const OpInfo& op : op_registry())
      if (entry.first == op.name) differentiable = op.differentiable;
    CHECK(differentiable);
  }
}

TEST_CASE("gradcheck: finite differences agree with backward for each differentiable op", "[gradcheck]") {
  for (const auto& entry : gradcheck_cases()) {
    DYNAMIC_SECTION("op " << entry.first) {
      INFO("op " << entry.first);
      entry.second();
    }
  }
}

TEST_CASE("gradcheck: rejects a wrong backward and non-f64 inputs", "[gradcheck]") {
  // A function whose recorded backward is off by a factor of 2 must fail,
  // or every passing case above would prove nothing.
  auto wrong = [](const In& in) {
    Tensor out = mul(in[0].detach(), 3.0);
    return record("mul", out, {in[0]}, [](const Tensor& g) -> Grads { return {mul(g, 6.0)}; });
  };
  GradcheckResult r = gradcheck(wrong, {grad_leaf({3}, 1)});
  REQUIRE_FALSE(r.ok);
  REQUIRE(r.message.find("analytic") != std::string::npos);
  // A backward that drops the gradient entirely must fail as well.
  auto dropped = [](const In& in) {
    Tensor out = mul(in[0].detach(), 3.0);
    return record("mul", out, {in[0]}, [](const Tensor&) -> Grads { return {Tensor()}; });
  };
  REQUIRE_FALSE(gradcheck(dropped, {grad_leaf({3}, 2)}).ok);
  require_error([] { gradcheck([](const In& in) { return in[0]; }, {zeros({2}, DType::f32).requires_grad_()}); },
                "gradcheck");
}
