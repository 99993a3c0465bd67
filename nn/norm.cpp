#include "nn/norm.h"

#include "core/elementwise.h"
#include "core/reduce.h"
#include "nn/init.h"

namespace moegrad {

namespace {
void check_last_dim(const char* op, const Tensor& x, int64_t dim) {
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) == dim, op, "input ", shape_str(x.shape()), " must end in dim = ", dim);
}
}  // namespace

LayerNorm::LayerNorm(int64_t d, double e, bool affine, DType dtype) : dim(d), eps(e) {
  MOEGRAD_CHECK(d > 0 && e >= 0, "LayerNorm", "needs dim > 0 and eps >= 0, got dim=", d, " eps=", e);
  if (affine) {
    weight = register_parameter("weight", Tensor::empty({d}, dtype));
    bias = register_parameter("bias", Tensor::empty({d}, dtype));
    ones_(weight);
    zeros_(bias);
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  check_last_dim("LayerNorm", x, dim);
  Tensor centered = sub(x, mean(x, {-1}, true));
  Tensor y = mul(centered, rsqrt(add(var(x, {-1}, true, 0), eps)));
  return weight.defined() ? add(mul(y, weight), bias) : y;
}

RMSNorm::RMSNorm(int64_t d, double e, DType dtype) : dim(d), eps(e) {
  MOEGRAD_CHECK(d > 0 && e >= 0, "RMSNorm", "needs dim > 0 and eps >= 0, got dim=", d, " eps=", e);
  weight = register_parameter("weight", Tensor::empty({d}, dtype));
  ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) const {
  check_last_dim("RMSNorm", x, dim);
  return mul(mul(x, rsqrt(add(mean(mul(x, x), {-1}, true), eps))), weight);
}

}  // namespace moegrad
