#include "core/backend.h"

#include "backends/cpu/cpu_backend.h"

namespace moegrad {

Backend& backend(Device device) {
  static CpuBackend cpu;
  if (device.is_cpu()) return cpu;
  detail::fail("backend", "device ", device.str(), " has no tensor backend in this build (CPU only)");
}

}  // namespace moegrad
