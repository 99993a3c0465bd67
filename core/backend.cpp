#include "core/backend.h"

#include "backends/cpu/cpu_backend.h"

namespace moegrad {

Backend& backend(Device device) {
  // Never destroyed: tensors in other static objects may be freed after any
  // destructor of ours would have run.
  static CpuBackend* cpu = new CpuBackend();
  if (device.is_cpu()) return *cpu;
  detail::fail("backend", "device ", device.str(), " has no tensor backend in this build (CPU only)");
}

}  // namespace moegrad
