// Normalisation layers over the last dim.
//   LayerNorm: y = (x - mean) / sqrt(var + eps) * weight + bias   (biased variance)
//   RMSNorm:   y = x / sqrt(mean(x^2) + eps) * weight
// Written with the core ops, so their gradients come from autograd.
#pragma once

#include "nn/module.h"

namespace moegrad {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool affine = true, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;  // x [..., dim]

  int64_t dim;
  double eps;
  Tensor weight, bias;  // ones and zeros; undefined without affine
};

class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const;

  int64_t dim;
  double eps;
  Tensor weight;
};

}  // namespace moegrad
