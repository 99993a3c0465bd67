#include "nn/init.h"

#include <cmath>

#include "core/copy.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

namespace {
// Parameters require grad; initialising them is not part of any graph.
void assign(const Tensor& w, const Tensor& value) {
  NoGradGuard no_grad;
  copy_(w, value);
}
}  // namespace

void xavier_uniform_(const Tensor& w, double gain, Generator* gen) {
  MOEGRAD_CHECK(w.dim() >= 2, "xavier_uniform_", "needs a weight of rank >= 2, got ", shape_str(w.shape()));
  int64_t receptive = w.numel() / std::max<int64_t>(w.size(0) * w.size(1), 1);
  double fan_in = double(w.size(1) * receptive), fan_out = double(w.size(0) * receptive);
  double a = gain * std::sqrt(6.0 / std::max(fan_in + fan_out, 1.0));
  uniform_(w, -a, a, gen);
}

void normal_(const Tensor& w, double mean, double std, Generator* gen) {
  assign(w, normal(w.shape(), mean, std, w.dtype(), gen, w.device()));
}

void uniform_(const Tensor& w, double low, double high, Generator* gen) {
  assign(w, uniform(w.shape(), low, high, w.dtype(), gen, w.device()));
}

void zeros_(const Tensor& w) {
  NoGradGuard no_grad;
  fill_(w, 0);
}

void ones_(const Tensor& w) {
  NoGradGuard no_grad;
  fill_(w, 1);
}

}  // namespace moegrad
