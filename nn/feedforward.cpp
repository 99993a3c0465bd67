#include "nn/feedforward.h"

#include "core/elementwise.h"

namespace moegrad {

FeedForward::FeedForward(int64_t dim, int64_t hidden, FfnActivation act, bool bias, DType dtype) : activation(act) {
  w1 = register_module("w1", std::make_shared<Linear>(dim, hidden, bias, dtype));
  w2 = register_module("w2", std::make_shared<Linear>(hidden, dim, bias, dtype));
  if (act == FfnActivation::swiglu) w3 = register_module("w3", std::make_shared<Linear>(dim, hidden, bias, dtype));
}

Tensor FeedForward::forward(const Tensor& x) const {
  Tensor h = activation == FfnActivation::gelu ? gelu(w1->forward(x)) : mul(silu(w1->forward(x)), w3->forward(x));
  return w2->forward(h);
}

}  // namespace moegrad
