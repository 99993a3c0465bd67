// MH-MoE: Multi-Head Mixture-of-Experts (Wu et al. 2024, arXiv 2404.15045).
//
// Each token is projected, split into h sub-tokens of d/h features, and each
// sub-token is routed on its own; the outputs are joined and merged:
//
//   x [N, d] --multi_head (Linear d->d)--> [N, d] --split--> [N*h, d/h]
//            --MoE over sub-tokens--> [N*h, d/h] --join--> [N, d] --merge (Linear d->d)--> [N, d]
//
// Sub-token j of token n is row n*h + j (token-major), so capacity and
// first-come-first-served dropping count sub-tokens in that order.
//
// Paper and code differ in one place: the paper's Eq. 6 adds each sub-token
// to its MoE output before the merge; the released code does not. The
// default follows the code; MoEConfig::subtoken_residual selects the paper.
//
// Init as the released code: multi_head xavier-uniform with gain 1/sqrt(2),
// merge xavier-uniform (gain 1) with a zero bias.
#pragma once

#include <memory>

#include "moe/smoe.h"
#include "nn/linear.h"

namespace moegrad {

class MHMoE : public MoeLayer {
 public:
  // config.dim is the model's; its experts work on dim / heads features.
  explicit MHMoE(const MoEConfig& config);
  Tensor forward(const Tensor& x) const override;  // [..., dim] -> [..., dim]

  MoEConfig config;
  std::shared_ptr<Linear> multi_head, merge;  // null when config.head_merge is false
  std::shared_ptr<MoE> moe;  // routes the sub-tokens
};

// Parameters and forward FLOPs per token (a multiply-add is 2 FLOPs) of a
// layer, for matching configs. Counted at full capacity (no drops); router
// FLOPs are also given apart, since matched presets only match the rest.
struct LayerCost {
  int64_t params = 0;
  int64_t flops = 0;         // per token, all of it
  int64_t router_flops = 0;  // per token, the gate's share of flops
};
LayerCost smoe_cost(const MoEConfig& config);   // MoE(config)
LayerCost mhmoe_cost(const MoEConfig& config);  // MHMoE(config)
LayerCost dense_cost(int64_t dim, int64_t hidden, FfnActivation activation = FfnActivation::gelu, bool bias = true);

// MH-MoE presets derived from an SMoE config:
//   v1, parameter-matched (the MH-MoE paper): same E and k, expert hidden
//       size grown until the parameters match (about 4 * beta * h * d for
//       SMoE experts of 4d, beta just under 1); costs about h times the FLOPs.
//   v2, FLOPs-matched (arXiv 2411.16205): top-k = h and expert hidden
//       d_mh = (k_smoe * d_moe - c * d) / h, c = 1 for GELU and 2/3 for
//       SwiGLU, so experts + head + merge cost what the SMoE's experts cost;
//       E grows until the parameters match.
MoEConfig mhmoe_v1(const MoEConfig& smoe, int64_t heads);
MoEConfig mhmoe_v2(const MoEConfig& smoe, int64_t heads);

}  // namespace moegrad
