// Multi-head attention (Vaswani et al. 2017), for self-attention (causal or
// not) and cross-attention:
//   Q = x Wq, K = m Wk, V = m Wv, split into `heads` heads of d/heads features;
//   A = softmax(Q K^T / sqrt(d_head) + mask); out = concat_heads(A V) Wo.
// Masked positions get a large negative score rather than -inf, so a row
// whose keys are all padding yields a uniform average instead of NaN.
#pragma once

#include <memory>

#include "nn/dropout.h"
#include "nn/linear.h"

namespace moegrad {

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t dim, int64_t heads, double dropout = 0.0, bool bias = true, DType dtype = DType::f32);

  // x [B, Tq, dim] attends to memory [B, Tk, dim] (pass x itself for
  // self-attention). causal: query i sees keys j <= i + (Tk - Tq).
  // key_padding_mask: bool [B, Tk], true where the key is padding.
  Tensor forward(const Tensor& x, const Tensor& memory, bool causal = false,
                 const Tensor& key_padding_mask = Tensor()) const;

  int64_t dim, heads;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, out_proj;
  std::shared_ptr<Dropout> attn_dropout;
};

}  // namespace moegrad
