// CUDA row reductions, softmax and cumsum: the twins of
// backends/cpu/reduce.cpp. Every kernel sees a contiguous [rows, n] matrix and
// gives each row one block of kThreads threads (blocks loop over rows when
// there are more rows than blocks). Floating sums accumulate in double as on
// the CPU, but in a different order (a tree over the threads), so f32 results
// agree with the CPU's to rounding, not bit for bit; amax/amin/argmax/argmin
// pick the same element as the CPU (the first extreme, or the first NaN).
#include <algorithm>
#include <cmath>

#include "backends/cuda/common.cuh"

namespace moegrad {

namespace {

using cuda::kThreads;

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// A candidate element of an arg-reduction; i < 0 means none.
template <class T>
struct Best {
  T v;
  int64_t i;
};

// The CPU's arg_extreme as a combine: a NaN wins, the lower index among
// NaNs and among equal values. Commutative and associative, so any tree gives
// the CPU's answer.
template <class T>
__device__ __forceinline__ Best<T> better(Best<T> a, Best<T> b, bool max) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = cuda::is_nan(a.v), bn = cuda::is_nan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (max ? a.v > b.v : a.v < b.v) return a;
  if (max ? b.v > a.v : b.v < a.v) return b;
  return a.i < b.i ? a : b;
}

template <class T>
__device__ Best<T> row_extreme(const T* x, int64_t n, bool max) {
  Best<T> cur{T(0), -1};
  for (int64_t i = threadIdx.x; i < n; i += kThreads) cur = better(cur, Best<T>{x[i], i}, max);
  return cuda::block_reduce(cur, [max](Best<T> a, Best<T> b) { return better(a, b, max); });
}

template <class V>
__device__ V block_sum(V v) {
  return cuda::block_reduce(v, [](V a, V b) { return a + b; });
}

template <class T>
__global__ void reduce_kernel(int64_t rows, int64_t n, const T* in, void* dst, ReduceOp op, double correction) {
  T* out = static_cast<T*>(dst);
  int64_t* out_index = static_cast<int64_t*>(dst);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * n;
    switch (op) {
      case ReduceOp::sum:
      case ReduceOp::mean:
      case ReduceOp::var: {
        Acc<T> s = 0;
        for (int64_t i = threadIdx.x; i < n; i += kThreads) s += x[i];
        s = block_sum(s);
        if (op == ReduceOp::sum) {
          if (threadIdx.x == 0) out[r] = static_cast<T>(s);
        } else if (op == ReduceOp::mean) {
          if (threadIdx.x == 0) out[r] = static_cast<T>(double(s) / double(n));
        } else {  // two passes, as on the CPU
          const double m = double(s) / double(n);
          double ss = 0;
          for (int64_t i = threadIdx.x; i < n; i += kThreads) ss += (double(x[i]) - m) * (double(x[i]) - m);
          ss = block_sum(ss);
          if (threadIdx.x == 0) out[r] = static_cast<T>(ss / fmax(double(n) - correction, 0.0));
        }
        break;
      }
      case ReduceOp::amax:
      case ReduceOp::amin: {
        Best<T> b = row_extreme(x, n, op == ReduceOp::amax);
        if (threadIdx.x == 0) out[r] = b.v;
        break;
      }
      case ReduceOp::argmax:
      case ReduceOp::argmin: {
        Best<T> b = row_extreme(x, n, op == ReduceOp::argmax);
        if (threadIdx.x == 0) out_index[r] = b.i;
        break;
      }
      case ReduceOp::logsumexp: {
        const double m = double(row_extreme(x, n, true).v);
        if (isinf(m) || isnan(m)) {  // all -inf stays -inf; +inf and NaN pass through
          if (threadIdx.x == 0) out[r] = static_cast<T>(m);
          break;
        }
        double s = 0;
        for (int64_t i = threadIdx.x; i < n; i += kThreads) s += exp(double(x[i]) - m);
        s = block_sum(s);
        if (threadIdx.x == 0) out[r] = static_cast<T>(m + log(s));
        break;
      }
    }
  }
}

// Few long rows (a full reduction is one row) would leave all but a few of
// the GPU's SMs idle with one block per row. For the ops whose partial results
// compose (sum, mean, amax, amin) such rows are cut into `chunks` pieces: one
// block per piece writes a partial, then one thread per row folds its
// partials in order. Fixed pieces and a fixed order: still deterministic.
template <class T>
__global__ void partial_reduce_kernel(int64_t rows, int64_t n, int64_t chunks, const T* in, Acc<T>* sums,
                                      T* extremes, ReduceOp op) {
  const int64_t piece = (n + chunks - 1) / chunks;
  for (int64_t b = blockIdx.x; b < rows * chunks; b += gridDim.x) {
    const int64_t r = b / chunks, begin = (b % chunks) * piece, end = min(n, begin + piece);
    const T* x = in + r * n;
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      Acc<T> s = 0;
      for (int64_t i = begin + threadIdx.x; i < end; i += kThreads) s += x[i];
      s = block_sum(s);
      if (threadIdx.x == 0) sums[b] = s;
    } else {
      Best<T> cur{T(0), -1};
      for (int64_t i = begin + threadIdx.x; i < end; i += kThreads)
        cur = better(cur, Best<T>{x[i], i}, op == ReduceOp::amax);
      cur = cuda::block_reduce(cur, [op](Best<T> a, Best<T> c) { return better(a, c, op == ReduceOp::amax); });
      if (threadIdx.x == 0) extremes[b] = cur.v;  // an empty piece (n < chunks) is never made
    }
  }
}

