#include "nn/attention.h"

#include <cmath>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/matmul.h"
#include "core/reduce.h"

namespace moegrad {

MultiHeadAttention::MultiHeadAttention(int64_t d, int64_t h, double dropout, bool bias, DType dtype)
    : dim(d), heads(h) {
  MOEGRAD_CHECK(h > 0 && d > 0 && d % h == 0, "MultiHeadAttention", "dim ", d, " must be a positive multiple of heads ",
                h);
  q_proj = register_module("q_proj", std::make_shared<Linear>(d, d, bias, dtype));
  k_proj = register_module("k_proj", std::make_shared<Linear>(d, d, bias, dtype));
  v_proj = register_module("v_proj", std::make_shared<Linear>(d, d, bias, dtype));
  out_proj = register_module("out_proj", std::make_shared<Linear>(d, d, bias, dtype));
  attn_dropout = register_module("attn_dropout", std::make_shared<Dropout>(dropout));
}

Tensor MultiHeadAttention::forward(const Tensor& x, const Tensor& memory, bool causal, const Tensor& pad) const {
  const char* op = "MultiHeadAttention";
  MOEGRAD_CHECK(x.dim() == 3 && memory.dim() == 3 && x.size(2) == dim && memory.size(2) == dim &&
                    x.size(0) == memory.size(0),
                op, "expects x [B,Tq,", dim, "] and memory [B,Tk,", dim, "], got ", shape_str(x.shape()), " and ",
                shape_str(memory.shape()));
  const int64_t B = x.size(0), Tq = x.size(1), Tk = memory.size(1), dh = dim / heads;
  if (pad.defined())
    MOEGRAD_CHECK(pad.dtype() == DType::b8 && pad.shape() == Shape({B, Tk}), op, "key_padding_mask must be bool [",
                  B, ",", Tk, "], got ", dtype_name(pad.dtype()), " ", shape_str(pad.shape()));

  // [B, T, dim] -> [B, heads, T, dh]
  auto split_heads = [&](const Tensor& t, int64_t T) { return t.reshape({B, T, heads, dh}).transpose(1, 2); };
  Tensor q = split_heads(q_proj->forward(x), Tq);
  Tensor k = split_heads(k_proj->forward(memory), Tk);
  Tensor v = split_heads(v_proj->forward(memory), Tk);

  Tensor scores = mul(matmul(q, k.transpose(-1, -2)), 1.0 / std::sqrt(double(dh)));  // [B, H, Tq, Tk]
  Tensor blocked = full({}, -1e9, scores.dtype(), scores.device());
  if (causal) {
    Tensor qi = arange(Tq, DType::i64, x.device()).unsqueeze(1), kj = arange(Tk, DType::i64, x.device()).unsqueeze(0);
    scores = where(gt(kj, add(qi, double(Tk - Tq))), blocked, scores);  // mask [Tq, Tk]: keys after the query
  }
  if (pad.defined()) scores = where(pad.reshape({B, 1, 1, Tk}), blocked, scores);

  Tensor attn = attn_dropout->forward(softmax(scores, -1));
  Tensor out = matmul(attn, v).transpose(1, 2).reshape({B, Tq, dim});
  return out_proj->forward(out);
}

}  // namespace moegrad
