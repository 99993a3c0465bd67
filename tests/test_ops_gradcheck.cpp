// Finite-difference gradchecks (f64) of every differentiable op in the op
// registry. One table, keyed by the registry's names: an op marked
// differentiable without a case here fails the first test, so no op lands
// without its backward and its check.
#include <map>
#include <set>

#include "core/elementwise.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/join.h"
#include "core/matmul.h"
#include "core/op_registry.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

using Case = std::function<void()>;
using In = std::vector<Tensor>;

// Inputs bounded away from zero (for log, sqrt, ...) and from kinks (abs, relu).
Tensor positive_leaf(const Shape& shape, uint64_t seed) {
  return add(abs(grad_leaf(shape, seed).detach()), 0.5).requires_grad_();
}
Tensor away_from_zero_leaf(const Shape& shape, uint64_t seed) {
  Tensor x = grad_leaf(shape, seed).detach();
  return add(x, mul(sub(cast(gt(x, 0.0), DType::f64), 0.5), 0.4)).requires_grad_();  // |x| > 0.2
}
Tensor idx(const std::vector<int64_t>& v, const Shape& shape) { return from_vector<int64_t>(v, shape); }

const std::map<std::string, Case>& cases() {
  static const std::map<std::string, Case> table = {
      // ---- views and copies ----
      {"view", [] { require_gradcheck([](const In& in) { return in[0].view({4, 3}); }, {grad_leaf({3, 4}, 1)}); }},
      {"reshape", [] { require_gradcheck([](const In& in) { return in[0].t().reshape({-1}); }, {grad_leaf({3, 4}, 2)}); }},
      {"flatten", [] { require_gradcheck([](const In& in) { return in[0].flatten(1); }, {grad_leaf({2, 3, 2}, 3)}); }},
      {"transpose", [] { require_gradcheck([](const In& in) { return in[0].transpose(0, 2); }, {grad_leaf({2, 3, 2}, 4)}); }},
      {"t", [] { require_gradcheck([](const In& in) { return in[0].t(); }, {grad_leaf({3, 4}, 5)}); }},
      {"permute", [] { require_gradcheck([](const In& in) { return in[0].permute({2, 0, 1}); }, {grad_leaf({2, 3, 4}, 6)}); }},
      {"narrow", [] { require_gradcheck([](const In& in) { return in[0].narrow(1, 1, 2); }, {grad_leaf({3, 4}, 7)}); }},
      {"slice", [] { require_gradcheck([](const In& in) { return in[0].slice(1, -4, 5, 2); }, {grad_leaf({3, 5}, 8)}); }},
      {"select", [] { require_gradcheck([](const In& in) { return in[0].select(0, -1); }, {grad_leaf({3, 4}, 9)}); }},
      {"expand", [] { require_gradcheck([](const In& in) { return in[0].expand({2, 3, 4}); }, {grad_leaf({3, 1}, 10)}); }},
      {"squeeze", [] { require_gradcheck([](const In& in) { return add(in[0].squeeze(), in[0].squeeze(1).squeeze(-1)); }, {grad_leaf({3, 1, 1}, 11)}); }},
      {"unsqueeze", [] { require_gradcheck([](const In& in) { return in[0].unsqueeze(1); }, {grad_leaf({3, 4}, 12)}); }},
      {"contiguous", [] { require_gradcheck([](const In& in) { return in[0].t().contiguous(); }, {grad_leaf({3, 4}, 13)}); }},
      {"clone", [] { require_gradcheck([](const In& in) { return in[0].clone(); }, {grad_leaf({3, 4}, 14)}); }},
      // through f32 and back: the f32 rounding needs a looser tolerance
      {"to", [] {
         GradcheckResult r = gradcheck([](const In& in) { return mul(in[0].to(DType::f32), 3.0).to(DType::f64); },
                                       {grad_leaf({5}, 15)}, 1e-3, 1e-3, 1e-3);
         INFO(r.message);
         REQUIRE(r.ok);
       }},
      // ---- unary ----
      {"neg", [] { require_gradcheck([](const In& in) { return neg(in[0]); }, {grad_leaf({3, 4}, 20)}); }},
      {"abs", [] { require_gradcheck([](const In& in) { return abs(in[0]); }, {away_from_zero_leaf({3, 4}, 21)}); }},
      {"exp", [] { require_gradcheck([](const In& in) { return exp(in[0]); }, {grad_leaf({3, 4}, 22)}); }},
      {"log", [] { require_gradcheck([](const In& in) { return log(in[0]); }, {positive_leaf({3, 4}, 23)}); }},
      {"sqrt", [] { require_gradcheck([](const In& in) { return sqrt(in[0]); }, {positive_leaf({3, 4}, 24)}); }},
      {"rsqrt", [] { require_gradcheck([](const In& in) { return rsqrt(in[0]); }, {positive_leaf({3, 4}, 25)}); }},
      {"tanh", [] { require_gradcheck([](const In& in) { return tanh(in[0]); }, {grad_leaf({3, 4}, 26)}); }},
      {"sigmoid", [] { require_gradcheck([](const In& in) { return sigmoid(in[0]); }, {grad_leaf({3, 4}, 27)}); }},
      {"relu", [] { require_gradcheck([](const In& in) { return relu(in[0]); }, {away_from_zero_leaf({3, 4}, 28)}); }},
      {"gelu", [] { require_gradcheck([](const In& in) { return add(gelu(in[0]), gelu(in[0], true)); }, {grad_leaf({3, 4}, 29)}); }},
      {"silu", [] { require_gradcheck([](const In& in) { return silu(in[0]); }, {grad_leaf({3, 4}, 30)}); }},
      {"pow", [] {
         require_gradcheck([](const In& in) { return add(pow(in[0], 3), pow(in[0], 0.5)); }, {positive_leaf({3, 4}, 31)});
         require_gradcheck([](const In& in) { return pow(in[0], 2); }, {grad_leaf({3, 4}, 32)});
       }},
      // ---- binary, with broadcasting and scalar forms ----
      {"add", [] {
         require_gradcheck([](const In& in) { return add(add(in[0], in[1]), in[2]); },
                           {grad_leaf({3, 1, 4}, 40), grad_leaf({2, 1}, 41), grad_leaf({}, 42)});
         require_gradcheck([](const In& in) { return add(in[0], 2.5); }, {grad_leaf({3}, 43)});
       }},
      {"sub", [] { require_gradcheck([](const In& in) { return sub(in[0], in[1]); }, {grad_leaf({2, 1}, 44), grad_leaf({3, 1, 4}, 45)}); }},
      {"mul", [] {
         require_gradcheck([](const In& in) { return mul(in[0], in[1].t()); }, {grad_leaf({3, 1, 4}, 46), grad_leaf({4, 2}, 47)});
         require_gradcheck([](const In& in) { return mul(in[0], in[0]); }, {grad_leaf({3}, 48)});
       }},
      {"div", [] {
         require_gradcheck([](const In& in) { return div(in[0], in[1]); }, {grad_leaf({3, 4}, 49), positive_leaf({4}, 50)});
         require_gradcheck([](const In& in) { return div(in[0], 4.0); }, {grad_leaf({3}, 51)});
       }},
      {"maximum", [] { require_gradcheck([](const In& in) { return maximum(in[0], in[1]); }, {grad_leaf({3, 4}, 52), grad_leaf({4}, 53)}); }},
      {"minimum", [] { require_gradcheck([](const In& in) { return minimum(in[0], in[1]); }, {grad_leaf({3, 4}, 54), grad_leaf({3, 1}, 55)}); }},
      {"where", [] {
         Tensor mask = from_vector<bool>({true, false, false, true}, {4});
         require_gradcheck([mask](const In& in) { return where(mask, in[0], in[1]); }, {grad_leaf({3, 4}, 56), grad_leaf({3, 1}, 57)});
       }},
      // ---- reductions and row ops ----
      {"sum", [] {
         require_gradcheck([](const In& in) { return sum(in[0]); }, {grad_leaf({2, 3, 4}, 60)});
         require_gradcheck([](const In& in) { return sum(in[0], {0, 2}, true); }, {grad_leaf({2, 3, 4}, 61)});
       }},
      {"mean", [] { require_gradcheck([](const In& in) { return mean(in[0], {-1}); }, {grad_leaf({2, 3, 4}, 62)}); }},
      {"var", [] {
         require_gradcheck([](const In& in) { return var(in[0], {1}, false, 1); }, {grad_leaf({2, 3, 4}, 63)});
         require_gradcheck([](const In& in) { return var(in[0], {}, true, 0); }, {grad_leaf({2, 3}, 64)});
       }},
      {"amax", [] { require_gradcheck([](const In& in) { return amax(in[0], {1}); }, {grad_leaf({3, 4}, 65)}); }},
      {"amin", [] { require_gradcheck([](const In& in) { return amin(in[0], {0, 1}); }, {grad_leaf({3, 4}, 66)}); }},
      {"logsumexp", [] { require_gradcheck([](const In& in) { return logsumexp(in[0], {1}, true); }, {grad_leaf({3, 4}, 67)}); }},
      {"softmax", [] {
         require_gradcheck([](const In& in) { return softmax(in[0], 0); }, {grad_leaf({3, 4}, 68)});
         require_gradcheck([](const In& in) { return softmax(in[0].t(), -1); }, {grad_leaf({3, 4}, 69)});
       }},
      {"log_softmax", [] { require_gradcheck([](const In& in) { return log_softmax(in[0], -1); }, {grad_leaf({3, 4}, 70)}); }},
      {"cumsum", [] { require_gradcheck([](const In& in) { return cumsum(in[0], 0); }, {grad_leaf({3, 4}, 71)}); }},
      // ---- matmul ----
      {"matmul", [] {
         require_gradcheck([](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({3, 4}, 80), grad_leaf({4, 2}, 81)});
         require_gradcheck([](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({2, 1, 3, 4}, 82), grad_leaf({3, 4, 2}, 83)});
         require_gradcheck([](const In& in) { return matmul(in[0], in[1].t()); }, {grad_leaf({4}, 84), grad_leaf({2, 4}, 85)});
         require_gradcheck([](const In& in) { return matmul(in[0], in[1]); }, {grad_leaf({3, 4}, 86), grad_leaf({4}, 87)});
       }},
      // ---- indexing (repeated indices so gradients accumulate) ----
      {"index_select", [] { require_gradcheck([](const In& in) { return index_select(in[0], 1, idx({3, 0, 3}, {3})); }, {grad_leaf({2, 4}, 90)}); }},
      {"gather", [] { require_gradcheck([](const In& in) { return gather(in[0], 1, idx({0, 0, 2, 1}, {2, 2})); }, {grad_leaf({2, 3}, 91)}); }},
      {"scatter_add", [] {
         require_gradcheck([](const In& in) { return scatter_add(in[0], 0, idx({0, 2, 0, 1, 1, 1}, {2, 3}), in[1]); },
                           {grad_leaf({3, 3}, 92), grad_leaf({2, 3}, 93)});
       }},
      {"index_add", [] {
         require_gradcheck([](const In& in) { return index_add(in[0], 0, idx({2, 2}, {2}), in[1]); },
                           {grad_leaf({3, 4}, 94), grad_leaf({2, 4}, 95)});
       }},
      {"embedding", [] { require_gradcheck([](const In& in) { return embedding(in[0], idx({1, 1, 3, 0}, {2, 2})); }, {grad_leaf({4, 3}, 96)}); }},
      {"topk", [] {
         require_gradcheck([](const In& in) { return topk(in[0], 2, 0).first; }, {grad_leaf({3, 4}, 97)});
         require_gradcheck([](const In& in) { return topk(in[0], 3, -1, false).first; }, {grad_leaf({2, 4}, 98)});
       }},
      {"sort", [] { require_gradcheck([](const In& in) { return sort(in[0], -1, true).first; }, {grad_leaf({3, 4}, 99)}); }},
      // ---- joins ----
      {"cat", [] { require_gradcheck([](const In& in) { return cat({in[0], in[1], in[0]}, 1); }, {grad_leaf({3, 2}, 100), grad_leaf({3, 1}, 101)}); }},
      {"stack", [] { require_gradcheck([](const In& in) { return stack({in[0], in[1]}, -1); }, {grad_leaf({3, 2}, 102), grad_leaf({3, 2}, 103)}); }},
      {"split", [] {
         require_gradcheck([](const In& in) { auto p = split(in[0], std::vector<int64_t>{1, 3}, 1); return mul(p[0], p[1]); }, {grad_leaf({2, 4}, 104)});
       }},
      {"chunk", [] {
         require_gradcheck([](const In& in) { auto p = chunk(in[0], 2, 0); return sub(mul(p[0], 2.0), p[1]); }, {grad_leaf({4, 3}, 105)});
       }},
  };
  return table;
}

}  // namespace

