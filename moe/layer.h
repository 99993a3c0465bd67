// What every MoE layer (MoE, MHMoE, Thor) has in common, and the helpers
// that work on a whole model: summing the aux losses, collecting routing
// stats, and placing MoE layers in every n-th transformer block.
//
//   DecoderLM model(config, moe_every(2, dense_ffn(config), [&](int64_t) {
//     return std::make_shared<MoE>(moe_config);
//   }));
//   Tensor ce = cross_entropy(model.forward(ids), targets);
//   Tensor loss = add(ce, total_aux_loss(model));  // after the forward: C++ may evaluate
//                                                  // add()'s arguments in either order
#pragma once

#include <memory>
#include <vector>

#include "moe/metrics.h"
#include "nn/transformer.h"

namespace moegrad {

class MoeLayer : public FfnLayer {
 public:
  // The weighted auxiliary loss of the last forward call (0-d, in the graph;
  // zero for THOR). Undefined before the first call.
  const Tensor& aux_loss() const { return aux_loss_; }
  // Routing stats of the last forward call.
  const RoutingStats& last_stats() const { return last_stats_; }

 protected:
  // forward() is const, as every layer's; what it leaves behind for the
  // training loop to read is a cache, hence mutable.
  mutable Tensor aux_loss_;
  mutable RoutingStats last_stats_;
};

// Every MoE layer of a model, depth-first in registration order (an MoE
// layer's own submodules are not searched: MH-MoE's inner MoE is part of it).
std::vector<std::shared_ptr<MoeLayer>> moe_layers(const Module& model);
// Sum of the aux losses of the last forward call of every MoE layer: a 0-d
// tensor (zero, of the model's dtype, when there are none). Call it after
// that forward call: before it, it returns the previous call's losses, whose
// graph the previous backward has freed.
Tensor total_aux_loss(const Module& model);
// The last call's routing stats of every MoE layer, in moe_layers' order.
std::vector<RoutingStats> routing_stats(const Module& model);

// Block i gets moe(i) when i % n == offset, else dense(i). The default
// offset n - 1 makes the n-th, 2n-th, ... blocks MoE, as torchscale's
// moe_freq (the MH-MoE code); THOR's released code uses offset 0 (blocks
// 0, 2, 4, ... for n = 2).
FfnFactory moe_every(int64_t n, FfnFactory dense, FfnFactory moe, int64_t offset = -1);
// Whether moe_every(n, ..., offset) puts the MoE layer in block `layer`.
bool is_moe_block(int64_t n, int64_t layer, int64_t offset = -1);

}  // namespace moegrad
