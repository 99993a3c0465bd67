// CUDA matmul on cuBLAS: the twin of backends/cpu/matmul.cpp, with the same
// rule for views: each [M,K] or [K,N] slice is handed to cuBLAS as it lies in
// memory, row-major or transposed (with the transpose flag), and copied only
// when its strides fit neither. The batch is one strided-batched call; a
// broadcast operand has batch stride 0, which cuBLAS reads as the same matrix
// for every entry.
//
// cuBLAS is column-major: a row-major C = A B is the column-major
// C^T = B^T A^T, so we pass B first, A second, and swap M and N.
//
// One cuBLAS handle per GPU, created on first use and bound to the legacy
// default stream, the one stream of this backend. TF32 is off unless
// cuda_set_tf32(true): f32 GEMMs then run with CUBLAS_COMPUTE_32F_FAST_TF32.
#include <cublas_v2.h>

#include <algorithm>
#include <atomic>

#include "backends/cuda/cuda_backend.h"
#include "core/copy.h"

namespace moegrad {

namespace {

std::atomic<bool> g_tf32{false};

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

void check_cublas(cublasStatus_t s, const char* op, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) detail::fail(op, what, " failed: ", cublas_status_name(s), " (", int(s), ")");
}

struct GemmOperand {
  bool ok = false;
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 0;
};

// How cuBLAS can read a rows x cols row-major matrix with element strides
// (sr, sc): row-major (OP_N on its column-major transpose), or stored
// transposed (OP_T). Exactly the CPU's blas_layout.
GemmOperand gemm_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1)))
    return {true, CUBLAS_OP_N, rows == 1 ? std::max<int64_t>(cols, 1) : sr};
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1)))
    return {true, CUBLAS_OP_T, cols == 1 ? std::max<int64_t>(rows, 1) : sc};
  return {};
}

}  // namespace

bool cuda_tf32_enabled() { return g_tf32.load(std::memory_order_relaxed); }

void* CudaBackend::cublas() {
  std::lock_guard<std::mutex> lock(cublas_mutex_);
  if (cublas_ == nullptr) {
    activate();
    cublasHandle_t h = nullptr;
    check_cublas(cublasCreate(&h), "matmul", "cublasCreate");
    check_cublas(cublasSetStream(h, nullptr), "matmul", "cublasSetStream");
    cublas_ = h;
  }
  return cublas_;
}

void CudaBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& dst) {
  const int64_t B = a_in.size(0), M = a_in.size(1), K = a_in.size(2), N = b_in.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    fill(dst, 0);
    return;
  }
  MOEGRAD_CHECK(B < INT32_MAX, "matmul", "batch of ", B, " exceeds cuBLAS's 32-bit batch count");
  activate();
  Tensor a = a_in, b = b_in;
  GemmOperand la = gemm_layout(M, K, a.strides()[1], a.strides()[2]);
  GemmOperand lb = gemm_layout(K, N, b.strides()[1], b.strides()[2]);
  if (!la.ok) {
    a = a.contiguous();
    la = gemm_layout(M, K, K, 1);
  }
  if (!lb.ok) {
    b = b.contiguous();
    lb = gemm_layout(K, N, N, 1);
  }
  MOEGRAD_CHECK(la.ld < INT32_MAX && lb.ld < INT32_MAX, "matmul", "leading dimension exceeds cuBLAS's 32-bit sizes");
  auto handle = static_cast<cublasHandle_t>(cublas());
  const long long stride_a = B == 1 ? 0 : a.strides()[0], stride_b = B == 1 ? 0 : b.strides()[0];
  const long long stride_c = M * N;
  // Row-major C [M,N] = A B is column-major C^T [N,M] = B^T A^T: cuBLAS's
  // first operand is b (an N x K op), its second a (a K x M op).
  if (a.dtype() == DType::f32) {
    const float alpha = 1.0f, beta = 0.0f;
    const cublasComputeType_t compute = cuda_tf32_enabled() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    check_cublas(cublasGemmStridedBatchedEx(handle, lb.op, la.op, int(N), int(M), int(K), &alpha, b.raw_data(),
                                            CUDA_R_32F, int(lb.ld), stride_b, a.raw_data(), CUDA_R_32F, int(la.ld),
                                            stride_a, &beta, dst.raw_data(), CUDA_R_32F, int(N), stride_c, int(B),
                                            compute, CUBLAS_GEMM_DEFAULT),
                 "matmul", "cublasGemmStridedBatchedEx");
  } else if (a.dtype() == DType::f64) {
    const double alpha = 1.0, beta = 0.0;
    check_cublas(cublasDgemmStridedBatched(handle, lb.op, la.op, int(N), int(M), int(K), &alpha, b.data<double>(),
                                           int(lb.ld), stride_b, a.data<double>(), int(la.ld), stride_a, &beta,
                                           dst.data<double>(), int(N), stride_c, int(B)),
                 "matmul", "cublasDgemmStridedBatched");
  } else {
    detail::fail("matmul", "expected a floating dtype (f32 or f64), got ", dtype_name(a.dtype()));
  }
}

// ---- core/device.h ----

void cuda_set_tf32(bool on) { g_tf32.store(on, std::memory_order_relaxed); }
bool cuda_tf32() { return cuda_tf32_enabled(); }

}  // namespace moegrad
