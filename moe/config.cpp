#include "moe/config.h"

#include <cmath>

#include "core/error.h"

namespace moegrad {

void check_config(const char* op, const MoEConfig& c) {
  MOEGRAD_CHECK(c.dim >= 1 && c.hidden >= 1, op, "dim and hidden must be >= 1, got dim = ", c.dim,
                ", hidden = ", c.hidden);
  MOEGRAD_CHECK(c.num_experts >= 1, op, "num_experts must be >= 1, got ", c.num_experts);
  MOEGRAD_CHECK(c.top_k >= 1 && c.top_k <= c.num_experts, op, "top_k must be in [1, num_experts = ", c.num_experts,
                "], got ", c.top_k);
  MOEGRAD_CHECK(c.heads >= 1 && c.dim % c.heads == 0, op, "heads must be >= 1 and divide dim = ", c.dim, ", got ",
                c.heads);
  MOEGRAD_CHECK(c.gate != GateKind::xmoe || c.xmoe_dim >= 1, op, "xmoe_dim must be >= 1, got ", c.xmoe_dim);
  MOEGRAD_CHECK(std::isfinite(c.xmoe_temperature) && c.xmoe_temperature > 0, op, "xmoe_temperature must be > 0, got ",
                c.xmoe_temperature);
  MOEGRAD_CHECK(c.second_expert == SecondExpertPolicy::all || c.top_k == 2, op,
                "a second-expert policy other than 'all' needs top_k = 2, got top_k = ", c.top_k);
  for (double f : {c.capacity_factor, c.eval_capacity_factor})
    MOEGRAD_CHECK(std::isfinite(f) && f >= 0, op, "capacity factors must be >= 0 (0 = dropless), got ", f);
  for (double w : {c.balance_weight, c.z_weight})
    MOEGRAD_CHECK(std::isfinite(w) && w >= 0, op, "aux loss weights must be finite and >= 0, got ", w);
  MOEGRAD_CHECK(is_floating(c.dtype), op, "dtype must be f32 or f64, got ", dtype_name(c.dtype));
}

}  // namespace moegrad
