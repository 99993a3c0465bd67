// CUDA arange and random draws: the twins of backends/cpu/factory.cpp.
//
// random() must give the CPU's stream bit for bit: element i is Philox4x32-10
// of counter (offset + i) and key seed (core/random.h, reproduced below for
// device code), turned into a number by exactly the CPU's arithmetic, in
// double. nvcc would fuse a * b + c into one fma (one rounding instead of
// two), so the sums and products here are the explicitly rounded intrinsics
// (__dmul_rn, __dadd_rn), which it never fuses. What cannot be made identical:
// the normal draw's log and cos come from CUDA's libdevice (within 1-2 ulp in
// double) rather than glibc, so f64 normals may differ from the CPU's in the
// last bit or two; f32 normals, rounded from that double, match except in
// the rare case (about 1 in 10^8) where the double lies within those ulps of
// a rounding boundary of f32.
#include "backends/cuda/common.cuh"

namespace moegrad {

namespace {

template <class T>
__global__ void arange_kernel(int64_t n, T* out, double start, double step) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = static_cast<T>(__dadd_rn(start, __dmul_rn(double(i), step)));
}

// core/random.h's philox4x32, for device code.
__device__ __forceinline__ void philox4x32(uint64_t counter, uint64_t key, uint32_t (&w)[4]) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  w[0] = c0;
  w[1] = c1;
  w[2] = c2;
  w[3] = c3;
}

// As the CPU's unit_f32 / unit_f64: exact, so no rounding question arises.
__device__ __forceinline__ double unit(float, uint32_t hi, uint32_t) { return double(float(hi >> 8) * 0x1p-24f); }
__device__ __forceinline__ double unit(double, uint32_t hi, uint32_t lo) {
  return double((uint64_t(hi) << 21) ^ (lo >> 11)) * 0x1p-53;
}

__device__ __forceinline__ float next_toward(float from, float to) { return nextafterf(from, to); }
__device__ __forceinline__ double next_toward(double from, double to) { return nextafter(from, to); }

template <class T>
__global__ void random_kernel(int64_t n, T* out, bool normal, uint64_t seed, uint64_t offset, double a, double b) {
  const double two_pi = 6.283185307179586;  // 2.0 * M_PI, exact: the CPU's 2.0 * M_PI * u2 is this times u2
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint32_t w[4];
    philox4x32(offset + uint64_t(i), seed, w);
    const double u1 = unit(T{}, w[0], w[1]);
    if (!normal) {
      T v = static_cast<T>(__dadd_rn(a, __dmul_rn(__dsub_rn(b, a), u1)));
      if (v >= static_cast<T>(b) && b > a) v = next_toward(static_cast<T>(b), static_cast<T>(a));
      out[i] = v;
      continue;
    }
    const double u2 = unit(T{}, w[2], w[3]);
    const double r = sqrt(__dmul_rn(-2.0, log(__dsub_rn(1.0, u1))));
    out[i] = static_cast<T>(__dadd_rn(a, __dmul_rn(__dmul_rn(b, r), cos(__dmul_rn(two_pi, u2)))));
  }
}

}  // namespace

void CudaBackend::arange(const Tensor& dst, double start, double step) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    arange_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(n, dst.data<T>(), start, step);
  });
  cuda::check_launch("arange");
}

void CudaBackend::random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a, double b) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  dispatch_floating("random", dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    random_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(n, dst.data<T>(), kind == RandomKind::normal, seed,
                                                              offset, a, b);
  });
  cuda::check_launch("random");
}

}  // namespace moegrad
