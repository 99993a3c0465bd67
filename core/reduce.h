// Reductions over any set of axes, and the row-wise ops built on the same
// layout: softmax, log_softmax and cumsum.
//
// `dims` lists axes (negative counts from the end); an empty list reduces
// every axis. With keepdim the reduced axes stay as size 1.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace moegrad {

using Dims = std::vector<int64_t>;

// sum keeps the dtype, except bool sums to i64. mean, var and logsumexp need
// floating dtypes. A sum over zero elements is 0 and a mean is NaN, as in
// PyTorch; amax/amin/argmax/argmin/logsumexp of zero elements are errors.
Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Variance with Bessel's correction by default (divides by n - correction).
Tensor var(const Tensor& x, const Dims& dims = {}, bool keepdim = false, double correction = 1);
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);  // NaN propagates
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Dims& dims = {}, bool keepdim = false);

// Index (i64) of the largest / smallest element along `dim`; the first one on
// ties. Without a dim, the index into the flattened tensor.
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x);
Tensor argmin(const Tensor& x);

// Numerically stable: each row is shifted by its max before exp.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// Running sum along dim; same dtype (bool -> i64).
Tensor cumsum(const Tensor& x, int64_t dim);

}  // namespace moegrad
