// The stable pair sort of radix_sort.h, on CUB's device radix sort (LSD, so
// stable by construction). Temporary storage comes from the caching allocator.
#include <cub/device/device_radix_sort.cuh>

#include "backends/cuda/common.cuh"
#include "backends/cuda/radix_sort.h"

namespace moegrad::cuda {

void sort_pairs(CudaBackend& backend, const char* op, const uint64_t* keys_in, uint64_t* keys_out,
                const int64_t* values_in, int64_t* values_out, int64_t n, int bits) {
  if (n == 0) return;
  MOEGRAD_CHECK(n < INT32_MAX, op, "cannot sort ", n, " elements on the GPU (at most 2^31 - 1)");
  if (bits < 1) bits = 1;
  if (bits > 64) bits = 64;
  size_t temp_bytes = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out, values_in, values_out, int(n), 0, bits,
                                        cudaStream_t(nullptr)),
        op, "cub::DeviceRadixSort::SortPairs (sizing)");
  Scratch temp(backend, temp_bytes < 1 ? 1 : temp_bytes);
  check(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, keys_in, keys_out, values_in, values_out, int(n),
                                        0, bits, cudaStream_t(nullptr)),
        op, "cub::DeviceRadixSort::SortPairs");
  check_launch(op);
}

}  // namespace moegrad::cuda
