#include "nn/norm.h"

#include "core/norm.h"
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
  return layer_norm(x, weight, bias, eps);
}

RMSNorm::RMSNorm(int64_t d, double e, DType dtype) : dim(d), eps(e) {
  MOEGRAD_CHECK(d > 0 && e >= 0, "RMSNorm", "needs dim > 0 and eps >= 0, got dim=", d, " eps=", e);
  weight = register_parameter("weight", Tensor::empty({d}, dtype));
  ones_(weight);
}

Tensor RMSNorm::forward(const Tensor& x) const {
  check_last_dim("RMSNorm", x, dim);
  return rms_norm(x, weight, eps);
}

}  // namespace moegrad
