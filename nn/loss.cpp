#include "nn/loss.h"

#include <cmath>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/reduce.h"

namespace moegrad {

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const CrossEntropyOptions& opt) {
  const char* op = "cross_entropy";
  MOEGRAD_CHECK(is_floating(logits.dtype()) && logits.dim() >= 1, op, "logits must be floating with a class dim, got ",
                dtype_name(logits.dtype()), " ", shape_str(logits.shape()));
  MOEGRAD_CHECK(is_integral(targets.dtype()), op, "targets must be i32 or i64, got ", dtype_name(targets.dtype()));
  Shape expected(logits.shape().begin(), logits.shape().end() - 1);
  MOEGRAD_CHECK(targets.shape() == expected, op, "targets ", shape_str(targets.shape()), " must be logits ",
                shape_str(logits.shape()), " without its last dim");
  MOEGRAD_CHECK(opt.label_smoothing >= 0 && opt.label_smoothing <= 1, op, "label_smoothing must be in [0, 1], got ",
                opt.label_smoothing);
  const int64_t C = logits.size(-1), N = numel(expected);
  MOEGRAD_CHECK(C > 0, op, "logits ", shape_str(logits.shape()), " have no classes");

  Tensor t = cast(targets, DType::i64).reshape({N});
  Tensor valid = ne(t, double(opt.ignore_index));
  Tensor safe_t = where(valid, t, zeros({}, DType::i64, t.device()));
  check_index_range(op, safe_t, C);

  Tensor logp = log_softmax(logits.detach().reshape({N, C}), -1);
  Tensor valid_f = cast(valid, logp.dtype());
  double s = opt.label_smoothing;
  // Per row: (1 - s) * -log p[target] + s * mean over classes of -log p.
  Tensor nll = neg(gather(logp, 1, safe_t.unsqueeze(1)).squeeze(1));
  Tensor per_row = mul(add(mul(nll, 1 - s), mul(neg(mean(logp, {1})), s)), valid_f);
  double denom = opt.reduction == Reduction::mean ? sum(valid_f).item<double>() : 1.0;
  Tensor loss = div(sum(per_row), denom);

  // d loss / d logits = (softmax - target distribution) * valid / denom.
  return record(op, loss, {logits},
                [logp = save(op, logp), safe_t, valid_f, s, C, denom, shape = logits.shape()](const Tensor& g) -> Grads {
                  Tensor p = exp(logp.get());
                  Tensor target = scatter_add(full(p.shape(), s / double(C), p.dtype(), p.device()), 1,
                                              safe_t.unsqueeze(1), full({safe_t.numel(), 1}, 1 - s, p.dtype(), p.device()));
                  Tensor grad = mul(sub(p, target), valid_f.unsqueeze(1));
                  return {mul(grad, div(g, denom)).reshape(shape)};
                });
}

Tensor mse_loss(const Tensor& a, const Tensor& b, Reduction reduction) {
  MOEGRAD_CHECK(a.shape() == b.shape(), "mse_loss", "shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                " differ");
  Tensor d = sub(a, b);
  Tensor sq = mul(d, d);
  return reduction == Reduction::mean ? mean(sq) : sum(sq);
}

Tensor kl_div_logits(const Tensor& p_logits, const Tensor& q_logits) {
  MOEGRAD_CHECK(p_logits.shape() == q_logits.shape() && p_logits.dim() >= 1, "kl_div_logits", "shapes ",
                shape_str(p_logits.shape()), " and ", shape_str(q_logits.shape()), " must match, with a class dim");
  Tensor logp = log_softmax(p_logits, -1), logq = log_softmax(q_logits, -1);
  double rows = double(p_logits.numel() / std::max<int64_t>(p_logits.size(-1), 1));
  return div(sum(mul(exp(logp), sub(logp, logq))), std::max(rows, 1.0));
}

Tensor symmetric_kl_logits(const Tensor& a, const Tensor& b) {
  return mul(add(kl_div_logits(a, b), kl_div_logits(b, a)), 0.5);
}

}  // namespace moegrad
