// The knobs of a sparse MoE layer (SMoE and MH-MoE), in one place. Defaults:
// top-2 routing with a plain linear gate and balance loss weight 0.01, as in
// the papers' baselines; every choice torchscale makes differently (X-MoE
// gate, 'random' second-expert policy, renormalized top-2 gates, its capacity
// rule) is a field here, and docs/moe.md lists them side by side.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "nn/feedforward.h"

namespace moegrad {

// The gate that scores experts for a unit x:
//   linear: logits = W x                             (W [E, d], no bias)
//   xmoe:   logits = (R x) . normalize(e_i) / tau    (R [r, d] projects to a low dim r;
//           e_i are learned expert embeddings [E, r], L2-normalized on use, as torchscale's X-MoE)
enum class GateKind { linear, xmoe };

// What top-2 routing does with each unit's second expert (GShard; only for k = 2):
//   all:      always use the second-best expert.
//   sampling: pick the second expert by sampling from the remaining
//             distribution (Gumbel-max on the logits), not by argmax.
//   random:   keep the second-best expert with probability min(1, 2 * its gate), else no second expert.
enum class SecondExpertPolicy { all, sampling, random };

struct MoEConfig {
  int64_t dim = 128;                               // model features per token
  int64_t hidden = 512;                            // each expert's FFN hidden size
  int64_t num_experts = 8;                         // E
  int64_t top_k = 2;                               // experts per routing unit, 1 <= k <= E
  int64_t heads = 1;                               // MH-MoE sub-tokens per token (dim % heads == 0); 1 for SMoE
  FfnActivation activation = FfnActivation::gelu;  // expert FFN: gelu (2 matrices) or swiglu (3)
  bool expert_bias = false;

  GateKind gate = GateKind::linear;
  int64_t xmoe_dim = 16;          // r, the xmoe gate's routing dimension
  double xmoe_temperature = 1.0;  // tau, the xmoe gate's temperature (1 = none)
  SecondExpertPolicy second_expert = SecondExpertPolicy::all;
  bool renormalize = false;  // divide the k gates of a unit by their sum (before dropping)

  // Slots per expert = ceil(factor * k * units / E); 0 = dropless (no limit).
  double capacity_factor = 1.25;
  double eval_capacity_factor = 2.0;

  double balance_weight = 0.01;  // load-balancing loss E * sum_e f_e P_e
  double z_weight = 0.0;         // router z-loss mean(logsumexp(logits)^2)

  // MH-MoE: the paper's Eq. 6 adds each sub-token to its expert output before
  // the merge layer; the released code does not (the default).
  bool subtoken_residual = false;
  // MH-MoE: false drops the multi-head and merge layers (an ablation of the
  // paper's): sub-tokens are plain slices of the token, outputs joined as they are.
  bool head_merge = true;

  DType dtype = DType::f32;
  uint64_t seed = 0;  // the router's random second-expert policies draw from it
};

// Throws moegrad::Error naming `op` and the field if the config cannot work.
void check_config(const char* op, const MoEConfig& config);

}  // namespace moegrad
