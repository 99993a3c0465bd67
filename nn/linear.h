// Linear: y = x W^T + b, with W stored [out, in] as in PyTorch, so weights
// move between the two unchanged (through safetensors).
#pragma once

#include "nn/module.h"

namespace moegrad {

class Linear : public Module {
 public:
  // PyTorch's default init: W and b uniform in +-1/sqrt(in).
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::f32);
  // x [..., in] -> [..., out]
  Tensor forward(const Tensor& x) const;

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when disabled
};

}  // namespace moegrad