TEST_CASE("every differentiable op in the registry has a gradcheck case, and only those", "[gradcheck]") {
  std::set<std::string> registry;
  for (const OpInfo& op : op_registry()) {
    INFO("op " << op.name);
    REQUIRE(registry.insert(op.name).second);  // names are unique
    if (op.differentiable) REQUIRE(cases().count(op.name) == 1);
  }
  for (const auto& [name, c] : cases()) {
    INFO("gradcheck case " << name);
    REQUIRE(registry.count(name) == 1);
  }
}

TEST_CASE("gradcheck of every differentiable op", "[gradcheck]") {
  for (const auto& [name, run] : cases()) {
    DYNAMIC_SECTION(name) { run(); }
  }
}

TEST_CASE("gradcheck catches a wrong backward", "[gradcheck]") {
  // An op whose recorded backward is off by a factor of 2 must fail.
  auto wrong = [](const In& in) {
    Tensor out = mul(in[0].detach(), 3.0);
    return record("mul", out, {in[0]}, [](const Tensor& g) -> Grads { return {mul(g, 6.0)}; });
  };
  GradcheckResult r = gradcheck(wrong, {grad_leaf({3}, 1)});
  REQUIRE_FALSE(r.ok);
  REQUIRE(r.message.find("analytic") != std::string::npos);
  require_error([] { gradcheck([](const In& in) { return in[0]; }, {zeros({2}, DType::f32)}); }, "gradcheck");
}

TEST_CASE("ops without a gradient produce tensors that do not require grad", "[gradcheck]") {
  Tensor x = grad_leaf({3, 4}, 7);
  REQUIRE_FALSE(argmax(x, 1).requires_grad());
  REQUIRE_FALSE(gt(x, 0.0).requires_grad());
  REQUIRE_FALSE(topk(x, 2).second.requires_grad());
  REQUIRE_FALSE(argsort(x).requires_grad());
  REQUIRE(topk(x, 2).first.requires_grad());
}
