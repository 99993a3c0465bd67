#include "moe/thor.h"

#include <algorithm>
#include <cmath>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/reduce.h"
#include "moe/dispatch.h"
#include "nn/loss.h"

namespace moegrad {

Thor::Thor(const ThorConfig& c) : config(c), gen_(c.seed) {
  MOEGRAD_CHECK(c.num_experts >= 1, "Thor", "num_experts must be >= 1, got ", c.num_experts);
  MOEGRAD_CHECK(c.fixed_expert >= 0 && c.fixed_expert < c.num_experts, "Thor", "fixed_expert ", c.fixed_expert,
                " is outside [0, ", c.num_experts, ")");
  MOEGRAD_CHECK(is_floating(c.dtype), "Thor", "dtype must be f32 or f64, got ", dtype_name(c.dtype));
  experts = register_module("experts",
                            std::make_shared<Experts>(c.num_experts, c.dim, c.hidden, c.activation, c.bias, c.dtype));
}

namespace {
// n expert ids, uniform over [0, E).
std::vector<int64_t> draw_experts(Generator& gen, int64_t n, int64_t E) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  std::vector<double> u = rand({n}, DType::f64, &gen).to_vector<double>();
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = std::min<int64_t>(E - 1, int64_t(u[size_t(i)] * double(E)));
  return ids;
}
}  // namespace

Tensor Thor::forward(const Tensor& x) const {
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) == config.dim, "Thor", "input ", shape_str(x.shape()),
                " must end in dim = ", config.dim);
  Tensor units = x.reshape({-1, config.dim});
  const int64_t N = units.size(0), E = config.num_experts;
  const ThorInference mode = config.inference;
  std::vector<int64_t> ids;
  int64_t k = 1;
  if (is_training()) {
    ids.assign(size_t(N), draw_experts(gen_, 1, E)[0]);  // one expert for the whole batch
  } else if (mode == ThorInference::fixed) {
    ids.assign(size_t(N), config.fixed_expert);
  } else if (mode == ThorInference::random_token) {
    ids = draw_experts(gen_, N, E);
  } else if (mode == ThorInference::random_sequence) {
    int64_t sequences = x.dim() >= 2 ? x.size(0) : 1;
    int64_t per = sequences == 0 ? 0 : N / sequences;
    std::vector<int64_t> drawn = draw_experts(gen_, sequences, E);
    for (int64_t n = 0; n < N; ++n) ids.push_back(drawn[size_t(n / per)]);
  } else {  // ensemble: every token to every expert, each weighted 1/E
    k = E;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t e = 0; e < E; ++e) ids.push_back(e);
  }
  experts_ = from_vector(ids, {N, k}, x.device());
  DispatchPlan plan = make_plan(experts_, E, -1, x.device());
  Tensor gates = full({N, k}, 1.0 / double(k), x.dtype(), x.device());
  Tensor out = combine(experts->forward(dispatch(units, plan), plan), gates, plan);
  aux_loss_ = scalar_tensor(0, x.dtype(), x.device());
  last_stats_ = RoutingStats::from_plan(plan, N, 0.0);
  return out.reshape(x.shape());
}

Tensor thor_loss(const Tensor& logits1, const Tensor& logits2, const Tensor& targets, const ThorLossOptions& o) {
  MOEGRAD_CHECK(logits1.shape() == logits2.shape(), "thor_loss",
                "the two passes' logits differ in shape: ", shape_str(logits1.shape()), " and ",
                shape_str(logits2.shape()));
  MOEGRAD_CHECK(std::isfinite(o.alpha) && o.alpha >= 0, "thor_loss", "alpha must be >= 0, got ", o.alpha);
  CrossEntropyOptions ce{o.ignore_index, o.label_smoothing, Reduction::sum};
  Tensor loss = add(cross_entropy(logits1, targets, ce), cross_entropy(logits2, targets, ce));
  // Symmetric KL per token, then summed over the tokens that are not padding.
  Tensor lp1 = log_softmax(logits1, -1), lp2 = log_softmax(logits2, -1);
  Tensor diff = sub(lp1, lp2);
  Tensor kl = mul(sum(mul(sub(exp(lp1), exp(lp2)), diff), {-1}), 0.5);  // (KL12 + KL21) / 2
  Tensor keep = cast(ne(targets, double(o.ignore_index)), kl.dtype());
  return add(loss, mul(sum(mul(kl, keep)), o.alpha));
}

}  // namespace moegrad
