// CUDA device discovery. The CUDA tensor backend (kernels, cuBLAS, caching
// allocator) lands here; for now this file answers whether a GPU is present
// so CUDA tests can skip cleanly where there is none.
#include <cuda_runtime.h>

#include "core/device.h"

namespace moegrad {

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error: no driver or no GPU means zero devices
    return 0;
  }
  return n;
}

}  // namespace moegrad
