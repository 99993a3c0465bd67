// A stable device sort of (key, value) pairs, shared by indexing.cu's sort,
// topk (large k), scatter_add and index_add. It lives in its own file because
// CUB's radix sort is slow to compile and instantiated once here.
#pragma once

#include <cstdint>

#include "backends/cuda/cuda_backend.h"

namespace moegrad::cuda {

// Sorts n pairs by the low `bits` bits of their keys (1..64), ascending;
// pairs with equal keys keep their input order. Out of place: the inputs
// are left as they were. Throws naming `op` on a CUDA error or n >= 2^31.
void sort_pairs(CudaBackend& backend, const char* op, const uint64_t* keys_in, uint64_t* keys_out,
                const int64_t* values_in, int64_t* values_out, int64_t n, int bits);

// The number of bits that hold every value in [0, max_value]; at least 1.
inline int bits_for(uint64_t max_value) {
  int b = 1;
  while (b < 64 && (max_value >> b) != 0) ++b;
  return b;
}

}  // namespace moegrad::cuda
