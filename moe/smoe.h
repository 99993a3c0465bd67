// SMoE: the sparse top-k mixture-of-experts feed-forward layer (GShard /
// Switch / X-MoE), the baseline of the MH-MoE paper.
//
//   units x [N, d] --router--> experts, gates [N, k], plan
//           --dispatch--> [S, d] --experts (grouped GEMM)--> [S, d] --combine--> [N, d]
//
// It plugs into a TransformerBlock's FFN slot (the block adds the residual).
// After each forward call, aux_loss() holds
//   balance_weight * balance_loss + z_weight * z_loss
// and last_stats() the routing stats; add the aux loss to the training loss
// (total_aux_loss(model) does it for every layer).
#pragma once

#include <memory>

#include "moe/config.h"
#include "moe/experts.h"
#include "moe/layer.h"
#include "moe/router.h"

namespace moegrad {

class MoE : public MoeLayer {
 public:
  explicit MoE(const MoEConfig& config);           // config.heads is MHMoE's: MoE only validates it
  Tensor forward(const Tensor& x) const override;  // [..., dim] -> [..., dim]
  // x [N, dim] routing units that came from `tokens` tokens (MH-MoE passes
  // its sub-tokens: N = tokens * h). Returns [N, dim].
  Tensor forward_units(const Tensor& x, int64_t tokens) const;
  // The routing of the last forward call, for inspection.
  const Routing& last_routing() const { return routing_; }

  // Read at construction. Later edits reach only what forward() reads here
  // (balance_weight, z_weight); the router keeps its own copy
  // (router->config) for the gate, policies and capacity.
  MoEConfig config;
  std::shared_ptr<Router> router;
  std::shared_ptr<Experts> experts;

 private:
  mutable Routing routing_;
};

}  // namespace moegrad
