// Embedding: a table of num x dim vectors looked up by integer ids.
#pragma once

#include "nn/module.h"

namespace moegrad {

class Embedding : public Module {
 public:
  // Initialised normal(0, 1), as torch.nn.Embedding.
  Embedding(int64_t num, int64_t dim, DType dtype = DType::f32);
  // ids (i32/i64) of shape S -> [S..., dim]; ids out of range are an error.
  Tensor forward(const Tensor& ids) const;

  Tensor weight;
};

}  // namespace moegrad
