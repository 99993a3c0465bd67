// CPU matmul on OpenBLAS. Each [M,K] or [K,N] slice is handed to BLAS as it
// lies in memory: row-major, or transposed (a transposed view) with the
// transpose flag, so views are never copied unless their strides fit neither.
#include <cblas.h>

#include "backends/cpu/cpu_backend.h"

namespace moegrad {

namespace {

struct BlasOperand {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int ld = 0;
};

// How BLAS can read a rows x cols matrix with element strides (sr, sc).
BlasOperand blas_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1)))
    return {true, CblasNoTrans, int(rows == 1 ? std::max<int64_t>(cols, 1) : sr)};
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1)))
    return {true, CblasTrans, int(cols == 1 ? std::max<int64_t>(rows, 1) : sc)};
  return {};
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float* A, int lda, const float* B,
          int ldb, float* C) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const double* A, int lda, const double* B,
          int ldb, double* C) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, N);
}

}  // namespace

void CpuBackend::matmul(const Tensor& a_in, const Tensor& b_in, const Tensor& dst) {
  const int64_t B = a_in.size(0), M = a_in.size(1), K = a_in.size(2), N = b_in.size(2);
  Tensor a = a_in, b = b_in;
  BlasOperand la = blas_layout(M, K, a.strides()[1], a.strides()[2]);
  BlasOperand lb = blas_layout(K, N, b.strides()[1], b.strides()[2]);
  if (!la.ok) {
    a = a.contiguous();
    la = blas_layout(M, K, K, 1);
  }
  if (!lb.ok) {
    b = b.contiguous();
    lb = blas_layout(K, N, N, 1);
  }
  dispatch_floating("matmul", a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = dst.data<T>();
    // One weight matrix shared by every batch entry, and batch entries of a
    // stacked evenly: fold the batch into M for one large GEMM.
    bool fold = B > 1 && B * M < INT32_MAX && b.strides()[0] == 0 && la.trans == CblasNoTrans && a.strides()[2] == 1 &&
                a.strides()[1] == la.ld && a.strides()[0] == M * la.ld;
    if (fold) {
      gemm(la.trans, lb.trans, int(B * M), int(N), int(K), pa, la.ld, pb, lb.ld, pc);
      return;
    }
    for (int64_t i = 0; i < B; ++i)
      gemm(la.trans, lb.trans, int(M), int(N), int(K), pa + i * a.strides()[0], la.ld, pb + i * b.strides()[0], lb.ld,
           pc + i * M * N);
  });
}

}  // namespace moegrad
