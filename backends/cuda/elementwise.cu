// CUDA elementwise kernels: the twins of backends/cpu/elementwise.cpp, with
// the same formulas. One kernel per dtype takes the op as a runtime value:
// every thread of a launch takes the same branch, so the switch costs next to
// nothing, and nvcc compiles a handful of kernels rather than one per
// (op, dtype) pair.
//
// Where the CPU uses its own f32 polynomials for exp and erf
// (backends/cpu/vec_math.h), the GPU uses CUDA's expf/erff; both are within a
// few ulp of the exact value, so results agree to f32 tolerance, not bit for bit.
#include <cmath>

#include "backends/cuda/common.cuh"

namespace moegrad {

namespace {

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_pow(float x, float p) { return powf(x, p); }
__device__ __forceinline__ double m_pow(double x, double p) { return pow(x, p); }

// Constants as the CPU computes them: T(double value).
struct GeluConsts {
  double sqrt_2_over_pi, k, sqrt1_2, inv_sqrt_2pi;
};

template <class T>
__device__ __forceinline__ T unary_float(UnaryOp op, T x, double p, const GeluConsts& g) {
  const T half = T(0.5), one = T(1);
  switch (op) {
    case UnaryOp::exp: return m_exp(x);
    case UnaryOp::log: return m_log(x);
    case UnaryOp::sqrt: return m_sqrt(x);
    case UnaryOp::rsqrt: return one / m_sqrt(x);
    case UnaryOp::tanh: return m_tanh(x);
    case UnaryOp::sigmoid: return one / (one + m_exp(-x));
    case UnaryOp::silu: return x / (one + m_exp(-x));
    case UnaryOp::gelu_erf: return half * x * (one + m_erf(x * T(g.sqrt1_2)));
    case UnaryOp::gelu_tanh: {
      const T c = T(g.sqrt_2_over_pi), k = T(g.k);
      return half * x * (one + m_tanh(c * (x + k * x * x * x)));
    }
    case UnaryOp::gelu_erf_grad:  // Phi(x) + x phi(x)
      return half * (one + m_erf(x * T(g.sqrt1_2))) + x * T(g.inv_sqrt_2pi) * m_exp(-half * x * x);
    case UnaryOp::gelu_tanh_grad: {
      const T c = T(g.sqrt_2_over_pi), k = T(g.k);
      const T t = m_tanh(c * (x + k * x * x * x));
      return half * (one + t) + half * x * (one - t * t) * c * (one + T(3) * k * x * x);
    }
    case UnaryOp::pow: return p == 2 ? x * x : m_pow(x, T(p));
    default: return x;  // neg/abs/relu: handled by the caller
  }
}

template <class T>
__global__ void unary_kernel(cuda::Strided<2> pl, int64_t n, T* out, const T* in, UnaryOp op, double arg,
                             GeluConsts g) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    pl.offsets(i, off);
    const T x = in[off[1]];
    T y;
    if (op == UnaryOp::neg) {
      y = T(-x);
    } else if (op == UnaryOp::abs) {
      y = x < T(0) ? T(-x) : x;
    } else if (op == UnaryOp::relu) {
      y = x < T(0) ? T(0) : x;  // NaN passes through
    } else {
      if constexpr (std::is_floating_point_v<T>) {
        y = unary_float<T>(op, x, arg, g);
      } else {
        y = x;  // unreachable: core allows only neg/abs/relu on integers
      }
    }
    out[off[0]] = y;
  }
}

template <class T>
__device__ __forceinline__ T arith(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add: return T(x + y);
    case BinaryOp::sub: return T(x - y);
    case BinaryOp::mul: return T(x * y);
    case BinaryOp::div: return T(x / y);
    // NaN propagates from either side, as in PyTorch (and the CPU).
    case BinaryOp::maximum: return (x > y || x != x) ? x : y;
    case BinaryOp::minimum: return (x < y || x != x) ? x : y;
    default: return x;
  }
}

template <class T>
__device__ __forceinline__ bool compare(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::eq: return x == y;
    case BinaryOp::ne: return x != y;
    case BinaryOp::lt: return x < y;
    case BinaryOp::le: return x <= y;
    case BinaryOp::gt: return x > y;
    case BinaryOp::ge: return x >= y;
    default: return false;
  }
}

template <class T>
__global__ void arith_kernel(cuda::Strided<3> pl, int64_t n, T* out, const T* a, const T* b, BinaryOp op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    pl.offsets(i, off);
    out[off[0]] = arith<T>(op, a[off[1]], b[off[2]]);
  }
}

template <class T>
__global__ void compare_kernel(cuda::Strided<3> pl, int64_t n, bool* out, const T* a, const T* b, BinaryOp op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[3];
    pl.offsets(i, off);
    out[off[0]] = compare<T>(op, a[off[1]], b[off[2]]);
  }
}

template <class T>
__global__ void where_kernel(cuda::Strided<4> pl, int64_t n, T* out, const bool* c, const T* a, const T* b) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[4];
    pl.offsets(i, off);
    out[off[0]] = c[off[1]] ? a[off[2]] : b[off[3]];
  }
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& src, const Tensor& dst, double arg) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  auto pl = cuda::make_strided<2>("unary", dst.shape(), {dst.strides(), src.strides()});
  const GeluConsts g{std::sqrt(2.0 / M_PI), 0.044715, M_SQRT1_2, 0.3989422804014327};
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {  // as on the CPU: core never sends bool here
      unary_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(pl, n, dst.data<T>(), src.data<T>(), op, arg, g);
      cuda::check_launch("unary");
    }
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  auto pl = cuda::make_strided<3>("binary", dst.shape(), {dst.strides(), a.strides(), b.strides()});
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (is_comparison(op)) {
      compare_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(pl, n, dst.data<bool>(), a.data<T>(), b.data<T>(), op);
    } else if constexpr (!std::is_same_v<T, bool>) {
      arith_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(pl, n, dst.data<T>(), a.data<T>(), b.data<T>(), op);
    }
  });
  cuda::check_launch("binary");
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  auto pl = cuda::make_strided<4>("where", dst.shape(), {dst.strides(), cond.strides(), a.strides(), b.strides()});
  // Only the bits move, so one kernel per element width serves every dtype.
  cuda::dispatch_bits(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(pl, n, static_cast<T*>(dst.raw_data()),
                                                             cond.data<bool>(), static_cast<const T*>(a.raw_data()),
                                                             static_cast<const T*>(b.raw_data()));
  });
  cuda::check_launch("where");
}

}  // namespace moegrad
