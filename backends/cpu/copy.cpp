// CPU fill and strided copy-with-cast.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"

namespace moegrad {

void CpuBackend::fill(const Tensor& dst, double value) {
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T v = static_cast<T>(value);
    T* out = dst.data<T>();
    cpu::for_each_row<1>(dst.shape(), {dst.strides()}, [&](auto off, int64_t n, auto st) {
      T* o = out + off[0];
      if (st[0] == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = v;
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = v;
      }
    });
  });
}

void CpuBackend::copy(const Tensor& src, const Tensor& dst) {
  dispatch(src.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch(dst.dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const S* in = src.data<S>();
      D* out = dst.data<D>();
      cpu::for_each_row<2>(dst.shape(), {dst.strides(), src.strides()}, [&](auto off, int64_t n, auto st) {
        D* o = out + off[0];
        const S* x = in + off[1];
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] = static_cast<D>(x[i * st[1]]);
        }
      });
    });
  });
}

}  // namespace moegrad
