// Host memory for the CPU backend. Allocations are 64-byte aligned so SIMD
// loads never straddle a cache line at the start of a tensor.
#include "backends/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace moegrad {

void* CpuBackend::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  size_t rounded = (nbytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded);
  MOEGRAD_CHECK(p != nullptr, "cpu allocate", "out of memory allocating ", nbytes, " bytes");
  return p;
}

void CpuBackend::deallocate(void* ptr, size_t) { std::free(ptr); }

void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(host_dst, src, nbytes);
}

void CpuBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes) std::memcpy(dst, host_src, nbytes);
}

}  // namespace moegrad
