// CPU elementwise kernels. Each op is a small functor; `map` runs it over the
// strided loop of loops.h, with a unit-stride branch the compiler vectorizes.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"
#include "backends/cpu/vec_math.h"

namespace moegrad {

namespace {

// out = f(x) elementwise; x any strides, out contiguous.
template <class TOut, class TIn, class F>
void map1(const Tensor& src, const Tensor& dst, F f) {
  const TIn* in = src.data<TIn>();
  TOut* out = dst.data<TOut>();
  cpu::for_each_row<2>(dst.shape(), {dst.strides(), src.strides()}, [&](auto off, int64_t n, auto st) {
    TOut* o = out + off[0];
    const TIn* x = in + off[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]]);
    }
  });
}

// out = f(a, b); a and b expanded to out's shape.
template <class TOut, class TIn, class F>
void map2(const Tensor& a, const Tensor& b, const Tensor& dst, F f) {
  const TIn* pa = a.data<TIn>();
  const TIn* pb = b.data<TIn>();
  TOut* out = dst.data<TOut>();
  cpu::for_each_row<3>(dst.shape(), {dst.strides(), a.strides(), b.strides()},
                       [&](auto off, int64_t n, auto st) {
                         TOut* o = out + off[0];
                         const TIn* x = pa + off[1];
                         const TIn* y = pb + off[2];
                         if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
                           for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                         } else if (st[0] == 1 && st[1] == 1 && st[2] == 0) {  // tensor op scalar
                           const TIn s = y[0];
                           for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], s);
                         } else {
                           for (int64_t i = 0; i < n; ++i) o[i * st[0]] = f(x[i * st[1]], y[i * st[2]]);
                         }
                       });
}

template <class T>
void unary_float(UnaryOp op, const Tensor& src, const Tensor& dst, double arg) {
  const T half = T(0.5), one = T(1);
  switch (op) {
    case UnaryOp::exp: return map1<T, T>(src, dst, [](T x) { return cpu::vexp(x); });
    case UnaryOp::log: return map1<T, T>(src, dst, [](T x) { return std::log(x); });
    case UnaryOp::sqrt: return map1<T, T>(src, dst, [](T x) { return std::sqrt(x); });
    case UnaryOp::rsqrt: return map1<T, T>(src, dst, [=](T x) { return one / std::sqrt(x); });
    case UnaryOp::tanh: return map1<T, T>(src, dst, [](T x) { return std::tanh(x); });
    case UnaryOp::sigmoid: return map1<T, T>(src, dst, [=](T x) { return one / (one + cpu::vexp(-x)); });
    case UnaryOp::silu: return map1<T, T>(src, dst, [=](T x) { return x / (one + cpu::vexp(-x)); });
    case UnaryOp::gelu_erf:
      return map1<T, T>(src, dst, [=](T x) { return half * x * (one + cpu::verf(x * T(M_SQRT1_2))); });
    case UnaryOp::gelu_tanh: {
      const T c = T(std::sqrt(2.0 / M_PI)), k = T(0.044715);
      return map1<T, T>(src, dst, [=](T x) { return half * x * (one + std::tanh(c * (x + k * x * x * x))); });
    }
    case UnaryOp::gelu_erf_grad: {  // Phi(x) + x phi(x)
      const T inv_sqrt_2pi = T(0.3989422804014327);
      return map1<T, T>(src, dst, [=](T x) {
        return half * (one + cpu::verf(x * T(M_SQRT1_2))) + x * inv_sqrt_2pi * cpu::vexp(-half * x * x);
      });
    }
    case UnaryOp::gelu_tanh_grad: {
      const T c = T(std::sqrt(2.0 / M_PI)), k = T(0.044715);
      return map1<T, T>(src, dst, [=](T x) {
        T t = std::tanh(c * (x + k * x * x * x));
        return half * (one + t) + half * x * (one - t * t) * c * (one + T(3) * k * x * x);
      });
    }
    case UnaryOp::pow: {
      const T p = T(arg);
      if (arg == 2) return map1<T, T>(src, dst, [](T x) { return x * x; });
      return map1<T, T>(src, dst, [=](T x) { return std::pow(x, p); });
    }
    default: break;  // neg/abs/relu are shared with integers below
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& src, const Tensor& dst, double arg) {
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {
        case UnaryOp::neg: return map1<T, T>(src, dst, [](T x) { return T(-x); });
        case UnaryOp::abs: return map1<T, T>(src, dst, [](T x) { return x < 0 ? T(-x) : x; });
        case UnaryOp::relu: return map1<T, T>(src, dst, [](T x) { return x < T(0) ? T(0) : x; });  // NaN passes through
        default:
          if constexpr (std::is_floating_point_v<T>) unary_float<T>(op, src, dst, arg);
      }
    }
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dst) {
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!std::is_same_v<T, bool>) {
      switch (op) {
        case BinaryOp::add: return map2<T, T>(a, b, dst, [](T x, T y) { return T(x + y); });
        case BinaryOp::sub: return map2<T, T>(a, b, dst, [](T x, T y) { return T(x - y); });
        case BinaryOp::mul: return map2<T, T>(a, b, dst, [](T x, T y) { return T(x * y); });
        case BinaryOp::div: return map2<T, T>(a, b, dst, [](T x, T y) { return T(x / y); });
        // NaN propagates from either side, as in PyTorch.
        case BinaryOp::maximum:
          return map2<T, T>(a, b, dst, [](T x, T y) { return (x > y || x != x) ? x : y; });
        case BinaryOp::minimum:
          return map2<T, T>(a, b, dst, [](T x, T y) { return (x < y || x != x) ? x : y; });
        default: break;
      }
    }
    switch (op) {
      case BinaryOp::eq: return map2<bool, T>(a, b, dst, [](T x, T y) { return x == y; });
      case BinaryOp::ne: return map2<bool, T>(a, b, dst, [](T x, T y) { return x != y; });
      case BinaryOp::lt: return map2<bool, T>(a, b, dst, [](T x, T y) { return x < y; });
      case BinaryOp::le: return map2<bool, T>(a, b, dst, [](T x, T y) { return x <= y; });
      case BinaryOp::gt: return map2<bool, T>(a, b, dst, [](T x, T y) { return x > y; });
      case BinaryOp::ge: return map2<bool, T>(a, b, dst, [](T x, T y) { return x >= y; });
      default: break;
    }
  });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& dst) {
  dispatch(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const bool* pc = cond.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* out = dst.data<T>();
    cpu::for_each_row<4>(dst.shape(), {dst.strides(), cond.strides(), a.strides(), b.strides()},
                         [&](auto off, int64_t n, auto st) {
                           for (int64_t i = 0; i < n; ++i)
                             out[off[0] + i * st[0]] =
                                 pc[off[1] + i * st[1]] ? pa[off[2] + i * st[2]] : pb[off[3] + i * st[3]];
                         });
  });
}

}  // namespace moegrad
