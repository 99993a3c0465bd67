#include "moe/dispatch.h"

#include <cmath>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"

namespace moegrad {

int64_t DispatchPlan::dropped() const {
  int64_t n = 0;
  for (size_t e = 0; e < routed.size(); ++e) n += routed[e] - kept[e];
  return n;
}

int64_t expert_capacity(double capacity_factor, int64_t units, int64_t k, int64_t num_experts) {
  MOEGRAD_CHECK(std::isfinite(capacity_factor) && capacity_factor >= 0, "expert_capacity",
                "capacity factor must be finite and >= 0 (0 = no limit), got ", capacity_factor);
  MOEGRAD_CHECK(num_experts >= 1 && k >= 1 && units >= 0, "expert_capacity",
                "need E >= 1, k >= 1, N >= 0; got E = ", num_experts, ", k = ", k, ", N = ", units);
  if (capacity_factor == 0) return -1;
  // The tolerance keeps float noise from adding a slot: 1.1 * 2 * 100 / 4 is
  // 55.00000000000001 in doubles, and the intended capacity is 55.
  double c = std::ceil(capacity_factor * double(k) * double(units) / double(num_experts) - 1e-9);
  return std::max<int64_t>(1, int64_t(c));
}

DispatchPlan make_plan(const Tensor& experts, int64_t num_experts, int64_t capacity, Device device) {
  const char* op = "make_plan";
  MOEGRAD_CHECK(experts.dim() == 2 && is_integral(experts.dtype()), op,
                "experts must be an i32/i64 tensor [units, k], got ", dtype_name(experts.dtype()), " ",
                shape_str(experts.shape()));
  MOEGRAD_CHECK(num_experts >= 1, op, "num_experts must be >= 1, got ", num_experts);
  DispatchPlan plan;
  plan.units = experts.size(0);
  plan.k = experts.size(1);
  plan.num_experts = num_experts;
  const int64_t N = plan.units, k = plan.k, E = num_experts;
  std::vector<int64_t> ex = cast(experts, DType::i64).to(Device::cpu()).to_vector<int64_t>();
  for (int64_t i = 0; i < N * k; ++i)
    MOEGRAD_CHECK(ex[size_t(i)] >= -1 && ex[size_t(i)] < E, op, "expert id ", ex[size_t(i)], " of unit ", i / k,
                  " is outside [0, ", E, ") (and not -1 for no choice)");

  // Priority order: choice rank j outer, unit n inner (first come, first served).
  auto for_each_choice = [&](auto body) {
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n)
        if (int64_t e = ex[size_t(n * k + j)]; e >= 0) body(n * k + j, n, e);
  };
  // Pass 1: count, and decide who fits.
  plan.routed.assign(size_t(E), 0);
  plan.kept.assign(size_t(E), 0);
  std::vector<char> keep(size_t(N * k), 0);
  for_each_choice([&](int64_t c, int64_t, int64_t e) {
    ++plan.routed[size_t(e)];
    if (capacity < 0 || plan.kept[size_t(e)] < capacity) {
      ++plan.kept[size_t(e)];
      keep[size_t(c)] = 1;
    }
  });
  plan.offsets.assign(size_t(E) + 1, 0);
  for (int64_t e = 0; e < E; ++e) plan.offsets[size_t(e) + 1] = plan.offsets[size_t(e)] + plan.kept[size_t(e)];

  // Pass 2: place each kept choice at its expert's next free slot.
  const auto slots = size_t(plan.offsets.back());
  std::vector<int64_t> cursor(plan.offsets.begin(), plan.offsets.end() - 1);
  std::vector<int64_t> unit(slots), choice(slots), expert(slots), slot(size_t(N * k), -1);
  for_each_choice([&](int64_t c, int64_t n, int64_t e) {
    if (!keep[size_t(c)]) return;
    int64_t s = cursor[size_t(e)]++;
    unit[size_t(s)] = n;
    choice[size_t(s)] = c;
    expert[size_t(s)] = e;
    slot[size_t(c)] = s;
  });
  plan.unit_of_slot = from_vector(unit, device);
  plan.choice_of_slot = from_vector(choice, device);
  plan.expert_of_slot = from_vector(expert, device);
  plan.slot_of_choice = from_vector(slot, device);
  return plan;
}

Tensor dispatch(const Tensor& x, const DispatchPlan& plan) {
  MOEGRAD_CHECK(x.dim() == 2 && x.size(0) == plan.units, "dispatch", "x must be [units, d] with units = ", plan.units,
                ", got ", shape_str(x.shape()));
  return index_select(x, 0, plan.unit_of_slot);
}

Tensor combine(const Tensor& y, const Tensor& gates, const DispatchPlan& plan) {
  const char* op = "combine";
  MOEGRAD_CHECK(y.dim() == 2 && y.size(0) == plan.slots(), op, "y must be [slots, d] with slots = ", plan.slots(),
                ", got ", shape_str(y.shape()));
  MOEGRAD_CHECK(gates.dim() == 2 && gates.size(0) == plan.units && gates.size(1) == plan.k, op, "gates must be [",
                plan.units, ", ", plan.k, "], got ", shape_str(gates.shape()));
  MOEGRAD_CHECK(gates.dtype() == y.dtype(), op, "gates ", dtype_name(gates.dtype()), " and y ", dtype_name(y.dtype()),
                " must share a dtype");
  // Each slot's gate, then its weighted output added into its unit. The
  // three ops' backwards are exactly the formulas in the header: index_add's
  // gathers dout by unit, mul's scales it by the gate (dy) and dots it with
  // y (dgate), index_select's scatters dgate back to its choice.
  Tensor gate_of_slot = index_select(gates.reshape({-1}), 0, plan.choice_of_slot).unsqueeze(-1);
  Tensor out = zeros({plan.units, y.size(1)}, y.dtype(), y.device());
  return index_add(out, 0, plan.unit_of_slot, mul(y, gate_of_slot));
}

}  // namespace moegrad
