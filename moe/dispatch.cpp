#include "moe/dispatch.h"

#include <algorithm>
#include <cmath>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"
#include "core/join.h"
#include "core/reduce.h"

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

namespace {

// A plan with its sizes filled in, after checking the choices' tensor.
DispatchPlan start_plan(const Tensor& experts, int64_t num_experts) {
  MOEGRAD_CHECK(experts.dim() == 2 && is_integral(experts.dtype()), "make_plan",
                "experts must be an i32/i64 tensor [units, k], got ", dtype_name(experts.dtype()), " ",
                shape_str(experts.shape()));
  MOEGRAD_CHECK(num_experts >= 1, "make_plan", "num_experts must be >= 1, got ", num_experts);
  DispatchPlan plan;
  plan.units = experts.size(0);
  plan.k = experts.size(1);
  plan.num_experts = num_experts;
  return plan;
}

// Slot counts from the choices per expert: kept = routed up to the capacity.
void fill_counts(DispatchPlan& plan, int64_t capacity) {
  const auto E = size_t(plan.num_experts);
  plan.kept.assign(E, 0);
  plan.offsets.assign(E + 1, 0);
  for (size_t e = 0; e < E; ++e) {
    plan.kept[e] = capacity < 0 ? plan.routed[e] : std::min(plan.routed[e], capacity);
    plan.offsets[e + 1] = plan.offsets[e] + plan.kept[e];
  }
}

}  // namespace

DispatchPlan make_plan(const Tensor& experts, int64_t num_experts, int64_t capacity, Device device) {
  if (!experts.device().is_cpu() && device == experts.device())
    return make_plan_with_ops(experts, num_experts, capacity);
  const char* op = "make_plan";
  DispatchPlan plan = start_plan(experts, num_experts);
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
  // Pass 1: count each expert's choices; its first `capacity` of them fit.
  plan.routed.assign(size_t(E), 0);
  for_each_choice([&](int64_t, int64_t, int64_t e) { ++plan.routed[size_t(e)]; });
  fill_counts(plan, capacity);

  // Pass 2: place each choice at its expert's next free slot, while it has one.
  const auto slots = size_t(plan.offsets.back());
  std::vector<int64_t> cursor(plan.offsets.begin(), plan.offsets.end() - 1);
  std::vector<int64_t> unit(slots), choice(slots), expert(slots), slot(size_t(N * k), -1);
  for_each_choice([&](int64_t c, int64_t n, int64_t e) {
    if (cursor[size_t(e)] == plan.offsets[size_t(e) + 1]) return;  // full: dropped
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

// The same plan from tensor ops, so that the choices never leave the GPU: a
// stable sort by expert over the choices in priority order puts each expert's
// choices together, first come first. What crosses to the host is the E + 1
// counts (the expert blocks' sizes, which the per-expert GEMMs need there
// anyway) and the two-number range checks of the indexing ops.
DispatchPlan make_plan_with_ops(const Tensor& experts, int64_t num_experts, int64_t capacity) {
  DispatchPlan plan = start_plan(experts, num_experts);
  const int64_t N = plan.units, k = plan.k, E = num_experts;
  const Device dev = experts.device();
  // Choice p = j * N + n in priority order; "no choice" (-1) sorts last as E.
  Tensor ex = cast(experts, DType::i64).t().reshape({-1});
  if (ex.numel() > 0) {
    std::vector<int64_t> lo_hi = stack({amin(ex), amax(ex)}).to(Device::cpu()).to_vector<int64_t>();
    for (int64_t id : lo_hi)
      MOEGRAD_CHECK(id >= -1 && id < E, "make_plan", "expert id ", id, " is outside [0, ", E,
                    ") (and not -1 for no choice)");
  }
  Tensor key = where(eq(ex, -1.0), full({}, double(E), DType::i64, dev), ex);
  std::vector<int64_t> counts = bincount(key, E + 1).to(Device::cpu()).to_vector<int64_t>();
  plan.routed.assign(counts.begin(), counts.end() - 1);
  fill_counts(plan, capacity);

  auto [sorted, order] = sort(key);  // sorted position i holds choice order[i]
  // Rank of each sorted choice inside its expert's run; it is kept if the rank
  // is under the expert's capacity (no-choice entries have capacity 0).
  std::vector<int64_t> run_start(size_t(E) + 1, 0), kept(plan.kept);
  for (int64_t e = 0; e < E; ++e) run_start[size_t(e) + 1] = run_start[size_t(e)] + counts[size_t(e)];
  kept.push_back(0);
  Tensor rank = sub(arange(N * k, DType::i64, dev), index_select(from_vector(run_start, dev), 0, sorted));
  Tensor dropped = ge(rank, index_select(from_vector(kept, dev), 0, sorted));
  // Kept choices fill the slots in sorted order: the first S of a stable
  // sort that puts kept before dropped are the slots' sorted positions.
  const int64_t S = plan.slots();
  Tensor pos = argsort(cast(dropped, DType::i64)).narrow(0, 0, S);
  Tensor choice_p = index_select(order, 0, pos);  // priority index of each slot's choice
  std::vector<Tensor> units, ranks;               // of each priority index: n and j
  for (int64_t j = 0; j < k; ++j) {
    units.push_back(arange(N, DType::i64, dev));
    ranks.push_back(full({N}, double(j), DType::i64, dev));
  }
  plan.unit_of_slot = index_select(cat(units), 0, choice_p);
  plan.choice_of_slot = add(mul(plan.unit_of_slot, double(k)), index_select(cat(ranks), 0, choice_p));
  plan.expert_of_slot = index_select(sorted, 0, pos);
  // Each choice's slot, -1 if none: -1 + (s + 1) at the choice of slot s
  // (each choice has at most one slot, so the sum is exact).
  plan.slot_of_choice = scatter_add(full({N * k}, -1.0, DType::i64, dev), 0, plan.choice_of_slot,
                                    add(arange(S, DType::i64, dev), 1.0));
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
