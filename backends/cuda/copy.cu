// CUDA fill and strided copy-with-cast: the twins of backends/cpu/copy.cpp.
// One thread per output element over the strided index space of common.cuh.
#include "backends/cuda/common.cuh"

namespace moegrad {

namespace {

template <class T>
__global__ void fill_kernel(cuda::Strided<1> p, int64_t n, T* out, T value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    p.offsets(i, off);
    out[off[0]] = value;
  }
}

template <class D, class S>
__global__ void copy_kernel(cuda::Strided<2> p, int64_t n, D* out, const S* in) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[2];
    p.offsets(i, off);
    out[off[0]] = static_cast<D>(in[off[1]]);
  }
}

}  // namespace

void CudaBackend::fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  auto p = cuda::make_strided<1>("fill", dst.shape(), {dst.strides()});
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<cuda::grid_for(n), cuda::kThreads>>>(p, n, dst.data<T>(), static_cast<T>(value));
  });
  cuda::check_launch("fill");
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  auto p = cuda::make_strided<2>("copy", dst.shape(), {dst.strides(), src.strides()});
  dispatch(src.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch(dst.dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      copy_kernel<D, S><<<cuda::grid_for(n), cuda::kThreads>>>(p, n, dst.data<D>(), src.data<S>());
    });
  });
  cuda::check_launch("copy");
}

}  // namespace moegrad
