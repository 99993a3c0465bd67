#include "nn/embedding.h"

#include "core/indexing.h"
#include "nn/init.h"

namespace moegrad {

Embedding::Embedding(int64_t num, int64_t dim, DType dtype) {
  MOEGRAD_CHECK(num > 0 && dim > 0, "Embedding", "sizes must be positive, got num=", num, " dim=", dim);
  weight = register_parameter("weight", Tensor::empty({num, dim}, dtype));
  normal_(weight, 0, 1);
}

Tensor Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

}  // namespace moegrad
