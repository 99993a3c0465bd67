#include "moe/experts.h"

#include <cmath>

#include "core/elementwise.h"
#include "core/indexing.h"
#include "core/matmul.h"
#include "nn/init.h"

namespace moegrad {

Experts::Experts(int64_t E, int64_t d, int64_t f, FfnActivation act, bool bias, DType dtype)
    : num_experts(E), dim(d), hidden(f), activation(act) {
  MOEGRAD_CHECK(E >= 1 && d >= 1 && f >= 1, "Experts", "need num_experts, dim and hidden >= 1, got ", E, ", ", d, ", ",
                f);
  auto param = [&](const char* name, Shape shape, int64_t fan_in) {
    Tensor p = register_parameter(name, Tensor::empty(shape, dtype));
    double bound = 1.0 / std::sqrt(double(fan_in));
    uniform_(p, -bound, bound);
    return p;
  };
  w1 = param("w1", {E, d, f}, d);
  w2 = param("w2", {E, f, d}, f);
  if (act == FfnActivation::swiglu) w3 = param("w3", {E, d, f}, d);
  if (bias) {
    b1 = param("b1", {E, f}, d);
    b2 = param("b2", {E, d}, f);
    if (act == FfnActivation::swiglu) b3 = param("b3", {E, f}, d);
  }
}

Tensor Experts::forward(const Tensor& x, const DispatchPlan& plan) const {
  MOEGRAD_CHECK(x.dim() == 2 && x.size(1) == dim && x.size(0) == plan.slots(), "Experts",
                "input must be [slots, dim] = [", plan.slots(), ", ", dim, "], got ", shape_str(x.shape()));
  MOEGRAD_CHECK(plan.num_experts == num_experts, "Experts", "plan is for ", plan.num_experts,
                " experts, this layer has ", num_experts);
  // A bias is per expert: each slot adds its expert's row.
  auto linear = [&](const Tensor& in, const Tensor& w, const Tensor& b) {
    Tensor y = grouped_matmul(in, w, plan.offsets);
    return b.defined() ? add(y, index_select(b, 0, plan.expert_of_slot)) : y;
  };
  Tensor h = linear(x, w1, b1);
  h = activation == FfnActivation::gelu ? gelu(h) : mul(silu(h), linear(x, w3, b3));
  return linear(h, w2, b2);
}

}  // namespace moegrad
