// Dropout: in training, zeroes each element with probability p and scales
// the rest by 1 / (1 - p); in eval mode, the identity.
#pragma once

#include "core/random.h"
#include "nn/module.h"

namespace moegrad {

class Dropout : public Module {
 public:
  // p in [0, 1). Draws from `gen` (the default generator when null), so a
  // seeded run drops the same elements every time.
  explicit Dropout(double p, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) const;

  double p;

 private:
  Generator* gen_;
};

}  // namespace moegrad
