// The router of a sparse MoE layer: scores every expert for every routing
// unit, keeps the top k, and plans the dispatch (moe/dispatch.h).
//
//   logits = gate(x)              [N, E]   (linear or X-MoE cosine gate, see GateKind)
//   probs  = softmax(logits)      [N, E]
//   experts, gates = top-k(probs) [N, k]   (k = 2 may apply a SecondExpertPolicy)
//
// The gates stay in the graph, so the router learns through the combine
// weights; the choice of experts itself has no gradient.
//
// Two auxiliary losses keep routing healthy:
//   balance = E * sum_e f_e * P_e   (Switch/GShard; f_e: share of units whose FIRST choice
//                                    is e, counted before dropping; P_e: mean probability of e)
//   z       = mean_n logsumexp(logits_n)^2   (ST-MoE's router z-loss)
// balance is 1 for perfectly uniform routing and E when every unit picks one expert.
#pragma once

#include <memory>

#include "core/random.h"
#include "moe/config.h"
#include "moe/dispatch.h"
#include "nn/linear.h"

namespace moegrad {

// The routing of one batch of N units.
struct Routing {
  Tensor logits;   // [N, E]
  Tensor probs;    // [N, E]
  Tensor experts;  // i64 [N, k]: expert ids by rank, -1 where a policy made no choice
  Tensor gates;    // [N, k]: the chosen experts' probabilities (renormalized if asked), 0 for no choice
  DispatchPlan plan;
  Tensor balance_loss, z_loss;  // 0-d, unweighted
};

class Router : public Module {
 public:
  // Uses dim (the routing unit's features), num_experts, top_k and the gate
  // and policy fields of config.
  explicit Router(const MoEConfig& config);
  // x [N, dim]. Training uses capacity_factor and the random second-expert
  // policies; eval uses eval_capacity_factor and plain top-k.
  Routing forward(const Tensor& x, bool training) const;
  Tensor logits(const Tensor& x) const;  // the gate alone: [N, dim] -> [N, E]

  MoEConfig config;
  std::shared_ptr<Linear> wg;                    // linear gate (weight [E, dim])
  std::shared_ptr<Linear> wg_reduction;          // xmoe: [dim] -> [xmoe_dim]
  Tensor expert_embeddings;                      // xmoe: [E, xmoe_dim], parameter "wg" as in torchscale
  Generator& generator() const { return gen_; }  // for checkpoints: its offset is the router's RNG state

 private:
  mutable Generator gen_;  // draws of the random policies; forward() advances it
};

Tensor load_balancing_loss(const Tensor& probs, const Tensor& first_choice);  // probs [N, E], first_choice [N]
Tensor router_z_loss(const Tensor& logits);                                   // logits [N, E]

}  // namespace moegrad
