// Weight initialisation. Each fills an existing parameter in place (outside
// the graph) from a generator, the default one unless given.
#pragma once

#include "core/random.h"
#include "core/tensor.h"

namespace moegrad {

// Uniform in [-a, a] with a = gain * sqrt(6 / (fan_in + fan_out)); for a 2-D
// [out, in] weight fan_in = in, fan_out = out (as torch.nn.init).
void xavier_uniform_(const Tensor& w, double gain = 1.0, Generator* gen = nullptr);
// A (semi-)orthogonal matrix times gain, as torch.nn.init.orthogonal_: the
// rows (if rows <= cols) or the columns are orthonormal. Gram-Schmidt on a
// normal draw, so the result is uniformly distributed (Haar).
void orthogonal_(const Tensor& w, double gain = 1.0, Generator* gen = nullptr);
void normal_(const Tensor& w, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
void uniform_(const Tensor& w, double low, double high, Generator* gen = nullptr);
void zeros_(const Tensor& w);
void ones_(const Tensor& w);

}  // namespace moegrad
