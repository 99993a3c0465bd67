// Writing into existing tensors and converting between dtypes.
//
// In-place functions end in `_` as in PyTorch and bump the storage's version
// counter, so autograd can tell when a saved tensor was overwritten. While
// grad mode is on they refuse tensors that require grad (in-place writes are
// not differentiable here); optimizers write under NoGradGuard.
#pragma once

#include "core/tensor.h"

namespace moegrad {

// Sets every element of the view `dst` to `value` (converted to its dtype).
void fill_(const Tensor& dst, double value);
// Copies src into dst element by element, converting dtype; src broadcasts to
// dst's shape. dst and src must be on one device.
void copy_(const Tensor& dst, const Tensor& src);
// A new contiguous tensor of dtype `dtype` (a copy even when dtypes match).
Tensor cast(const Tensor& src, DType dtype);

}  // namespace moegrad
