#include "nn/dropout.h"

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"

namespace moegrad {

Dropout::Dropout(double prob, Generator* gen) : p(prob), gen_(gen) {
  MOEGRAD_CHECK(prob >= 0 && prob < 1, "Dropout", "p must be in [0, 1), got ", prob);
}

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p == 0) return x;
  Tensor keep = cast(ge(rand(x.shape(), x.dtype(), gen_, x.device()), p), x.dtype());
  return mul(x, mul(keep, 1.0 / (1.0 - p)));
}

}  // namespace moegrad
