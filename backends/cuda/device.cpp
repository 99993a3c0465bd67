// CUDA device discovery: how many GPUs the runtime sees, so that
// cuda_is_available() (core/device.cpp) can say whether CUDA tensors work
// here and CUDA tests skip cleanly where there is no GPU. The backend itself
// is cuda_backend.h and the files beside it.
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
