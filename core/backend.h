// The backend contract: an allocator and a table of kernels for one device
// kind. Ops in core/ validate their inputs, allocate the output and call the
// backend of their inputs' device; a backend only computes. Each kernel's
// preconditions are stated here and are guaranteed by the core op that calls
// it, so kernels do no validation of their own (except where noted).
//
// CPU kernels live in backends/cpu/, CUDA kernels in backends/cuda/, in files
// with the same stem as the op family's header in core/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/tensor.h"

namespace moegrad {

enum class UnaryOp {
  neg, abs, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu_erf, gelu_tanh, silu,
  pow,  // x ** arg
  gelu_erf_grad, gelu_tanh_grad,  // d gelu / dx, for gelu's backward
};

enum class BinaryOp {
  add, sub, mul, div, maximum, minimum,
  eq, ne, lt, le, gt, ge,  // comparisons write a b8 mask
};

enum class ReduceOp { sum, mean, var, amax, amin, argmax, argmin, logsumexp };

enum class RandomKind { uniform, normal };

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- memory ----
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  // Copies bytes between this device and the host, in either direction.
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;

  // ---- core/copy.h ----
  // dst[i] = value for every element of the (possibly strided) view dst.
  virtual void fill(const Tensor& dst, double value) = 0;
  // dst[i] = cast(src[i]); same shape; either side may have any strides
  // (src may be expanded with stride 0); dtypes may differ.
  virtual void copy(const Tensor& src, const Tensor& dst) = 0;

  // ---- core/factory.h ----
  // dst contiguous: dst[i] = start + i * step.
  virtual void arange(const Tensor& dst, double start, double step) = 0;
  // dst contiguous floating. Element i depends only on (seed, offset + i), so
  // every device draws the same stream: uniform in [a, b), or normal with
  // mean a and standard deviation b (see core/random.h).
  virtual void random(const Tensor& dst, RandomKind kind, uint64_t seed, uint64_t offset, double a,
                      double b) = 0;

  // ---- core/elementwise.h ----
  // dst contiguous, same shape and dtype as src (src any strides).
  virtual void unary(UnaryOp op, const Tensor& src, const Tensor& dst, double arg) = 0;
  // a and b already expanded to dst's shape, same dtype; dst contiguous, of
  // their dtype (b8 for comparisons).
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& dst) = 0;
  // cond (b8), a, b expanded to dst's shape; a, b, dst same dtype.
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& dst) = 0;

  // ---- core/reduce.h ----
  // src contiguous [rows, n] with n >= 1 (n == 0 only for sum/mean); dst [rows]
  // (i64 for argmax/argmin). var divides by max(n - correction, 0).
  virtual void reduce(ReduceOp op, const Tensor& src, const Tensor& dst, double correction) = 0;
  // src, dst contiguous [rows, n], floating: softmax (or log_softmax) of each row.
  virtual void softmax(const Tensor& src, const Tensor& dst, bool log) = 0;
  // src, dst contiguous [rows, n]: running sum along each row.
  virtual void cumsum(const Tensor& src, const Tensor& dst) = 0;

  // ---- core/norm.h ----
  // src, dst contiguous [rows, n], n >= 1, floating; weight, bias [n]
  // contiguous or undefined. Normalizes each row (subtracting its mean when
  // `center`, LayerNorm; not, RMSNorm), then scales and shifts; writes
  // rstd[r] = 1 / sqrt(var_r + eps) (var_r = mean(x^2) without centering)
  // and, when centering, mean[r].
  virtual void norm(const Tensor& src, const Tensor& weight, const Tensor& bias, double eps, bool center,
                    const Tensor& dst, const Tensor& mean, const Tensor& rstd) = 0;
  // The gradients of norm from dy [rows, n] and the forward's src, weight,
  // mean and rstd: dx [rows, n], and dweight, dbias [n] (sums over the rows;
  // skipped where undefined). All contiguous.
  virtual void norm_backward(const Tensor& dy, const Tensor& src, const Tensor& weight, const Tensor& mean,
                             const Tensor& rstd, bool center, const Tensor& dx, const Tensor& dweight,
                             const Tensor& dbias) = 0;

  // ---- core/matmul.h ----
  // a [B,M,K], b [B,K,N] with any strides (batch stride 0 when broadcast);
  // dst contiguous [B,M,N]; floating, same dtype.
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& dst) = 0;

  // ---- core/indexing.h (indices are i32 or i64, already range-checked) ----
  // dst = src with dimension `dim` replaced by index's length: dst[..i..] = src[..index[i]..].
  virtual void index_select(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) = 0;
  // index has src's rank; dst has index's shape: dst[i][j] = src[index[i][j]][j] for dim 0.
  virtual void gather(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) = 0;
  // dst (contiguous, holding the input's values) += src scattered along dim:
  // dst[index[i][j]][j] += src[i][j] for dim 0. index and src have one shape.
  // Deterministic: the same inputs give bit-identical results.
  virtual void scatter_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  // dst (contiguous) += src's slices along dim at positions index (1-D).
  virtual void index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) = 0;
  // src contiguous [rows, n]; values/indices contiguous [rows, k], sorted,
  // largest first when `largest`; ties keep the lower index first.
  virtual void topk(const Tensor& src, int64_t k, bool largest, const Tensor& values,
                    const Tensor& indices) = 0;
  // Stable sort of each row of src [rows, n]; NaN sorts as the largest value.
  virtual void sort(const Tensor& src, bool descending, const Tensor& values, const Tensor& indices) = 0;
  // index 1-D (non-negative, < dst's length); dst i64 [bins], zeroed by the caller.
  virtual void bincount(const Tensor& index, const Tensor& dst) = 0;
};

// The backend of a device. Throws moegrad::Error if this build lacks it.
Backend& backend(Device device);

}  // namespace moegrad
