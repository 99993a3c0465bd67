// What every CUDA kernel file shares: checks that turn CUDA failures into
// moegrad::Error naming the op, launch sizes, scratch buffers from the
// caching allocator, and `Strided`, the GPU twin of backends/cpu/loops.h's
// for_each_row: an N-d index space with one stride vector per operand, dims
// collapsed the same way, so element i of the output maps to one offset per
// operand.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "backends/cuda/cuda_backend.h"
#include "core/error.h"
#include "core/tensor.h"

namespace moegrad::cuda {

inline void check(cudaError_t e, const char* op, const char* what) {
  if (e != cudaSuccess) detail::fail(op, what, " failed: ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

// After every launch. A bad launch configuration is reported here; a fault
// inside a kernel surfaces at the next synchronizing call (a copy to the
// host), as an error naming that call. To have a fault named by the op whose
// kernel caused it, run with CUDA_LAUNCH_BLOCKING=1: each launch then
// returns when its kernel is done, and this check sees the fault.
inline void check_launch(const char* op) { check(cudaGetLastError(), op, "kernel launch"); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (n > 0).
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  return unsigned(b > (int64_t(1) << 20) ? (int64_t(1) << 20) : b);
}
// Blocks for one block per row (rows > 0); kernels loop when rows exceed it.
inline unsigned grid_rows(int64_t rows) { return unsigned(rows > 65535 * 16 ? 65535 * 16 : rows); }

// Streaming multiprocessors of the current GPU (asked once per device).
inline int sm_count() {
  static std::atomic<int> counts[64] = {};
  int device = 0;
  check(cudaGetDevice(&device), "sm_count", "cudaGetDevice");
  int n = counts[device & 63].load(std::memory_order_relaxed);
  if (n == 0) {
    check(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device), "sm_count", "cudaDeviceGetAttribute");
    counts[device & 63].store(n, std::memory_order_relaxed);
  }
  return n;
}

// Scratch device memory for one op, from the caching allocator (so it costs
// no cudaMalloc in steady state), given back when the op returns. Safe on
// our one stream: the next user of the block is queued behind this op.
class Scratch {
 public:
  Scratch(CudaBackend& backend, size_t nbytes) : backend_(backend), nbytes_(nbytes), ptr_(backend.allocate(nbytes)) {}
  ~Scratch() { backend_.deallocate(ptr_, nbytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T> T* as() const { return static_cast<T*>(ptr_); }

 private:
  CudaBackend& backend_;
  size_t nbytes_;
  void* ptr_;
};

constexpr int kMaxDims = 8;

// N operands walked over one shape. Built on the host by make_strided (which
// collapses dims as loops.h does); `offsets` gives each operand's element
// offset for the row-major linear index i of the shape.
template <int N>
struct Strided {
  int rank = 1;
  bool contiguous = true;  // one collapsed dim, unit stride for every operand: offset = i
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};

  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[N]) const {
    if (contiguous) {
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] = i;
      return;
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t q = i / sizes[d], r = i - q * sizes[d];
      i = q;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += r * strides[k][d];
    }
  }
};

// Throws (naming op) when the collapsed shape still has more than kMaxDims dims.
template <int N>
Strided<N> make_strided(const char* op, const Shape& shape, const std::array<Strides, N>& strides) {
  Shape sizes;
  std::array<Strides, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (int k = 0; k < N && merge; ++k) merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      sizes.back() *= shape[d];
      for (int k = 0; k < N; ++k) st[k].back() = strides[k][d];
    } else {
      sizes.push_back(shape[d]);
      for (int k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
  }
  if (sizes.empty()) {  // a single element
    sizes.push_back(1);
    for (int k = 0; k < N; ++k) st[k].push_back(1);
  }
  MOEGRAD_CHECK(sizes.size() <= size_t(kMaxDims), op, "a view of shape ", shape_str(shape), " needs ", sizes.size(),
                " dims after merging; the CUDA kernels take at most ", kMaxDims, " (make it contiguous first)");
  Strided<N> p;
  p.rank = int(sizes.size());
  p.contiguous = p.rank == 1;
  for (int d = 0; d < p.rank; ++d) {
    p.sizes[d] = sizes[size_t(d)];
    for (int k = 0; k < N; ++k) {
      p.strides[k][d] = st[k][size_t(d)];
      if (p.rank == 1 && st[k][size_t(d)] != 1) p.contiguous = false;
    }
  }
  return p;
}

// Combines one value per thread of a block of kThreads threads with
// `combine`, along a fixed tree, so a result never varies from run to run;
// every thread gets it. Every thread of the block must call it. V must be
// trivially constructible (it lives in shared memory).
template <class V, class F>
__device__ V block_reduce(V v, F combine) {
  __shared__ V buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] = combine(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  V r = buf[0];
  __syncthreads();  // buf may be reused by the next call
  return r;
}

template <class T>
__device__ __forceinline__ bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return v != v;
  } else {
    return false;
  }
}

// Element-size dispatch for kernels that only move bits (index_select,
// gather, the values of sort and topk): one instantiation per width.
template <class F>
decltype(auto) dispatch_bits(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: return f(uint8_t{});
    case 4: return f(uint32_t{});
    default: return f(uint64_t{});
  }
}

}  // namespace moegrad::cuda
