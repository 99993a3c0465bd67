#include "nn/linear.h"

#include <cmath>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/matmul.h"
#include "nn/init.h"

namespace moegrad {

Linear::Linear(int64_t in, int64_t out, bool with_bias, DType dtype) : in_features(in), out_features(out) {
  MOEGRAD_CHECK(in > 0 && out > 0, "Linear", "features must be positive, got in=", in, " out=", out);
  double bound = 1.0 / std::sqrt(double(in));
  weight = register_parameter("weight", Tensor::empty({out, in}, dtype));
  uniform_(weight, -bound, bound);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}, dtype));
    uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) const {
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear", "input ", shape_str(x.shape()),
                " must end in in_features = ", in_features);
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace moegrad
