// Shapes, strides and the small arithmetic on them shared by every op:
// element counts, contiguous strides, axis normalization and broadcasting.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace moegrad {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;  // in elements, not bytes

int64_t numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);  // "[4,3]"; a 0-d shape is "[]"

// Maps a possibly negative axis into [0, rank); throws naming `op` if out of
// range. `rank` may be 0 only for ops that accept dim 0/-1 on 0-d tensors,
// which pass rank 1.
int64_t normalize_dim(const char* op, int64_t dim, int64_t rank);

// Normalizes, sorts and deduplicates a list of axes; an empty list means
// every axis.
std::vector<int64_t> normalize_dims(const char* op, const std::vector<int64_t>& dims, int64_t rank);

// NumPy/PyTorch broadcasting: align trailing dims; each pair must be equal
// or one of them 1. Throws naming `op` and both shapes otherwise.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

}  // namespace moegrad
