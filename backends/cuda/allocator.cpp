// Device memory for the CUDA backend: the caching allocator, host <-> device
// copies, the per-GPU backend objects and the memory figures of core/device.h.
//
// cudaMalloc and cudaFree synchronize the device and cost tens of
// microseconds, so a training step that allocated its activations afresh
// would spend its time there. Blocks are rounded to a size class and kept
// when freed; training asks for the same sizes every step, so after the first
// step nearly every request is served from the cache.
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "backends/cuda/cuda_backend.h"
#include "core/device.h"

namespace moegrad {

namespace {

void check(cudaError_t e, const char* op, const char* what) {
  if (e != cudaSuccess) detail::fail(op, what, " failed: ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

constexpr size_t kSmall = size_t(1) << 20;  // below: 512-byte classes; above: 2 MiB classes
size_t size_class(size_t nbytes) {
  const size_t unit = nbytes < kSmall ? 512 : (size_t(2) << 20);
  return (nbytes + unit - 1) / unit * unit;
}

}  // namespace

void CudaBackend::activate() const {
  int current = -1;
  check(cudaGetDevice(&current), "cuda", "cudaGetDevice");
  if (current != device_) check(cudaSetDevice(device_), "cuda", "cudaSetDevice");
}

void* CudaBackend::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = size_class(nbytes);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  auto it = cache_.lower_bound(size);
  if (it != cache_.end() && it->first <= size + size / 2) {
    void* p = it->second;
    cached_bytes_ -= it->first;
    allocated_bytes_.fetch_add(it->first, std::memory_order_relaxed);
    cache_.erase(it);
    return p;
  }
  activate();
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
    cudaGetLastError();                  // an allocation failure is not sticky; clear it
    for (auto& [bytes, block] : cache_) {
      blocks_.erase(block);
      check(cudaFree(block), "cuda allocate", "cudaFree");
    }
    cache_.clear();
    cached_bytes_ = 0;
    e = cudaMalloc(&p, size);
  }
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    detail::fail("cuda allocate", "out of memory on ", Device::cuda(device_).str(), " allocating ", nbytes,
                 " bytes (", allocated_bytes(), " bytes in use)");
  }
  check(e, "cuda allocate", "cudaMalloc");
  blocks_[p] = size;
  allocated_bytes_.fetch_add(size, std::memory_order_relaxed);
  return p;
}

void CudaBackend::deallocate(void* ptr, size_t /*nbytes*/) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  auto it = blocks_.find(ptr);
  if (it == blocks_.end()) return;  // not ours: never happens, and a destructor must not throw
  allocated_bytes_.fetch_sub(it->second, std::memory_order_relaxed);
  cache_.emplace(it->second, ptr);  // kept: the device keeps what it had; empty_cache() returns it
  cached_bytes_ += it->second;
}

size_t CudaBackend::cached_bytes() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  return cached_bytes_;
}

void CudaBackend::empty_cache() {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  activate();
  // Kernels queued on the stream may still use a freed block.
  check(cudaDeviceSynchronize(), "cuda empty_cache", "cudaDeviceSynchronize");
  for (auto& [size, p] : cache_) {
    blocks_.erase(p);
    check(cudaFree(p), "cuda empty_cache", "cudaFree");
  }
  cache_.clear();
  cached_bytes_ = 0;
}

// cudaMemcpy on the legacy default stream waits for the kernels before it,
// and returns when the copy is done: both directions are synchronous. A fault
// in an earlier kernel is reported here.
void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  activate();
  check(cudaMemcpy(host_dst, src, nbytes, cudaMemcpyDeviceToHost), "cuda copy_to_host", "cudaMemcpy");
}

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  activate();
  check(cudaMemcpy(dst, host_src, nbytes, cudaMemcpyHostToDevice), "cuda copy_from_host", "cudaMemcpy");
}

CudaBackend& cuda_backend(int index) {
  // Never destroyed, as the CPU backend: tensors in static objects may be
  // freed after our destructors would have run (and the driver may be gone).
  static std::mutex mutex;
  static std::vector<CudaBackend*>* backends = new std::vector<CudaBackend*>();
  std::lock_guard<std::mutex> lock(mutex);
  if (index >= 0 && size_t(index) < backends->size() && (*backends)[size_t(index)] != nullptr)
    return *(*backends)[size_t(index)];
  const int count = cuda_device_count();
  MOEGRAD_CHECK(index >= 0 && index < count, "cuda", "device cuda:", index, " does not exist (", count,
                " GPU(s) visible)");
  if (size_t(index) >= backends->size()) backends->resize(size_t(index) + 1, nullptr);
  (*backends)[size_t(index)] = new CudaBackend(index);
  return *(*backends)[size_t(index)];
}

// ---- core/device.h ----

size_t cuda_memory_allocated(int device) { return cuda_backend(device).allocated_bytes(); }
size_t cuda_memory_cached(int device) { return cuda_backend(device).cached_bytes(); }
void cuda_empty_cache(int device) { cuda_backend(device).empty_cache(); }
void cuda_synchronize(int device) {
  cuda_backend(device).activate();
  check(cudaDeviceSynchronize(), "cuda_synchronize", "cudaDeviceSynchronize");
}

}  // namespace moegrad
