// The CUDA backend: device memory from a caching allocator, cuBLAS GEMMs and
// our own kernels for everything else. Its methods are defined in the file
// named after the op family they serve (copy.cu, factory.cu, elementwise.cu,
// reduce.cu, norm.cu, matmul.cpp, indexing.cu), each the twin of the CPU file
// with the same stem in backends/cpu/; memory and copies are in allocator.cpp.
//
// One stream: every kernel, copy and cuBLAS call goes to the legacy default
// stream (stream 0) of the backend's device. Work is therefore ordered, so a
// block freed on the host while a kernel still reads it can be handed out
// again at once: whatever runs on it next is queued behind that kernel.
// copy_to_host and copy_from_host are synchronous.
//
// One backend object per GPU (cuda:0, cuda:1, ...); each method first makes
// its GPU the current one.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/backend.h"

namespace moegrad {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device_index) : device_(device_index) {}

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;

  // Caching allocator: every block is cudaMalloc'ed once, in a size class
  // (512 B steps below 1 MiB, 2 MiB steps above), and kept when freed; a
  // request takes a free block of its class, or of a larger class up to
  // 1.5x its size. cudaMalloc runs only when no cached block fits (and, on
  // out-of-memory, once more after the cache is given back).
  size_t allocated_bytes() const { return allocated_bytes_.load(std::memory_order_relaxed); }
  size_t cached_bytes() const;
  void empty_cache();  // cudaFree's every cached block

  // Makes this backend's GPU the current one for the calling thread.
  void activate() const;
  // The lazily created cuBLAS handle (a cublasHandle_t), bound to stream 0.
  void* cublas();

  void fill(const Tensor& dst, double value) override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void arange(const Tensor& dst, double start, double step) override;
  void random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a,
              double b) override;

  void unary(UnaryOp op, const Tensor& src, const Tensor& dst, double arg) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dst) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& dst) override;

  void reduce(ReduceOp op, const Tensor& src, const Tensor& dst, double correction) override;
  void softmax(const Tensor& src, const Tensor& dst, bool log) override;
  void cumsum(const Tensor& src, const Tensor& dst) override;

  void norm(const Tensor& src, const Tensor& weight, const Tensor& bias, double eps, bool center, const Tensor& dst,
            const Tensor& mean, const Tensor& rstd) override;
  void norm_backward(const Tensor& dy, const Tensor& src, const Tensor& weight, const Tensor& mean,
                     const Tensor& rstd, bool center, const Tensor& dx, const Tensor& dweight,
                     const Tensor& dbias) override;

  void matmul(const Tensor& a, const Tensor& b, const Tensor& dst) override;

  void index_select(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) override;
  void gather(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) override;
  void scatter_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) override;
  void index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) override;
  void topk(const Tensor& src, int64_t k, bool largest, const Tensor& values,
            const Tensor& indices) override;
  void sort(const Tensor& src, bool descending, const Tensor& values, const Tensor& indices) override;
  void bincount(const Tensor& index, const Tensor& dst) override;

 private:
  int device_;
  mutable std::mutex cache_mutex_;
  std::multimap<size_t, void*> cache_;        // block size -> free block
  std::unordered_map<void*, size_t> blocks_;  // every block handed out -> its size
  size_t cached_bytes_ = 0;
  std::atomic<size_t> allocated_bytes_{0};
  std::mutex cublas_mutex_;
  void* cublas_ = nullptr;
};

// The backend of GPU `index` (created on first use, never destroyed).
CudaBackend& cuda_backend(int index);

// f32 matmuls on TF32 tensor cores (backends/cuda/matmul.cpp); see core/device.h.
bool cuda_tf32_enabled();

}  // namespace moegrad
