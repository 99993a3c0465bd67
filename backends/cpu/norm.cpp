// CPU kernels of core/norm.h: one pass over each row for the statistics and
// one for the output, rows spread over the threads. Sums are kept in double
// (the simd reductions vectorize the f32 -> f64 conversion too), so long rows
// lose nothing to cancellation.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"

namespace moegrad {

void CpuBackend::norm(const Tensor& src, const Tensor& weight, const Tensor& bias, double eps, bool center,
                      const Tensor& dst, const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch_floating("norm", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* b = bias.defined() ? bias.data<T>() : nullptr;
    T* out = dst.data<T>();
    T* mu_out = center ? mean.data<T>() : nullptr;
    T* rstd_out = rstd.data<T>();
    cpu::parallel_for(rows, 3 * n, [&](int64_t r) {
      const T* x = in + r * n;
      T* y = out + r * n;
      double mu = 0;
      if (center) {
#pragma omp simd reduction(+ : mu)
        for (int64_t i = 0; i < n; ++i) mu += double(x[i]);
        mu /= double(n);
      }
      double ss = 0;  // two passes: sum((x - mean)^2) rather than sum(x^2) - n mean^2, which cancels
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < n; ++i) ss += (double(x[i]) - mu) * (double(x[i]) - mu);
      const T rs = T(1.0 / std::sqrt(ss / double(n) + eps)), m = T(mu);
      if (center) mu_out[r] = m;
      rstd_out[r] = rs;
      for (int64_t i = 0; i < n; ++i) {
        T v = (x[i] - m) * rs;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
      }
    });
  });
}

void CpuBackend::norm_backward(const Tensor& dy, const Tensor& src, const Tensor& weight, const Tensor& mean,
                               const Tensor& rstd, bool center, const Tensor& dx, const Tensor& dweight,
                               const Tensor& dbias) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch_floating("norm_backward", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* g = dy.data<T>();
    const T* in = src.data<T>();
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* mu = center ? mean.data<T>() : nullptr;
    const T* rs = rstd.data<T>();
    T* gx = dx.data<T>();
    auto xhat = [&](int64_t r, int64_t i) { return (in[r * n + i] - (mu ? mu[r] : T(0))) * rs[r]; };
    // dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w; no mean(gw) for RMSNorm.
    cpu::parallel_for(rows, 4 * n, [&](int64_t r) {
      const T* gr = g + r * n;
      double sum_gw = 0, sum_gw_xhat = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gw_xhat)
      for (int64_t i = 0; i < n; ++i) {
        const double gw = double(gr[i]) * (w ? double(w[i]) : 1.0);
        sum_gw += gw;
        sum_gw_xhat += gw * double(xhat(r, i));
      }
      const T a = center ? T(sum_gw / double(n)) : T(0), c = T(sum_gw_xhat / double(n));
      for (int64_t i = 0; i < n; ++i) gx[r * n + i] = rs[r] * (gr[i] * (w ? w[i] : T(1)) - a - xhat(r, i) * c);
    });
    // dweight and dbias sum over rows: split the columns, not the rows, so
    // no two threads add into one element and the sums do not depend on the
    // thread count.
    if (!dweight.defined() && !dbias.defined()) return;
    T* gw_out = dweight.defined() ? dweight.data<T>() : nullptr;
    T* gb_out = dbias.defined() ? dbias.data<T>() : nullptr;
    const int64_t block = 64, blocks = (n + block - 1) / block;
    cpu::parallel_for(blocks, rows * block, [&](int64_t blk) {
      const int64_t lo = blk * block, hi = std::min(n, lo + block);
      double acc_w[block] = {}, acc_b[block] = {};
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = lo; i < hi; ++i) {
          acc_w[i - lo] += double(g[r * n + i]) * double(xhat(r, i));
          acc_b[i - lo] += double(g[r * n + i]);
        }
      for (int64_t i = lo; i < hi; ++i) {
        if (gw_out) gw_out[i] = T(acc_w[i - lo]);
        if (gb_out) gb_out[i] = T(acc_b[i - lo]);
      }
    });
  });
}

}  // namespace moegrad
