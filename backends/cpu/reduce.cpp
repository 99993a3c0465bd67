// CPU row reductions: every kernel here sees a contiguous [rows, n] matrix
// and works row by row, rows spread over the threads. Floating sums
// accumulate in double so long rows of f32 keep their precision.
#include <cmath>
#include <limits>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"
#include "backends/cpu/vec_math.h"

namespace moegrad {

namespace {

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  return false;
}

// Index of the first max (or min); a NaN wins at once, as in PyTorch.
template <class T, bool Max>
int64_t arg_extreme(const T* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (is_nan(x[i])) return i;
    if (Max ? x[i] > x[best] : x[i] < x[best]) best = i;
  }
  return best;
}

template <class T>
double row_logsumexp(const T* x, int64_t n) {
  double m = double(x[arg_extreme<T, true>(x, n)]);
  if (std::isinf(m) || std::isnan(m)) return m;  // all -inf stays -inf; +inf and NaN pass through
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(x[i]) - m);
  return m + std::log(s);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& src, const Tensor& dst, double correction) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    // dst is T, or i64 for argmax/argmin (core/backend.h guarantees which).
    T* out = static_cast<T*>(dst.raw_data());
    int64_t* out_index = static_cast<int64_t*>(dst.raw_data());
    cpu::parallel_for(rows, n, [&](int64_t r) {
      const T* x = in + r * n;
      switch (op) {
        case ReduceOp::sum:
        case ReduceOp::mean:
        case ReduceOp::var: {
          Acc<T> s = 0;
          for (int64_t i = 0; i < n; ++i) s += x[i];
          if (op == ReduceOp::sum) {
            out[r] = static_cast<T>(s);
          } else if (op == ReduceOp::mean) {
            out[r] = static_cast<T>(double(s) / double(n));
          } else {  // two passes: stable where sum-of-squares minus square-of-sum is not
            double m = double(s) / double(n), ss = 0;
            for (int64_t i = 0; i < n; ++i) ss += (double(x[i]) - m) * (double(x[i]) - m);
            out[r] = static_cast<T>(ss / std::max(double(n) - correction, 0.0));
          }
          break;
        }
        case ReduceOp::amax: out[r] = x[arg_extreme<T, true>(x, n)]; break;
        case ReduceOp::amin: out[r] = x[arg_extreme<T, false>(x, n)]; break;
        case ReduceOp::argmax: out_index[r] = arg_extreme<T, true>(x, n); break;
        case ReduceOp::argmin: out_index[r] = arg_extreme<T, false>(x, n); break;
        case ReduceOp::logsumexp: out[r] = static_cast<T>(row_logsumexp(x, n)); break;
      }
    });
  });
}

void CpuBackend::softmax(const Tensor& src, const Tensor& dst, bool log) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch_floating("softmax", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* out = dst.data<T>();
    cpu::parallel_for(rows, n, [&](int64_t r) {
      const T* x = in + r * n;
      T* y = out + r * n;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
      for (int64_t i = 0; i < n; ++i) y[i] = cpu::vexp(x[i] - m);  // apart from the sum: it vectorizes
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += y[i];
      if (log) {
        // (x - m) first: folding m into the shift would round it away for large logits.
        T log_s = T(std::log(s));
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - log_s;
      } else {
        T inv = T(1.0 / s);
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
      }
    });
  });
}

void CpuBackend::cumsum(const Tensor& src, const Tensor& dst) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* out = dst.data<T>();
    cpu::parallel_for(rows, n, [&](int64_t r) {
      Acc<T> s = 0;
      for (int64_t i = 0; i < n; ++i) {
        s += in[r * n + i];
        out[r * n + i] = static_cast<T>(s);
      }
    });
  });
}

}  // namespace moegrad
