// The transformer's position-wise feed-forward network, and the expert FFN
// of the MoE layers:
//   gelu:   y = W2 gelu(W1 x)
//   swiglu: y = W2 (silu(W1 x) * W3 x)
#pragma once

#include <memory>

#include "nn/linear.h"

namespace moegrad {

// What a transformer block's feed-forward slot accepts: the dense
// FeedForward below, or any MoE layer of moe/.
class FfnLayer : public Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;  // [..., dim] -> [..., dim]
};

enum class FfnActivation { gelu, swiglu };

class FeedForward : public FfnLayer {
 public:
  FeedForward(int64_t dim, int64_t hidden, FfnActivation activation = FfnActivation::gelu, bool bias = true,
              DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const override;

  FfnActivation activation;
  std::shared_ptr<Linear> w1, w2, w3;  // w3 only for swiglu
};

}  // namespace moegrad
