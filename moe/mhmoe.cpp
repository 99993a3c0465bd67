#include "moe/mhmoe.h"

#include <cmath>

#include "core/elementwise.h"
#include "nn/init.h"

namespace moegrad {

namespace {
MoEConfig subtoken_config(const char* op, const MoEConfig& c) {
  check_config(op, c);
  MoEConfig sub = c;
  sub.dim = c.dim / c.heads;
  sub.heads = 1;
  return sub;
}
}  // namespace

MHMoE::MHMoE(const MoEConfig& c) : config(c) {
  MoEConfig sub = subtoken_config("MHMoE", c);
  if (c.head_merge)
    multi_head = register_module("multi_head", std::make_shared<Linear>(c.dim, c.dim, true, c.dtype));
  moe = register_module("moe", std::make_shared<MoE>(sub));
  if (c.head_merge) {
    merge = register_module("merge", std::make_shared<Linear>(c.dim, c.dim, true, c.dtype));
    xavier_uniform_(multi_head->weight, 1.0 / std::sqrt(2.0));
    xavier_uniform_(merge->weight);
    zeros_(merge->bias);
  }
}

Tensor MHMoE::forward(const Tensor& x) const {
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) == config.dim, "MHMoE", "input ", shape_str(x.shape()),
                " must end in dim = ", config.dim);
  Tensor tokens = x.reshape({-1, config.dim});
  const int64_t N = tokens.size(0);
  Tensor projected = multi_head ? multi_head->forward(tokens) : tokens;
  Tensor sub = projected.reshape({N * config.heads, config.dim / config.heads});
  moe->train(is_training());
  Tensor o = moe->forward_units(sub, N);
  if (config.subtoken_residual) o = add(o, sub);
  Tensor joined = o.reshape({N, config.dim});
  Tensor out = merge ? merge->forward(joined) : joined;
  aux_loss_ = moe->aux_loss();
  last_stats_ = moe->last_stats();
  return out.reshape(x.shape());
}

// ---- costs and presets ----

namespace {
int64_t matrices(FfnActivation a) { return a == FfnActivation::swiglu ? 3 : 2; }

int64_t router_params(const MoEConfig& c) {
  return c.gate == GateKind::linear ? c.dim * c.num_experts : c.dim * c.xmoe_dim + c.num_experts * c.xmoe_dim;
}
int64_t router_flops(const MoEConfig& c) {
  return c.gate == GateKind::linear ? 2 * c.dim * c.num_experts
                                    : 2 * c.dim * c.xmoe_dim + 2 * c.xmoe_dim * c.num_experts;
}
// The multi-head and merge layers: d x d weights and d biases each, when present.
int64_t head_merge_params(const MoEConfig& c) { return c.head_merge ? 2 * (c.dim * c.dim + c.dim) : 0; }
int64_t expert_params(const MoEConfig& c) {
  int64_t n = matrices(c.activation);
  int64_t bias = c.expert_bias ? (n - 1) * c.hidden + c.dim : 0;
  return c.num_experts * (n * c.dim * c.hidden + bias);
}
}  // namespace

LayerCost smoe_cost(const MoEConfig& c) {
  check_config("smoe_cost", c);
  LayerCost cost;
  cost.params = router_params(c) + expert_params(c);
  cost.router_flops = router_flops(c);
  cost.flops = cost.router_flops + c.top_k * matrices(c.activation) * 2 * c.dim * c.hidden;
  return cost;
}

LayerCost mhmoe_cost(const MoEConfig& c) {
  LayerCost sub = smoe_cost(subtoken_config("mhmoe_cost", c));
  LayerCost cost;
  cost.params = head_merge_params(c) + sub.params;
  cost.router_flops = c.heads * sub.router_flops;
  cost.flops = (c.head_merge ? 2 * 2 * c.dim * c.dim : 0) + c.heads * sub.flops;
  return cost;
}

LayerCost dense_cost(int64_t dim, int64_t hidden, FfnActivation activation, bool bias) {
  int64_t n = matrices(activation);
  LayerCost cost;
  cost.params = n * dim * hidden + (bias ? (n - 1) * hidden + dim : 0);
  cost.flops = n * 2 * dim * hidden;
  return cost;
}

MoEConfig mhmoe_v1(const MoEConfig& smoe, int64_t heads) {
  check_config("mhmoe_v1", smoe);
  MoEConfig c = smoe;
  c.heads = heads;
  check_config("mhmoe_v1", c);
  // E * n * (d/h) * f_mh + head and merge + router(d/h) = the SMoE's parameters.
  int64_t budget = smoe_cost(smoe).params - head_merge_params(c) - router_params(subtoken_config("mhmoe_v1", c));
  double per_hidden = double(c.num_experts * matrices(c.activation) * (c.dim / heads));
  c.hidden = std::llround(double(budget) / per_hidden);
  MOEGRAD_CHECK(c.hidden >= 1, "mhmoe_v1", "the SMoE's ", smoe_cost(smoe).params,
                " parameters cannot pay for the head and merge layers of dim ", c.dim);
  return c;
}

MoEConfig mhmoe_v2(const MoEConfig& smoe, int64_t heads) {
  check_config("mhmoe_v2", smoe);
  MoEConfig c = smoe;
  c.heads = heads;
  c.top_k = heads;
  if (c.top_k != 2) c.second_expert = SecondExpertPolicy::all;  // the policies are for top-2 only
  const int64_t n = matrices(c.activation);
  // 2 * 2 d^2 (head, merge) + h * k * n * 2 (d/h) d_mh = k_smoe * n * 2 d d_moe,
  // with k = h:  d_mh = (k_smoe * d_moe - (2/n) d) / h.
  const double head_merge = c.head_merge ? 2.0 / double(n) * double(c.dim) : 0.0;
  double d_mh = (double(smoe.top_k * smoe.hidden) - head_merge) / double(heads);
  MOEGRAD_CHECK(d_mh >= 1, "mhmoe_v2", "k * hidden = ", smoe.top_k * smoe.hidden,
                " is too small to pay for the head and merge layers of dim ", c.dim);
  c.hidden = std::llround(d_mh);
  // More experts of the smaller size, to hold the SMoE's parameters.
  MoEConfig one = c;
  one.num_experts = 1;
  one.top_k = 1;
  double per_expert = double(expert_params(subtoken_config("mhmoe_v2", one)));
  int64_t budget = smoe_cost(smoe).params - head_merge_params(c);
  c.num_experts = std::max<int64_t>(c.top_k, std::llround(double(budget) / per_expert));
  check_config("mhmoe_v2", c);
  return c;
}

}  // namespace moegrad
