// Matrix products through the backend's BLAS (OpenBLAS on the CPU).
#pragma once

#include <vector>

#include "core/tensor.h"

namespace moegrad {

// PyTorch's matmul semantics:
//   [M,K] @ [K,N] -> [M,N];  [...,M,K] @ [...,K,N] -> [...,M,N] with the batch
//   dims broadcast; a 1-D left operand is a row vector and a 1-D right operand
//   a column vector, their dim removed from the result.
// Floating dtypes, one dtype for both. Transposed views are handed to BLAS as
// transpose flags, not copied.
Tensor matmul(const Tensor& a, const Tensor& b);

// A matmul per group of rows, the expert GEMM of a MoE layer: rows
// [offsets[g], offsets[g+1]) of x [S, K] are multiplied by w[g] of w [G, K, N],
// giving [S, N]. offsets has G + 1 entries, starts at 0, never decreases and
// ends at S; it lives on the host because each group is one GEMM call.
// Empty groups cost nothing, and their w[g] gets a zero gradient.
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets);

}  // namespace moegrad
