#include "moe/router.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "nn/init.h"

namespace moegrad {

Router::Router(const MoEConfig& c) : config(c), gen_(c.seed) {
  check_config("Router", c);
  if (c.gate == GateKind::linear) {
    wg = register_module("wg", std::make_shared<Linear>(c.dim, c.num_experts, false, c.dtype));
  } else {
    wg_reduction = register_module("wg_reduction", std::make_shared<Linear>(c.dim, c.xmoe_dim, false, c.dtype));
    expert_embeddings = register_parameter("wg", Tensor::empty({c.num_experts, c.xmoe_dim}, c.dtype));
    orthogonal_(expert_embeddings, 0.32);  // torchscale's init; the gain is moot once normalized
  }
}

Tensor Router::logits(const Tensor& x) const {
  MOEGRAD_CHECK(x.dim() == 2 && x.size(1) == config.dim, "Router", "input must be [units, ", config.dim, "], got ",
                shape_str(x.shape()));
  if (config.gate == GateKind::linear) return wg->forward(x);
  // Cosine-like scores: only the expert embeddings are normalized (torchscale
  // leaves the projected token unnormalized; its eps is 1e-4).
  Tensor norm = maximum(sqrt(sum(mul(expert_embeddings, expert_embeddings), {-1}, true)), 1e-4);
  Tensor e = div(expert_embeddings, norm);
  Tensor s = matmul(wg_reduction->forward(x), e.t());
  return config.xmoe_temperature == 1.0 ? s : div(s, config.xmoe_temperature);
}

namespace {

// GShard's second-expert policies on the host: experts [N, 2] from top-k,
// rewritten in place. N * E numbers, small next to the layer's work.
Tensor second_expert_policy(const MoEConfig& c, const Tensor& experts, const Tensor& logits, const Tensor& probs,
                            Generator& gen) {
  const int64_t N = experts.size(0), E = c.num_experts;
  std::vector<int64_t> ex = experts.to(Device::cpu()).to_vector<int64_t>();
  // Uniform draws in [2^-53, 1), so log(u) is finite.
  auto draws = [&](int64_t n) {
    std::vector<double> u = rand({n}, DType::f64, &gen).to_vector<double>();
    for (double& x : u) x = std::max(x, std::ldexp(1.0, -53));
    return u;
  };
  if (c.second_expert == SecondExpertPolicy::sampling) {
    std::vector<double> lg = cast(logits.detach(), DType::f64).to(Device::cpu()).to_vector<double>();
    std::vector<double> u = draws(N * E);
    for (int64_t n = 0; n < N; ++n) {  // Gumbel-max: argmax(logit + G) samples softmax(logits)
      double best = -std::numeric_limits<double>::infinity();
      int64_t second = -1;
      for (int64_t e = 0; e < E; ++e) {
        double score = lg[size_t(n * E + e)] - std::log(-std::log(u[size_t(n * E + e)]));
        if (e != ex[size_t(n * 2)] && score > best) best = score, second = e;
      }
      ex[size_t(n * 2 + 1)] = second;
    }
  } else if (c.second_expert == SecondExpertPolicy::random) {
    std::vector<double> pr = cast(probs.detach(), DType::f64).to(Device::cpu()).to_vector<double>();
    std::vector<double> u = draws(N);
    for (int64_t n = 0; n < N; ++n)
      if (!(2 * pr[size_t(n * E + ex[size_t(n * 2 + 1)])] > u[size_t(n)])) ex[size_t(n * 2 + 1)] = -1;
  }
  return from_vector(ex, {N, 2}, experts.device());
}

}  // namespace

Routing Router::forward(const Tensor& x, bool training) const {
  MOEGRAD_CHECK(x.dim() == 2 && x.size(0) > 0, "Router", "needs a non-empty batch of units [N, ", config.dim, "], got ",
                shape_str(x.shape()));
  Routing r;
  r.logits = logits(x);
  r.probs = softmax(r.logits, -1);
  const int64_t N = x.size(0), k = config.top_k;
  r.experts = topk(r.probs.detach(), k, -1).second;
  if (training && config.second_expert != SecondExpertPolicy::all)
    r.experts = second_expert_policy(config, r.experts, r.logits, r.probs, gen_);

  // The gates are the chosen experts' probabilities, zero where no choice.
  Tensor chosen = ge(r.experts, 0.0);
  r.gates = mul(gather(r.probs, 1, where(chosen, r.experts, zeros_like(r.experts))), cast(chosen, r.probs.dtype()));
  if (config.renormalize) r.gates = div(r.gates, sum(r.gates, {-1}, true));

  double factor = training ? config.capacity_factor : config.eval_capacity_factor;
  int64_t capacity = expert_capacity(factor, N, k, config.num_experts);
  r.plan = make_plan(r.experts, config.num_experts, capacity, x.device());
  r.balance_loss = load_balancing_loss(r.probs, r.experts.select(1, 0));
  r.z_loss = router_z_loss(r.logits);
  return r;
}

Tensor load_balancing_loss(const Tensor& probs, const Tensor& first_choice) {
  MOEGRAD_CHECK(probs.dim() == 2 && first_choice.dim() == 1 && first_choice.size(0) == probs.size(0),
                "load_balancing_loss", "expected probs [N, E] and first_choice [N], got ", shape_str(probs.shape()),
                " and ", shape_str(first_choice.shape()));
  const int64_t N = probs.size(0), E = probs.size(1);
  MOEGRAD_CHECK(N > 0, "load_balancing_loss", "needs at least one unit");
  MOEGRAD_CHECK(is_floating(probs.dtype()) && is_integral(first_choice.dtype()), "load_balancing_loss",
                "expected floating probs and i32/i64 first_choice, got ", dtype_name(probs.dtype()), " and ",
                dtype_name(first_choice.dtype()));
  check_index_range("load_balancing_loss", first_choice, E);
  // f_e counts choices, which carry no gradient; P_e carries it.
  Tensor f = div(cast(bincount(first_choice, E), probs.dtype()), double(N));
  return mul(sum(mul(f, mean(probs, {0}))), double(E));
}

Tensor router_z_loss(const Tensor& logits) {
  MOEGRAD_CHECK(logits.dim() == 2 && logits.size(0) > 0 && logits.size(1) > 0 && is_floating(logits.dtype()),
                "router_z_loss", "expected non-empty floating logits [N, E], got ", dtype_name(logits.dtype()), " ",
                shape_str(logits.shape()));
  return mean(pow(logsumexp(logits, {-1}), 2.0));
}

}  // namespace moegrad