template <class T>
__global__ void finish_reduce_kernel(int64_t rows, int64_t n, int64_t chunks, const Acc<T>* sums,
                                     const T* extremes, T* out, ReduceOp op) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  if (op == ReduceOp::sum || op == ReduceOp::mean) {
    Acc<T> s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += sums[r * chunks + c];
    out[r] = op == ReduceOp::sum ? static_cast<T>(s) : static_cast<T>(double(s) / double(n));
  } else {
    Best<T> cur{T(0), -1};
    for (int64_t c = 0; c < chunks; ++c) cur = better(cur, Best<T>{extremes[r * chunks + c], c}, op == ReduceOp::amax);
    out[r] = cur.v;
  }
}

// Pieces per row for a split reduction: about four blocks per SM in all, each
// piece at least 16 tiles long (so no piece is ever empty); 1 means "no split".
int64_t split_chunks(ReduceOp op, int64_t rows, int64_t n) {
  const bool composes = op == ReduceOp::sum || op == ReduceOp::mean || op == ReduceOp::amax || op == ReduceOp::amin;
  const int64_t sms = cuda::sm_count();
  if (!composes || rows >= sms) return 1;
  const int64_t want = (4 * sms + rows - 1) / rows, most = n / (16 * kThreads);
  return std::max<int64_t>(1, std::min(want, most));
}

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }

template <class T>
__global__ void softmax_kernel(int64_t rows, int64_t n, const T* in, T* out, bool log_out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * n;
    T* y = out + r * n;
    // The CPU's std::max(m, x): a NaN never replaces m (it shows up in the exp).
    T m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) m = m < x[i] ? x[i] : m;
    m = cuda::block_reduce(m, [](T a, T b) { return a < b ? b : a; });
    double s = 0;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
      y[i] = m_exp(x[i] - m);
      s += double(y[i]);
    }
    s = block_sum(s);
    if (log_out) {
      // (x - m) first: folding m into the shift would round it away for large logits.
      const T log_s = T(log(s));
      for (int64_t i = threadIdx.x; i < n; i += kThreads) y[i] = (x[i] - m) - log_s;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t i = threadIdx.x; i < n; i += kThreads) y[i] *= inv;
    }
  }
}

// A running sum along each row: the row in tiles of kThreads, each tile
// scanned in shared memory (Hillis-Steele) and offset by the tiles before it.
template <class T>
__global__ void cumsum_kernel(int64_t rows, int64_t n, const T* in, T* out) {
  __shared__ Acc<T> buf[kThreads];
  const int t = threadIdx.x;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    Acc<T> carry = 0;
    for (int64_t start = 0; start < n; start += kThreads) {
      const int64_t i = start + t;
      buf[t] = i < n ? Acc<T>(in[r * n + i]) : Acc<T>(0);
      __syncthreads();
      for (int off = 1; off < kThreads; off <<= 1) {
        const Acc<T> add = t >= off ? buf[t - off] : Acc<T>(0);
        __syncthreads();
        buf[t] += add;
        __syncthreads();
      }
      if (i < n) out[r * n + i] = static_cast<T>(carry + buf[t]);
      carry += buf[kThreads - 1];
      __syncthreads();
    }
  }
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& src, const Tensor& dst, double correction) {
  const int64_t rows = src.size(0), n = src.size(1);
  if (rows == 0) return;
  activate();
  const int64_t chunks = split_chunks(op, rows, n);
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (chunks == 1) {
      reduce_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(rows, n, src.data<T>(), dst.raw_data(), op, correction);
      return;
    }
    const size_t parts = size_t(rows * chunks);
    cuda::Scratch sums(*this, parts * sizeof(Acc<T>)), extremes(*this, parts * sizeof(T));
    partial_reduce_kernel<T><<<cuda::grid_rows(int64_t(parts)), kThreads>>>(rows, n, chunks, src.data<T>(),
                                                                            sums.as<Acc<T>>(), extremes.as<T>(), op);
    cuda::check_launch("reduce (partials)");
    finish_reduce_kernel<T><<<unsigned((rows + kThreads - 1) / kThreads), kThreads>>>(
        rows, n, chunks, sums.as<Acc<T>>(), extremes.as<T>(), dst.data<T>(), op);
  });
  cuda::check_launch("reduce");
}

void CudaBackend::softmax(const Tensor& src, const Tensor& dst, bool log) {
  const int64_t rows = src.size(0), n = src.size(1);
  if (rows == 0 || n == 0) return;
  activate();
  dispatch_floating("softmax", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    softmax_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(rows, n, src.data<T>(), dst.data<T>(), log);
  });
  cuda::check_launch("softmax");
}

void CudaBackend::cumsum(const Tensor& src, const Tensor& dst) {
  const int64_t rows = src.size(0), n = src.size(1);
  if (rows == 0 || n == 0) return;
  activate();
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cumsum_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(rows, n, src.data<T>(), dst.data<T>());
  });
  cuda::check_launch("cumsum");
}

}  // namespace moegrad
