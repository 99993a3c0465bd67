// Indexing ops: selecting, gathering and scattering by integer indices,
// top-k, sorting and counting. MoE dispatch is built from these.
//
// Index tensors are i32 or i64. Every index is range-checked: an index
// outside [0, size) throws moegrad::Error naming the op and the value, never
// reads or writes out of bounds. Negative indices are not wrapped.
#pragma once

#include <utility>

#include "core/tensor.h"

namespace moegrad {

// x with dim `dim` replaced by the rows at `index` (1-D).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// out[i][j] = x[index[i][j]][j] (dim 0); index has x's rank, and each of its
// sizes except `dim` is at most x's.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// A copy of x with src added at index along dim: out[index[i][j]][j] += src[i][j]
// (dim 0). index and src share one shape, of x's rank.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// A copy of x with src's slices added at positions index (1-D) along dim.
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// Rows of weight [V, D] for each id: ids of shape S give [S..., D].
Tensor embedding(const Tensor& weight, const Tensor& ids);

// The k largest (or smallest) along dim, sorted, with their i64 indices; on
// ties the lower index comes first. 0 <= k <= size(dim).
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true);
// Stable sort along dim: values and i64 indices. NaN sorts as the largest.
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false);
// Counts of each value of a 1-D non-negative integer tensor; the result (i64)
// has max(max(x) + 1, minlength) bins.
Tensor bincount(const Tensor& x, int64_t minlength = 0);

// Throws moegrad::Error naming `op` unless every element of `index` (i32 or
// i64) lies in [0, size).
void check_index_range(const char* op, const Tensor& index, int64_t size);

}  // namespace moegrad
