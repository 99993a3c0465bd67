// CUDA kernels of core/norm.h (fused LayerNorm / RMSNorm, forward and
// backward): the twins of backends/cpu/norm.cpp, with the same formulas and
// double sums. One block per row for the statistics, the output and dx.
//
// dweight and dbias sum over the rows. Float atomics would make them vary
// from run to run, so the rows are cut into fixed chunks of kChunk: one
// thread per (chunk, column) sums its chunk in row order into a double
// partial, then one thread per column adds the partials in chunk order. The
// result depends only on the input, never on the GPU's scheduling.
#include <cmath>

#include "backends/cuda/common.cuh"

namespace moegrad {

namespace {

using cuda::kThreads;
constexpr int64_t kChunk = 64;

__device__ double block_sum(double v) {
  return cuda::block_reduce(v, [](double a, double b) { return a + b; });
}

template <class T>
__global__ void norm_kernel(int64_t rows, int64_t n, const T* in, const T* w, const T* b, double eps, bool center,
                            T* out, T* mu_out, T* rstd_out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * n;
    T* y = out + r * n;
    double mu = 0;
    if (center) {
      for (int64_t i = threadIdx.x; i < n; i += kThreads) mu += double(x[i]);
      mu = block_sum(mu) / double(n);
    }
    double ss = 0;  // two passes, as on the CPU
    for (int64_t i = threadIdx.x; i < n; i += kThreads) ss += (double(x[i]) - mu) * (double(x[i]) - mu);
    ss = block_sum(ss);
    const T rs = T(1.0 / sqrt(ss / double(n) + eps)), m = T(mu);
    if (threadIdx.x == 0) {
      if (center) mu_out[r] = m;
      rstd_out[r] = rs;
    }
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
      T v = (x[i] - m) * rs;
      if (w) v *= w[i];
      if (b) v += b[i];
      y[i] = v;
    }
  }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w; no
// mean(gw) for RMSNorm.
template <class T>
__global__ void norm_dx_kernel(int64_t rows, int64_t n, const T* g, const T* in, const T* w, const T* mu,
                               const T* rs, bool center, T* gx) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* gr = g + r * n;
    const T* x = in + r * n;
    const T m = mu ? mu[r] : T(0), s = rs[r];
    double sum_gw = 0, sum_gw_xhat = 0;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
      const double gw = double(gr[i]) * (w ? double(w[i]) : 1.0);
      sum_gw += gw;
      sum_gw_xhat += gw * double((x[i] - m) * s);
    }
    sum_gw = block_sum(sum_gw);
    sum_gw_xhat = block_sum(sum_gw_xhat);
    const T a = center ? T(sum_gw / double(n)) : T(0), c = T(sum_gw_xhat / double(n));
    for (int64_t i = threadIdx.x; i < n; i += kThreads)
      gx[r * n + i] = s * (gr[i] * (w ? w[i] : T(1)) - a - ((x[i] - m) * s) * c);
  }
}

// Partial column sums of g * xhat and g over rows [chunk * kChunk, ...).
template <class T>
__global__ void norm_dw_partial_kernel(int64_t rows, int64_t n, const T* g, const T* in, const T* mu, const T* rs,
                                       double* part_w, double* part_b) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x, chunk = blockIdx.y;
  if (i >= n) return;
  const int64_t lo = chunk * kChunk, hi = lo + kChunk < rows ? lo + kChunk : rows;
  double acc_w = 0, acc_b = 0;
  for (int64_t r = lo; r < hi; ++r) {
    const T xhat = (in[r * n + i] - (mu ? mu[r] : T(0))) * rs[r];
    acc_w += double(g[r * n + i]) * double(xhat);
    acc_b += double(g[r * n + i]);
  }
  part_w[chunk * n + i] = acc_w;
  part_b[chunk * n + i] = acc_b;
}

template <class T>
__global__ void norm_dw_final_kernel(int64_t chunks, int64_t n, const double* part_w, const double* part_b, T* gw,
                                     T* gb) {
  const int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  double acc_w = 0, acc_b = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    acc_w += part_w[c * n + i];
    acc_b += part_b[c * n + i];
  }
  if (gw) gw[i] = T(acc_w);
  if (gb) gb[i] = T(acc_b);
}

}  // namespace

void CudaBackend::norm(const Tensor& src, const Tensor& weight, const Tensor& bias, double eps, bool center,
                       const Tensor& dst, const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = src.size(0), n = src.size(1);
  if (rows == 0) return;
  activate();
  dispatch_floating("norm", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    norm_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(
        rows, n, src.data<T>(), weight.defined() ? weight.data<T>() : nullptr,
        bias.defined() ? bias.data<T>() : nullptr, eps, center, dst.data<T>(), center ? mean.data<T>() : nullptr,
        rstd.data<T>());
  });
  cuda::check_launch("norm");
}

void CudaBackend::norm_backward(const Tensor& dy, const Tensor& src, const Tensor& weight, const Tensor& mean,
                                const Tensor& rstd, bool center, const Tensor& dx, const Tensor& dweight,
                                const Tensor& dbias) {
  const int64_t rows = src.size(0), n = src.size(1);
  activate();
  dispatch_floating("norm_backward", src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* w = weight.defined() ? weight.data<T>() : nullptr;
    const T* mu = center ? mean.data<T>() : nullptr;
    if (rows > 0) {
      norm_dx_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(rows, n, dy.data<T>(), src.data<T>(), w, mu,
                                                             rstd.data<T>(), center, dx.data<T>());
      cuda::check_launch("norm_backward");
    }
    if ((!dweight.defined() && !dbias.defined()) || n == 0) return;
    T* gw = dweight.defined() ? dweight.data<T>() : nullptr;
    T* gb = dbias.defined() ? dbias.data<T>() : nullptr;
    const int64_t chunks = rows == 0 ? 1 : (rows + kChunk - 1) / kChunk;
    MOEGRAD_CHECK(chunks <= 65535, "norm_backward", rows, " rows exceed the ", 65535 * kChunk,
                  " the CUDA kernel's grid allows");
    cuda::Scratch part(*this, size_t(2 * chunks * n) * sizeof(double));
    double* part_w = part.as<double>();
    double* part_b = part_w + chunks * n;
    const dim3 grid(unsigned((n + kThreads - 1) / kThreads), unsigned(chunks));
    norm_dw_partial_kernel<T><<<grid, kThreads>>>(rows, n, dy.data<T>(), src.data<T>(), mu, rstd.data<T>(), part_w,
                                                  part_b);
    cuda::check_launch("norm_backward");
    norm_dw_final_kernel<T><<<unsigned((n + kThreads - 1) / kThreads), kThreads>>>(chunks, n, part_w, part_b, gw, gb);
    cuda::check_launch("norm_backward");
  });
}

}  // namespace moegrad
