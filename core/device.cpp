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

Device usable_device(const std::string& s, const char* op) {
  Device d = parse_device(s);
  MOEGRAD_CHECK(d.is_cpu() || d.index < cuda_device_count(), op, "--device ", s, ": ", cuda_device_count(),
                " GPU(s) visible to this build");
  return d;
}

#ifdef MOEGRAD_WITH_CUDA
// The device count is asked each time: cheap next to anything done on a GPU,
// and a test harness may hide GPUs between calls (CUDA_VISIBLE_DEVICES is
// read once per process, though, so in practice the answer is fixed).
bool cuda_is_available() { return cuda_device_count() > 0; }
// cuda_device_count, the TF32 switch and the memory figures: backends/cuda.
#else
int cuda_device_count() { return 0; }
bool cuda_is_available() { return false; }

namespace {
[[noreturn]] void no_cuda(const char* op) { detail::fail(op, "this build has no CUDA backend"); }
}  // namespace
void cuda_set_tf32(bool on) {
  if (on) no_cuda("cuda_set_tf32");
}
bool cuda_tf32() { return false; }
size_t cuda_memory_allocated(int) { return 0; }
size_t cuda_memory_cached(int) { return 0; }
void cuda_empty_cache(int) { no_cuda("cuda_empty_cache"); }
void cuda_synchronize(int) { no_cuda("cuda_synchronize"); }
#endif

}  // namespace moegrad
