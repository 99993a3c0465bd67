#include "core/backend.h"

#include "backends/cpu/cpu_backend.h"
#ifdef MOEGRAD_WITH_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace moegrad {

Backend& backend(Device device) {
  // Never destroyed: tensors in other static objects may be freed after any
  // destructor of ours would have run.
  static CpuBackend* cpu = new CpuBackend();
  if (device.is_cpu()) return *cpu;
#ifdef MOEGRAD_WITH_CUDA
  return cuda_backend(device.index);  // throws naming the device when there is no such GPU
#else
  detail::fail("backend", "device ", device.str(), " has no tensor backend in this build (CPU only)");
#endif
}

}  // namespace moegrad
