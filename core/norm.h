// Row normalizations over the last dimension, each one fused op (forward
// and backward one pass each) rather than a chain of a dozen small ones:
//
//   layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias
//               (var is the biased variance, as torch.nn.functional.layer_norm)
//   rms_norm:   y = x / sqrt(mean(x^2) + eps) * weight
//
// x [..., n] floating, any strides; weight and bias [n] of x's dtype and
// device, or undefined for none. The gradient flows to x, weight and bias.
// nn/norm.h's LayerNorm and RMSNorm modules hold the weights and call these.
#pragma once

#include "core/tensor.h"

namespace moegrad {

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

}  // namespace moegrad
