#include "core/device.h"

#include "core/error.h"

namespace moegrad {


std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.find_first_not_of("0123456789", 5) == std::string::npos &&
      s.size() < 9)
    return Device::cuda(std::stoi(s.substr(5)));
  detail::fail("device", "unknown device '", s, "' (expected cpu, cuda or cuda:N)");
}

#ifndef MOEGRAD_WITH_CUDA
int cuda_device_count() { return 0; }  // with CUDA: backends/cuda/device.cpp
#endif

// Turns true with the CUDA tensor backend (backends/cuda), together with
// core/backend.cpp's dispatch to it.
bool cuda_is_available() { return false; }

}  // namespace moegrad
