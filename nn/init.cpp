#include "nn/init.h"

#include <cmath>
#include <vector>

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

void orthogonal_(const Tensor& w, double gain, Generator* gen) {
  MOEGRAD_CHECK(w.dim() == 2 && w.numel() > 0, "orthogonal_", "needs a non-empty 2-D weight, got ",
                shape_str(w.shape()));
  // Orthonormalize the shorter side's vectors: `count` vectors of `len`
  // entries, vector i element j at v[i * len + j].
  const int64_t rows = w.size(0), cols = w.size(1);
  const bool by_rows = rows <= cols;
  const int64_t count = by_rows ? rows : cols, len = by_rows ? cols : rows;
  std::vector<double> v = normal({count, len}, 0, 1, DType::f64, gen).to_vector<double>();
  auto at = [&](int64_t i, int64_t j) -> double& { return v[size_t(i * len + j)]; };
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t p = 0; p < i; ++p) {  // modified Gram-Schmidt: remove earlier directions
      double dot = 0;
      for (int64_t j = 0; j < len; ++j) dot += at(i, j) * at(p, j);
      for (int64_t j = 0; j < len; ++j) at(i, j) -= dot * at(p, j);
    }
    double norm = 0;
    for (int64_t j = 0; j < len; ++j) norm += at(i, j) * at(i, j);
    norm = std::sqrt(norm);
    for (int64_t j = 0; j < len; ++j) at(i, j) /= norm;
  }
  for (double& x : v) x *= gain;
  Tensor q = from_vector(v, {count, len});
  assign(w, (by_rows ? q : q.t()).to(w.dtype()).to(w.device()));
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
