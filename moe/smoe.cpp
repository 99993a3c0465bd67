#include "moe/smoe.h"

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/graph.h"
#include "core/reduce.h"

namespace moegrad {

MoE::MoE(const MoEConfig& c) : config(c) {
  check_config("MoE", c);
  router = register_module("router", std::make_shared<Router>(c));
  experts = register_module(
      "experts", std::make_shared<Experts>(c.num_experts, c.dim, c.hidden, c.activation, c.expert_bias, c.dtype));
}

Tensor MoE::forward(const Tensor& x) const {
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) == config.dim, "MoE", "input ", shape_str(x.shape()),
                " must end in dim = ", config.dim);
  Tensor units = x.reshape({-1, config.dim});
  return forward_units(units, units.size(0)).reshape(x.shape());
}

Tensor MoE::forward_units(const Tensor& x, int64_t tokens) const {
  MOEGRAD_CHECK(x.dim() == 2 && x.size(1) == config.dim, "MoE", "units must be [N, ", config.dim, "], got ",
                shape_str(x.shape()));
  routing_ = router->forward(x, is_training());
  const Routing& r = routing_;
  Tensor out = combine(experts->forward(dispatch(x, r.plan), r.plan), r.gates, r.plan);

  aux_loss_ = mul(r.balance_loss, config.balance_weight);
  if (config.z_weight > 0) aux_loss_ = add(aux_loss_, mul(r.z_loss, config.z_weight));
  double entropy = 0;
  if (x.size(0) > 0) {
    NoGradGuard no_grad;  // - sum_e p_e log p_e, summed over units
    entropy = -cast(sum(mul(r.probs, log_softmax(r.logits, -1))), DType::f64).item<double>();
  }
  last_stats_ = RoutingStats::from_plan(r.plan, tokens, entropy);
  return out;
}

}  // namespace moegrad
