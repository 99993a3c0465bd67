// CPU arange and random draws. Random element i is computed from Philox
// counter (offset + i) alone, so threads need no shared state and the CUDA
// kernel can reproduce the stream exactly.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"
#include "core/random.h"

namespace moegrad {

void CpuBackend::arange(const Tensor& dst, double start, double step) {
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = dst.data<T>();
    cpu::parallel_for(dst.numel(), 1, [&](int64_t i) { out[i] = static_cast<T>(start + double(i) * step); });
  });
}

namespace {
// Uniform in [0, 1) from the top bits of one or two 32-bit words.
inline float unit_f32(uint32_t w) { return float(w >> 8) * 0x1p-24f; }
inline double unit_f64(uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * 0x1p-53;
}
}  // namespace

void CpuBackend::random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a, double b) {
  dispatch_floating("random", dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* out = dst.data<T>();
    cpu::parallel_for(dst.numel(), 16, [&](int64_t i) {
      auto w = philox4x32(offset + uint64_t(i), seed);
      double u1 = std::is_same_v<T, float> ? unit_f32(w[0]) : unit_f64(w[0], w[1]);
      if (kind == RandomKind::uniform) {
        out[i] = static_cast<T>(a + (b - a) * u1);
        if (out[i] >= static_cast<T>(b) && b > a) out[i] = std::nextafter(static_cast<T>(b), static_cast<T>(a));
        return;
      }
      // Box-Muller; 1 - u keeps the log argument in (0, 1].
      double u2 = std::is_same_v<T, float> ? unit_f32(w[2]) : unit_f64(w[2], w[3]);
      double r = std::sqrt(-2.0 * std::log(1.0 - u1));
      out[i] = static_cast<T>(a + b * r * std::cos(2.0 * M_PI * u2));
    });
  });
}

}  // namespace moegrad
