// The CPU backend: host memory, OpenMP loops and OpenBLAS GEMMs. Its methods
// are defined in the file named after the op family they serve
// (elementwise.cpp, reduce.cpp, norm.cpp, matmul.cpp, indexing.cpp, copy.cpp,
// factory.cpp), next to the core header with the same stem.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/backend.h"

namespace moegrad {

class CpuBackend final : public Backend {
 public:
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;

  // Freed blocks of 64 KiB and more are kept (up to kMaxCachedBytes in all)
  // and handed out again for a request of their size or a little smaller
  // (down to 2/3 of it), the smallest such block first: MoE layers ask for
  // slightly different sizes every step (the kept slots vary).
  static constexpr size_t kMaxCachedBytes = size_t(2) << 30;
  size_t cached_bytes() const;
  void empty_cache();  // returns every cached block to the system

  // Bytes handed out and not yet given back, whatever their size class (a
  // request's rounded size; for a cached block, the whole block). Cached free
  // blocks do not count. Training's live memory: at the same point of every
  // step it must come back to the same value, or something is leaking.
  size_t allocated_bytes() const { return allocated_bytes_.load(std::memory_order_relaxed); }

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
  mutable std::mutex cache_mutex_;
  std::multimap<size_t, void*> cache_;        // block size -> free block
  std::unordered_map<void*, size_t> blocks_;  // every large block handed out -> its size
  size_t cached_bytes_ = 0;
  std::atomic<size_t> allocated_bytes_{0};
};

}  // namespace moegrad
