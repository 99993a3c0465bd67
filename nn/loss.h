// Losses. cross_entropy is one fused op with its own backward
// (softmax - target distribution), the way every training step uses it; the
// others are written with core ops.
#pragma once

#include "core/tensor.h"

namespace moegrad {

enum class Reduction { mean, sum };

struct CrossEntropyOptions {
  int64_t ignore_index = -100;  // targets equal to it add no loss and no gradient
  double label_smoothing = 0;   // in [0, 1]: the target is (1 - s) one-hot + s / C uniform
  Reduction reduction = Reduction::mean;  // mean over the targets not ignored (NaN if none)
};

// logits [..., C] floating; targets [...] i32/i64, each in [0, C) or
// ignore_index. Returns a 0-d loss. As torch.nn.functional.cross_entropy.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& options = {});

// mean((a - b)^2) or its sum; a and b of one shape.
Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction = Reduction::mean);

// KL(P || Q) between the distributions softmax(p_logits) and
// softmax(q_logits) over the last dim, summed over it and averaged over the
// other elements (PyTorch's reduction="batchmean" on flattened rows).
Tensor kl_div_logits(const Tensor& p_logits, const Tensor& q_logits);
// (KL(P || Q) + KL(Q || P)) / 2: THOR's consistency regulariser.
Tensor symmetric_kl_logits(const Tensor& a_logits, const Tensor& b_logits);

}  // namespace moegrad
