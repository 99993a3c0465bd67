// The experts of a MoE layer: E feed-forward networks whose weights are
// stacked into single tensors, so that all experts run as one grouped GEMM
// over the slots that dispatch (moe/dispatch.h) sorted by expert.
//
//   gelu:   y = gelu(x W1[e] + b1[e]) W2[e] + b2[e]
//   swiglu: y = (silu(x W1[e]) * (x W3[e])) W2[e]
//
// Weights are stored [E, in, out] (x @ W, unlike Linear's [out, in]), the
// layout a grouped GEMM reads without transposes.
#pragma once

#include "moe/dispatch.h"
#include "nn/feedforward.h"

namespace moegrad {

class Experts : public Module {
 public:
  // Each expert is initialised as PyTorch's Linear: uniform in +-1/sqrt(fan_in).
  Experts(int64_t num_experts, int64_t dim, int64_t hidden, FfnActivation activation = FfnActivation::gelu,
          bool bias = false, DType dtype = DType::f32);
  // x [S, dim] in the plan's slot order -> [S, dim]; slot s runs expert
  // expert_of_slot[s].
  Tensor forward(const Tensor& x, const DispatchPlan& plan) const;

  int64_t num_experts, dim, hidden;
  FfnActivation activation;
  Tensor w1, w2, w3;  // [E, dim, hidden], [E, hidden, dim], [E, dim, hidden] (swiglu only)
  Tensor b1, b2, b3;  // [E, hidden], [E, dim], [E, hidden] when bias is on
};

}  // namespace moegrad
