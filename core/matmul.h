// Matrix products through the backend's BLAS (OpenBLAS on the CPU).
#pragma once

#include "core/tensor.h"

namespace moegrad {

// PyTorch's matmul semantics:
//   [M,K] @ [K,N] -> [M,N];  [...,M,K] @ [...,K,N] -> [...,M,N] with the batch
//   dims broadcast; a 1-D left operand is a row vector and a 1-D right operand
//   a column vector, their dim removed from the result.
// Floating dtypes, one dtype for both. Transposed views are handed to BLAS as
// transpose flags, not copied.
Tensor matmul(const Tensor& a, const Tensor& b);

}  // namespace moegrad
