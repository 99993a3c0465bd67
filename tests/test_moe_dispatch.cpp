// Tests for moe/dispatch.h and the router's auxiliary losses (moe/router.h):
//
//   make_plan        a hand-built first-come-first-served case written out in
//                    full, then random routings (empty experts, one expert for
//                    all, k = 1..3, odd N, -1 entries, capacity limits and
//                    dropless) against a naive plan and the plan's invariants;
//   dispatch/combine against per-token loops that look each choice's slot up
//                    by scanning, and a whole expert FFN (dispatch ->
//                    grouped_matmul -> gelu -> grouped_matmul -> combine)
//                    against a loop over tokens that never builds a slot;
//   gradients        gradcheck of combine, dispatch and the whole pipeline;
//                    dropped choices' gates get exactly zero;
//   losses           load_balancing_loss and router_z_loss on hand-computed
//                    values, their limits, gradcheck;
//   errors           every bad input throws moegrad::Error naming its op.
//
// The references below read tensors only through testing::at and build the
// expected plan with their own loops, never with the code under test.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "moe/dispatch.h"
#include "moe/router.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

using Ints = std::vector<int64_t>;

// The elements of an integer tensor, read through at().
Ints ints(const Tensor& t) {
  Ints v;
  for (double d : values(t)) v.push_back(int64_t(d));
  return v;
}

Tensor ids(const Ints& v, const Shape& shape, DType dtype = DType::i64) { return cast(from_vector(v, shape), dtype); }

// The plan a reader would write down by hand. Choices are taken first come,
// first served in priority order (rank j outer, unit n inner); an expert
// accepts a choice while it has fewer than `capacity` (< 0: no limit). Its
// block then lists its kept choices in that same order.
struct NaivePlan {
  Ints offsets, routed, kept;
  Ints unit_of_slot, choice_of_slot, expert_of_slot;
  Ints slot_of_choice;         // -1 for dropped and "no choice"
  std::vector<bool> accepted;  // per choice
};

NaivePlan naive_plan(const Ints& ex, int64_t N, int64_t k, int64_t E, int64_t capacity) {
  NaivePlan p;
  p.routed.assign(size_t(E), 0);
  p.kept.assign(size_t(E), 0);
  p.accepted.assign(size_t(N * k), false);
  for (int64_t j = 0; j < k; ++j)
    for (int64_t n = 0; n < N; ++n) {
      int64_t e = ex[size_t(n * k + j)];
      if (e < 0) continue;
      ++p.routed[size_t(e)];
      if (capacity < 0 || p.kept[size_t(e)] < capacity) {
        ++p.kept[size_t(e)];
        p.accepted[size_t(n * k + j)] = true;
      }
    }
  p.slot_of_choice.assign(size_t(N * k), -1);
  p.offsets.push_back(0);
  for (int64_t e = 0; e < E; ++e) {
    for (int64_t j = 0; j < k; ++j)
      for (int64_t n = 0; n < N; ++n) {
        int64_t c = n * k + j;
        if (ex[size_t(c)] != e || !p.accepted[size_t(c)]) continue;
        p.slot_of_choice[size_t(c)] = int64_t(p.unit_of_slot.size());
        p.unit_of_slot.push_back(n);
        p.choice_of_slot.push_back(c);
        p.expert_of_slot.push_back(e);
      }
    p.offsets.push_back(int64_t(p.unit_of_slot.size()));
  }
  return p;
}

// The slot of choice c, found by scanning the plan's choice_of_slot; -1 if
// no slot holds it.
int64_t find_slot(const DispatchPlan& plan, int64_t c) {
  Ints choice = ints(plan.choice_of_slot);
  int64_t found = -1;
  for (size_t s = 0; s < choice.size(); ++s)
    if (choice[s] == c) {
      REQUIRE(found == -1);  // at most one slot per choice
      found = int64_t(s);
    }
  return found;
}

// dispatch written out: row s is x[unit], the unit of slot s in the naive plan.
Tensor dispatch_ref(const Tensor& x, const NaivePlan& p) {
  int64_t d = x.size(1);
  std::vector<double> out;
  for (int64_t n : p.unit_of_slot)
    for (int64_t i = 0; i < d; ++i) out.push_back(at(x, {n, i}));
  return from_vector(out, {int64_t(p.unit_of_slot.size()), d});
}

// combine written out per token: for each unit n and each of its choices j
// that has a slot (found by scanning), out[n] += gates[n, j] * y[slot].
Tensor combine_ref(const Tensor& y, const Tensor& gates, const DispatchPlan& plan) {
  int64_t N = gates.size(0), k = gates.size(1), d = y.size(1);
  std::vector<double> out(size_t(N * d), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < k; ++j) {
      int64_t s = find_slot(plan, n * k + j);
      if (s < 0) continue;
      for (int64_t i = 0; i < d; ++i) out[size_t(n * d + i)] += at(gates, {n, j}) * at(y, {s, i});
    }
  return from_vector(out, {N, d});
}

double gelu_ref(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }

// The MoE layer as a loop over tokens: each accepted choice (n, j) of expert
// e adds gates[n, j] * gelu(x[n] W1[e]) W2[e]; dropped and absent choices add
// nothing. No slot is ever built.
Tensor moe_ffn_ref(const Tensor& x, const Tensor& w1, const Tensor& w2, const Ints& ex, const Tensor& gates,
                   const std::vector<bool>& accepted) {
  int64_t N = x.size(0), d = x.size(1), f = w1.size(2), k = gates.size(1);
  std::vector<double> out(size_t(N * d), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < k; ++j) {
      int64_t c = n * k + j, e = ex[size_t(c)];
      if (e < 0 || !accepted[size_t(c)]) continue;
      std::vector<double> h(size_t(f), 0.0);
      for (int64_t a = 0; a < f; ++a) {
        for (int64_t i = 0; i < d; ++i) h[size_t(a)] += at(x, {n, i}) * at(w1, {e, i, a});
        h[size_t(a)] = gelu_ref(h[size_t(a)]);
      }
      for (int64_t i = 0; i < d; ++i) {
        double v = 0;
        for (int64_t a = 0; a < f; ++a) v += h[size_t(a)] * at(w2, {e, a, i});
        out[size_t(n * d + i)] += at(gates, {n, j}) * v;
      }
    }
  return from_vector(out, {N, d});
}

// Random routing of N units, k distinct experts each drawn from `allowed`
// (-1 once `allowed` runs out), then each entry replaced by -1 with
// probability p_none.
Ints random_choices(int64_t N, int64_t k, const Ints& allowed, uint64_t seed, double p_none = 0.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Ints ex;
  for (int64_t n = 0; n < N; ++n) {
    Ints pool = allowed;
    std::shuffle(pool.begin(), pool.end(), rng);
    for (int64_t j = 0; j < k; ++j) {
      int64_t e = j < int64_t(pool.size()) ? pool[size_t(j)] : -1;
      ex.push_back(u(rng) < p_none ? -1 : e);
    }
  }
  return ex;
}

Ints all_experts(int64_t E) {
  Ints v;
  for (int64_t e = 0; e < E; ++e) v.push_back(e);
  return v;
}

struct RoutingCase {
  std::string name;
  int64_t N, k, E;
  Ints ex;  // [N, k] row-major
};

std::vector<RoutingCase> routing_cases() {
  std::vector<RoutingCase> cases = {
      {"k = 1, N = 7, E = 3", 7, 1, 3, random_choices(7, 1, all_experts(3), 1)},
      {"k = 2, N = 13, E = 4, expert 2 never chosen", 13, 2, 4, random_choices(13, 2, {0, 1, 3}, 2)},
      {"k = 3, N = 13, E = 5, with -1 entries", 13, 3, 5, random_choices(13, 3, all_experts(5), 3, 0.2)},
      {"k = 2, N = 64, E = 8, with -1 entries", 64, 2, 8, random_choices(64, 2, all_experts(8), 4, 0.1)},
      {"k = 1, N = 9, E = 4, all to expert 3", 9, 1, 4, Ints(9, 3)},
      {"k = 2, N = 1, E = 2", 1, 2, 2, {1, 0}},
      {"k = 2, N = 5, E = 3, every entry -1", 5, 2, 3, Ints(10, -1)},
      {"k = 2, N = 0, E = 3", 0, 2, 3, {}},
      {"k = 2, N = 5, E = 2, a unit names one expert twice", 5, 2, 2, {0, 0, 1, 0, 1, 1, 0, 1, 1, 1}},
      {"k = 4, N = 3, E = 4, every expert for every unit", 3, 4, 4, random_choices(3, 4, all_experts(4), 5)},
  };
  // All first choices to expert 1, the second ones spread over the others.
  RoutingCase one{"k = 2, N = 7, E = 3, all first choices to expert 1", 7, 2, 3, random_choices(7, 2, {0, 2}, 6)};
  for (int64_t n = 0; n < 7; ++n) one.ex[size_t(n * 2)] = 1;
  cases.push_back(one);
  return cases;
}

// Capacities to try on a routing: dropless, tiny, and the usual factors.
Ints capacities_for(const RoutingCase& rc) {
  return {-1, 1, 2, expert_capacity(1.0, rc.N, rc.k, rc.E), expert_capacity(1.25, rc.N, rc.k, rc.E)};
}

// The experts tensor of a case in a few layouts and dtypes: i64, i32, and a
// non-contiguous copy, so make_plan's host read handles each.
Tensor experts_tensor(const RoutingCase& rc, int variant) {
  Tensor t = ids(rc.ex, {rc.N, rc.k});
  if (variant % 3 == 1) return cast(t, DType::i32);
  if (variant % 3 == 2) return noncontiguous(t);
  return t;
}

// What every plan must satisfy, checked from the definitions alone.
void check_invariants(const DispatchPlan& plan, const Ints& ex, int64_t N, int64_t k, int64_t E, int64_t capacity) {
  REQUIRE(plan.units == N);
  REQUIRE(plan.k == k);
  REQUIRE(plan.num_experts == E);
  REQUIRE(int64_t(plan.offsets.size()) == E + 1);
  REQUIRE(int64_t(plan.routed.size()) == E);
  REQUIRE(int64_t(plan.kept.size()) == E);
  REQUIRE(plan.offsets[0] == 0);
  const int64_t S = plan.slots();
  for (int64_t e = 0; e < E; ++e) {
    INFO("expert " << e);
    REQUIRE(plan.offsets[size_t(e)] <= plan.offsets[size_t(e) + 1]);
    REQUIRE(plan.offsets[size_t(e) + 1] - plan.offsets[size_t(e)] == plan.kept[size_t(e)]);
    int64_t named = int64_t(std::count(ex.begin(), ex.end(), e));
    REQUIRE(plan.routed[size_t(e)] == named);
    // Capacity is a limit, and an expert refuses a choice only when full.
    int64_t expect_kept = capacity < 0 ? named : std::min(named, capacity);
    REQUIRE(plan.kept[size_t(e)] == expect_kept);
  }
  int64_t total_routed = 0, total_kept = 0;
  for (int64_t e = 0; e < E; ++e) {
    total_routed += plan.routed[size_t(e)];
    total_kept += plan.kept[size_t(e)];
  }
  REQUIRE(total_kept == S);
  REQUIRE(total_kept + plan.dropped() == total_routed);

  for (const Tensor* t : {&plan.unit_of_slot, &plan.choice_of_slot, &plan.expert_of_slot})
    REQUIRE((t->dtype() == DType::i64 && t->shape() == Shape{S} && t->device() == Device::cpu()));
  REQUIRE(plan.slot_of_choice.dtype() == DType::i64);
  REQUIRE(plan.slot_of_choice.shape() == Shape{N * k});
  Ints unit = ints(plan.unit_of_slot), choice = ints(plan.choice_of_slot), expert = ints(plan.expert_of_slot),
       slot = ints(plan.slot_of_choice);

  // Every slot holds exactly one choice, and that choice points back at it.
  std::vector<int> hits(size_t(S), 0);
  for (int64_t c = 0; c < N * k; ++c) {
    INFO("choice " << c << " (unit " << c / k << ", expert " << ex[size_t(c)] << ")");
    int64_t s = slot[size_t(c)];
    if (ex[size_t(c)] < 0) {
      REQUIRE(s == -1);
      continue;
    }
    REQUIRE(s >= -1);
    REQUIRE(s < S);
    if (s < 0) {
      // Dropped: only a full expert drops.
      REQUIRE(capacity >= 0);
      REQUIRE(plan.kept[size_t(ex[size_t(c)])] == capacity);
      continue;
    }
    ++hits[size_t(s)];
    REQUIRE(unit[size_t(s)] == c / k);
    REQUIRE(choice[size_t(s)] == c);
    REQUIRE(expert[size_t(s)] == ex[size_t(c)]);
    int64_t e = ex[size_t(c)];
    REQUIRE(plan.offsets[size_t(e)] <= s);
    REQUIRE(s < plan.offsets[size_t(e) + 1]);
  }
  for (int64_t s = 0; s < S; ++s) REQUIRE(hits[size_t(s)] == 1);
  // Inside a block, slots follow priority order: (j, n) increasing.
  for (int64_t s = 0; s + 1 < S; ++s) {
    if (expert[size_t(s)] != expert[size_t(s) + 1]) continue;
    int64_t a = choice[size_t(s)], b = choice[size_t(s) + 1];
    INFO("slots " << s << " and " << s + 1 << ": choices " << a << " and " << b);
    REQUIRE(std::make_pair(a % k, a / k) < std::make_pair(b % k, b / k));
  }
}

void require_plan_is(const DispatchPlan& plan, const NaivePlan& p) {
  REQUIRE(plan.offsets == p.offsets);
  REQUIRE(plan.routed == p.routed);
  REQUIRE(plan.kept == p.kept);
  REQUIRE(ints(plan.unit_of_slot) == p.unit_of_slot);
  REQUIRE(ints(plan.choice_of_slot) == p.choice_of_slot);
  REQUIRE(ints(plan.expert_of_slot) == p.expert_of_slot);
  REQUIRE(ints(plan.slot_of_choice) == p.slot_of_choice);
}

// Random gates in [0.1, 1.1): a zero gate would hide a wrong slot.
Tensor random_gates(int64_t N, int64_t k, DType dtype, uint64_t seed) {
  Generator gen(seed);
  return cast(uniform({N, k}, 0.1, 1.1, DType::f64, &gen), dtype);
}

// The hand-built routing of the FCFS tests: N = 4, k = 2, E = 3.
//   unit 0 -> {0, 1}   unit 1 -> {1, 0}   unit 2 -> {0, 2}   unit 3 -> {0, 1}
// Choice c = n * k + j, so choices 0..7 name experts 0 1 1 0 0 2 0 1.
const Ints kHandExperts = {0, 1, 1, 0, 0, 2, 0, 1};

}  // namespace

TEST_CASE("make_plan: hand-built FCFS case with capacity 2", "[moe]") {
  // Priority order: the first choices c0 (u0 -> 0), c2 (u1 -> 1), c4 (u2 -> 0),
  // c6 (u3 -> 0), then the second choices c1 (u0 -> 1), c3 (u1 -> 0),
  // c5 (u2 -> 2), c7 (u3 -> 1). With 2 slots per expert:
  //   expert 0 takes c0, c4; refuses c6 (a first choice, but units 0 and 2
  //            came first) and c3 (a second choice, refused although unit 1
  //            comes before units 2 and 3 whose first choices were kept);
  //   expert 1 takes c2, c1 (unit 1's first choice before unit 0's second);
  //            refuses c7;
  //   expert 2 takes c5.
  for (int variant = 0; variant < 3; ++variant) {
    INFO("variant " << variant);
    Tensor experts = ids(kHandExperts, {4, 2});
    if (variant == 1) experts = cast(experts, DType::i32);
    if (variant == 2) experts = noncontiguous(experts);
    DispatchPlan plan = make_plan(experts, 3, 2);
    REQUIRE(plan.units == 4);
    REQUIRE(plan.k == 2);
    REQUIRE(plan.num_experts == 3);
    REQUIRE(plan.routed == Ints{4, 3, 1});
    REQUIRE(plan.kept == Ints{2, 2, 1});
    REQUIRE(plan.offsets == Ints{0, 2, 4, 5});
    REQUIRE(plan.slots() == 5);
    REQUIRE(plan.dropped() == 3);
    REQUIRE(ints(plan.unit_of_slot) == Ints{0, 2, 1, 0, 2});
    REQUIRE(ints(plan.choice_of_slot) == Ints{0, 4, 2, 1, 5});
    REQUIRE(ints(plan.expert_of_slot) == Ints{0, 0, 1, 1, 2});
    REQUIRE(ints(plan.slot_of_choice) == Ints{0, 3, 2, -1, 1, 4, -1, -1});
  }
}

TEST_CASE("make_plan: the hand-built routing dropless, and with capacity 1", "[moe]") {
  // No limit: every choice kept; each block still in priority order.
  //   expert 0: c0 (u0), c4 (u2), c6 (u3), c3 (u1)
  //   expert 1: c2 (u1), c1 (u0), c7 (u3)
  //   expert 2: c5 (u2)
  DispatchPlan plan = make_plan(ids(kHandExperts, {4, 2}), 3);
  REQUIRE(plan.routed == Ints{4, 3, 1});
  REQUIRE(plan.kept == Ints{4, 3, 1});
  REQUIRE(plan.offsets == Ints{0, 4, 7, 8});
  REQUIRE(plan.dropped() == 0);
  REQUIRE(ints(plan.unit_of_slot) == Ints{0, 2, 3, 1, 1, 0, 3, 2});
  REQUIRE(ints(plan.choice_of_slot) == Ints{0, 4, 6, 3, 2, 1, 7, 5});
  REQUIRE(ints(plan.expert_of_slot) == Ints{0, 0, 0, 0, 1, 1, 1, 2});
  REQUIRE(ints(plan.slot_of_choice) == Ints{0, 5, 4, 3, 1, 7, 2, 6});
  // A capacity at least as large as any expert's load changes nothing.
  DispatchPlan roomy = make_plan(ids(kHandExperts, {4, 2}), 3, 4);
  REQUIRE(roomy.offsets == plan.offsets);
  REQUIRE(ints(roomy.slot_of_choice) == ints(plan.slot_of_choice));
  // Capacity 1: only the first arrival of each expert: c0, c2, c5.
  DispatchPlan tight = make_plan(ids(kHandExperts, {4, 2}), 3, 1);
  REQUIRE(tight.kept == Ints{1, 1, 1});
  REQUIRE(tight.offsets == Ints{0, 1, 2, 3});
  REQUIRE(tight.dropped() == 5);
  REQUIRE(ints(tight.unit_of_slot) == Ints{0, 1, 2});
  REQUIRE(ints(tight.slot_of_choice) == Ints{0, -1, 1, -1, -1, 2, -1, -1});
}

TEST_CASE("dispatch and combine: hand-built values", "[moe]") {
  // The capacity-2 plan above: slots hold units 0 2 1 0 2.
  DispatchPlan plan = make_plan(ids(kHandExperts, {4, 2}), 3, 2);
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    // x[n] = n + 1 (d = 1): dispatch gives the slots' units plus one.
    Tensor x = values_tensor({1, 2, 3, 4}, {4, 1}, dtype);
    Tensor xs = dispatch(x, plan);
    REQUIRE(xs.dtype() == dtype);
    REQUIRE(values(xs) == std::vector<double>{1, 3, 2, 1, 3});
    // y[s] = 10 (s + 1). Unit 0 keeps both choices (slots 0 and 3), unit 1
    // its first (slot 2), unit 2 both (slots 1 and 4), unit 3 none:
    //   out[0] = 0.5 * 10 + 0.25 * 40 = 15
    //   out[1] = 1 * 30                = 30  (its gate 2 is dropped)
    //   out[2] = 3 * 20 + 4 * 50       = 260
    //   out[3] = 0                           (gates 5 and 6 dropped)
    Tensor y = values_tensor({10, 20, 30, 40, 50}, {5, 1}, dtype);
    Tensor gates = values_tensor({0.5, 0.25, 1, 2, 3, 4, 5, 6}, {4, 2}, dtype);
    Tensor out = combine(y, gates, plan);
    REQUIRE(out.dtype() == dtype);
    REQUIRE(out.shape() == Shape{4, 1});
    REQUIRE(values(out) == std::vector<double>{15, 30, 260, 0});
  }
}

TEST_CASE("make_plan: random routings match the naive FCFS plan and keep the invariants", "[moe]") {
  int variant = 0;
  for (const RoutingCase& rc : routing_cases()) {
    for (int64_t capacity : capacities_for(rc)) {
      INFO(rc.name << ", capacity " << capacity << ", layout variant " << variant % 3);
      Tensor experts = experts_tensor(rc, variant++);
      DispatchPlan plan = make_plan(experts, rc.E, capacity);
      check_invariants(plan, rc.ex, rc.N, rc.k, rc.E, capacity);
      require_plan_is(plan, naive_plan(rc.ex, rc.N, rc.k, rc.E, capacity));
      // The GPU's way (sorts and counts as tensor ops), run here on the CPU.
      require_plan_is(make_plan_with_ops(experts, rc.E, capacity), naive_plan(rc.ex, rc.N, rc.k, rc.E, capacity));
    }
  }
}

TEST_CASE("dispatch and combine: random routings match per-token loops", "[moe]") {
  uint64_t seed = 300;
  int variant = 0;
  for (const RoutingCase& rc : routing_cases()) {
    for (int64_t capacity : capacities_for(rc)) {
      for (DType dtype : {DType::f32, DType::f64}) {
        INFO(rc.name << ", capacity " << capacity << ", dtype " << dtype);
        const int64_t d = 3;
        DispatchPlan plan = make_plan(experts_tensor(rc, variant++), rc.E, capacity);
        NaivePlan p = naive_plan(rc.ex, rc.N, rc.k, rc.E, capacity);
        const double tol = dtype == DType::f32 ? 1e-5 : 1e-13;

        Tensor x = random_tensor({rc.N, d}, dtype, ++seed);
        Tensor xs = dispatch(x, plan);
        REQUIRE(xs.dtype() == dtype);
        require_close(xs, dispatch_ref(x, p), 0, 0);  // a copy: exact
        // Non-contiguous x gives the same rows.
        require_close(dispatch(noncontiguous(x), plan), dispatch_ref(x, p), 0, 0);

        Tensor y = random_tensor({plan.slots(), d}, dtype, ++seed);
        Tensor gates = random_gates(rc.N, rc.k, dtype, ++seed);
        Tensor out = combine(y, gates, plan);
        REQUIRE(out.dtype() == dtype);
        require_close(out, combine_ref(y, gates, plan), tol, tol);
        require_close(combine(noncontiguous(y), noncontiguous(gates), plan), combine_ref(y, gates, plan), tol, tol);
        // The choices that found a slot by scanning are exactly the naive
        // plan's accepted ones.
        for (int64_t c = 0; c < rc.N * rc.k; ++c) REQUIRE((find_slot(plan, c) >= 0) == bool(p.accepted[size_t(c)]));
      }
    }
  }
}

TEST_CASE("moe pipeline: dispatch, grouped_matmul, gelu, grouped_matmul, combine match a per-token FFN loop", "[moe]") {
  uint64_t seed = 500;
  for (const RoutingCase& rc : routing_cases()) {
    for (int64_t capacity : {int64_t(-1), expert_capacity(1.0, rc.N, rc.k, rc.E)}) {
      for (DType dtype : {DType::f32, DType::f64}) {
        INFO(rc.name << ", capacity " << capacity << ", dtype " << dtype);
        const int64_t d = 4, f = 6;
        Tensor x = random_tensor({rc.N, d}, dtype, ++seed);
        Tensor w1 = mul(random_tensor({rc.E, d, f}, dtype, ++seed), 0.5);
        Tensor w2 = mul(random_tensor({rc.E, f, d}, dtype, ++seed), 0.5);
        Tensor gates = random_gates(rc.N, rc.k, dtype, ++seed);
        DispatchPlan plan = make_plan(ids(rc.ex, {rc.N, rc.k}), rc.E, capacity);
        Tensor h = gelu(grouped_matmul(dispatch(x, plan), w1, plan.offsets));
        Tensor out = combine(grouped_matmul(h, w2, plan.offsets), gates, plan);
        REQUIRE(out.shape() == Shape{rc.N, d});
        Tensor expected = moe_ffn_ref(x, w1, w2, rc.ex, gates, naive_plan(rc.ex, rc.N, rc.k, rc.E, capacity).accepted);
        if (dtype == DType::f32)
          require_close(out, expected, 1e-4, 1e-5);
        else
          require_close(out, expected, 1e-11, 1e-12);
      }
    }
  }
}

TEST_CASE("combine and dispatch: gradcheck", "[moe]") {
  // Dropless, with drops, with -1 entries, and a unit naming one expert twice.
  struct GradCase {
    const char* name;
    Ints ex;
    int64_t N, k, E, capacity;
  };
  std::vector<GradCase> cases = {
      {"hand-built, dropless", kHandExperts, 4, 2, 3, -1},
      {"hand-built, capacity 2 (3 dropped)", kHandExperts, 4, 2, 3, 2},
      {"k = 3 with -1 entries, capacity 3", random_choices(7, 3, all_experts(4), 40, 0.2), 7, 3, 4, 3},
      {"k = 2, a unit names one expert twice, capacity 4", {0, 0, 1, 0, 1, 1, 0, 1, 1, 1}, 5, 2, 2, 4},
      {"k = 1", {2, 0, 2, 2, 1}, 5, 1, 3, -1},
  };
  uint64_t seed = 600;
  for (const GradCase& gc : cases) {
    INFO(gc.name);
    DispatchPlan plan = make_plan(ids(gc.ex, {gc.N, gc.k}), gc.E, gc.capacity);
    const int64_t d = 3;
    require_gradcheck([&plan](const std::vector<Tensor>& in) { return combine(in[0], in[1], plan); },
                      {grad_leaf({plan.slots(), d}, ++seed), grad_leaf({gc.N, gc.k}, ++seed)});
    // Each unit appears in up to k slots, so dispatch's backward must add.
    require_gradcheck([&plan](const std::vector<Tensor>& in) { return dispatch(in[0], plan); },
                      {grad_leaf({gc.N, d}, ++seed)});
    // The expert FFN end to end, in x, both weights and the gates.
    const int64_t f = 2;
    require_gradcheck(
        [&plan](const std::vector<Tensor>& in) {
          Tensor h = gelu(grouped_matmul(dispatch(in[0], plan), in[1], plan.offsets));
          return combine(grouped_matmul(h, in[2], plan.offsets), in[3], plan);
        },
        {grad_leaf({gc.N, d}, ++seed), grad_leaf({gc.E, d, f}, ++seed), grad_leaf({gc.E, f, d}, ++seed),
         grad_leaf({gc.N, gc.k}, ++seed)});
  }
}

TEST_CASE("combine: dropped and absent choices get exactly zero gate gradient", "[moe]") {
  // Hand-built routing with unit 1's choice 1 set to -1, capacity 2:
  // choices 0..7 name 0 1 1 -1 0 2 0 1; expert 0 takes c0, c4 and drops c6;
  // expert 1 takes c2, c1 and drops c7; expert 2 takes c5.
  Ints ex = kHandExperts;
  ex[3] = -1;
  DispatchPlan plan = make_plan(ids(ex, {4, 2}), 3, 2);
  REQUIRE(ints(plan.slot_of_choice) == Ints{0, 3, 2, -1, 1, 4, -1, -1});
  const int64_t d = 3;
  Tensor y = grad_leaf({plan.slots(), d}, 70);
  Tensor gates = grad_leaf({4, 2}, 71);
  Tensor dout = random_tensor({4, d}, DType::f64, 72);
  combine(y, gates, plan).backward(dout);
  Tensor gg = gates.grad(), gy = y.grad();
  REQUIRE(gg.shape() == gates.shape());
  Ints slot = ints(plan.slot_of_choice), unit = ints(plan.unit_of_slot), choice = ints(plan.choice_of_slot);
  for (int64_t c = 0; c < 8; ++c) {
    int64_t n = c / 2, j = c % 2, s = slot[size_t(c)];
    INFO("choice " << c);
    if (s < 0) {
      REQUIRE(at(gg, {n, j}) == 0.0);  // exactly, not merely small
      continue;
    }
    // dgates[n, j] = <y[s], dout[n]>.
    double dot = 0;
    for (int64_t i = 0; i < d; ++i) dot += at(y, {s, i}) * at(dout, {n, i});
    REQUIRE(at(gg, {n, j}) == Approx(dot).epsilon(1e-12).margin(1e-12));
  }
  // dy[s] = gates[n, j] * dout[n] for the choice (n, j) behind slot s.
  for (int64_t s = 0; s < plan.slots(); ++s)
    for (int64_t i = 0; i < d; ++i) {
      int64_t c = choice[size_t(s)];
      REQUIRE(at(gy, {s, i}) == Approx(at(gates, {c / 2, c % 2}) * at(dout, {unit[size_t(s)], i})).epsilon(1e-12));
    }
}

TEST_CASE("expert_capacity: ceil of factor k N / E, at least 1, factor 0 means no limit", "[moe]") {
  REQUIRE(expert_capacity(1.0, 8, 2, 4) == 4);     // 16 / 4
  REQUIRE(expert_capacity(1.25, 13, 2, 4) == 9);   // ceil(32.5 / 4 = 8.125)
  REQUIRE(expert_capacity(2.0, 7, 1, 3) == 5);     // ceil(14 / 3 = 4.67)
  REQUIRE(expert_capacity(1.0, 7, 1, 7) == 1);     // exactly 1
  REQUIRE(expert_capacity(0.01, 4, 1, 8) == 1);    // ceil(0.005) = 1
  REQUIRE(expert_capacity(0.5, 0, 2, 4) == 1);     // no units: still 1
  REQUIRE(expert_capacity(3.0, 10, 2, 1) == 60);   // one expert
  REQUIRE(expert_capacity(0.0, 10, 2, 4) == -1);   // dropless
  REQUIRE(expert_capacity(0.0, 0, 1, 1) == -1);
  REQUIRE(expert_capacity(1.1, 100, 2, 4) == 55);  // 1.1 * 200 / 4 is 55.00000000000001 in doubles
}

TEST_CASE("load_balancing_loss: hand-computed, 1 when uniform, E when all on one expert", "[moe]") {
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-14;
    // N = 4, E = 2. First choices 0 0 1 0: f = (3/4, 1/4).
    // P = column means = ((0.9 + 0.6 + 0.3 + 0.8) / 4, (0.1 + 0.4 + 0.7 + 0.2) / 4) = (0.65, 0.35).
    // loss = E * sum f_e P_e = 2 * (0.75 * 0.65 + 0.25 * 0.35) = 2 * 0.575 = 1.15.
    Tensor probs = values_tensor({0.9, 0.1, 0.6, 0.4, 0.3, 0.7, 0.8, 0.2}, {4, 2}, dtype);
    Tensor loss = load_balancing_loss(probs, ids({0, 0, 1, 0}, {4}));
    REQUIRE(loss.shape() == Shape{});
    REQUIRE(loss.dtype() == dtype);
    REQUIRE(at(loss, {}) == Approx(1.15).epsilon(tol));
    // The same with i32 ids and the first choices read from a column of [N, k].
    Tensor experts = ids({0, 1, 0, 1, 1, 0, 0, 1}, {4, 2}, DType::i32);
    REQUIRE(at(load_balancing_loss(probs, experts.select(1, 0)), {}) == Approx(1.15).epsilon(tol));
    // N = 3, E = 3: f = (1/3, 0, 2/3), P = ((0.2 + 0.5 + 0.1) / 3, (0.3 + 0.3 + 0.1) / 3, (0.5 + 0.2 + 0.8) / 3)
    //   = (0.8, 0.7, 1.5) / 3; loss = 3 * (1/3 * 0.8 + 0 + 2/3 * 1.5) / 3 = (0.8 + 3.0) / 3 = 1.2666...
    Tensor p3 = values_tensor({0.2, 0.3, 0.5, 0.5, 0.3, 0.2, 0.1, 0.1, 0.8}, {3, 3}, dtype);
    REQUIRE(at(load_balancing_loss(p3, ids({2, 0, 2}, {3})), {}) == Approx(3.8 / 3).epsilon(tol));
    // Uniform probabilities and balanced first choices: exactly 1.
    Tensor uniform3 = full({6, 3}, 1.0 / 3, dtype);
    REQUIRE(at(load_balancing_loss(uniform3, ids({0, 1, 2, 2, 1, 0}, {6})), {}) == Approx(1.0).epsilon(tol));
    // Uniform probabilities give 1 whatever the first choices.
    REQUIRE(at(load_balancing_loss(uniform3, ids({1, 1, 1, 1, 1, 2}, {6})), {}) == Approx(1.0).epsilon(tol));
    // Every unit on expert 1 with all its probability: E.
    Tensor onehot = values_tensor({0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}, {3, 4}, dtype);
    REQUIRE(at(load_balancing_loss(onehot, ids({1, 1, 1}, {3})), {}) == Approx(4.0).epsilon(tol));
  }
  // Gradient flows to probs only (first choices are integer ids).
  Tensor first = ids({0, 2, 2, 1, 0}, {5});
  require_gradcheck([first](const std::vector<Tensor>& in) { return load_balancing_loss(in[0], first); },
                    {grad_leaf({5, 3}, 80)});
  require_gradcheck(
      [first](const std::vector<Tensor>& in) { return load_balancing_loss(softmax(in[0].t(), -1), first); },
      {grad_leaf({3, 5}, 81)});
}

TEST_CASE("router_z_loss: hand-computed, stable for large logits", "[moe]") {
  const double ln2 = std::log(2.0);
  for (DType dtype : {DType::f32, DType::f64}) {
    INFO("dtype " << dtype);
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-14;
    // Rows (0, 0) and (ln 3, 0): logsumexp = ln 2 and ln 4 = 2 ln 2;
    // mean of squares = (ln2^2 + 4 ln2^2) / 2 = 2.5 ln2^2.
    Tensor logits = values_tensor({0, 0, std::log(3.0), 0}, {2, 2}, dtype);
    Tensor z = router_z_loss(logits);
    REQUIRE(z.shape() == Shape{});
    REQUIRE(z.dtype() == dtype);
    REQUIRE(at(z, {}) == Approx(2.5 * ln2 * ln2).epsilon(tol));
    // One row of three equal logits c: (c + ln 3)^2. At c = 1000 a naive
    // log(sum(exp)) overflows.
    REQUIRE(at(router_z_loss(full({1, 3}, 0.0, dtype)), {}) == Approx(std::pow(std::log(3.0), 2)).epsilon(tol));
    REQUIRE(at(router_z_loss(full({1, 3}, 1000.0, dtype)), {}) ==
            Approx(std::pow(1000.0 + std::log(3.0), 2)).epsilon(tol));
    REQUIRE(at(router_z_loss(full({2, 3}, -1000.0, dtype)), {}) ==
            Approx(std::pow(-1000.0 + std::log(3.0), 2)).epsilon(tol));
  }
  require_gradcheck([](const std::vector<Tensor>& in) { return router_z_loss(in[0]); }, {grad_leaf({5, 4}, 90)});
  require_gradcheck([](const std::vector<Tensor>& in) { return router_z_loss(in[0].t()); }, {grad_leaf({3, 6}, 91)});
}

TEST_CASE("make_plan, dispatch, combine, expert_capacity: bad inputs throw naming the op", "[moe]") {
  // make_plan: ids outside [0, E) other than -1, non-integer or wrongly
  // shaped experts, no experts.
  require_error([] { make_plan(ids({0, 1, 3, 0}, {2, 2}), 3); }, "make_plan");
  require_error([] { make_plan(ids({0, 1, 2, -2}, {2, 2}), 3); }, "make_plan");
  require_error([] { make_plan(ids({0, 1, 7, 0}, {2, 2}, DType::i32), 3, 1); }, "make_plan");
  require_error([] { make_plan(values_tensor({0, 1, 1, 0}, {2, 2}, DType::f32), 3); }, "make_plan");
  require_error([] { make_plan(values_tensor({0, 1, 1, 0}, {2, 2}, DType::f64), 3); }, "make_plan");
  require_error([] { make_plan(values_tensor({0, 1, 1, 0}, {2, 2}, DType::b8), 3); }, "make_plan");
  require_error([] { make_plan(ids({0, 1, 2}, {3}), 3); }, "make_plan");
  require_error([] { make_plan(ids({0, 1, 2, 0}, {1, 2, 2}), 3); }, "make_plan");
  require_error([] { make_plan(ids({2}, {}), 3); }, "make_plan");
  require_error([] { make_plan(ids({0, 0}, {1, 2}), 0); }, "make_plan");
  require_error([] { make_plan(ids({0, 0}, {1, 2}), -1); }, "make_plan");
  // The tensor-op planner refuses the same ids, naming the offender.
  CHECK_THROWS_WITH(make_plan_with_ops(ids({0, 1, 3, 0}, {2, 2}), 3), Catch::Contains("make_plan: expert id 3"));
  CHECK_THROWS_WITH(make_plan_with_ops(ids({0, 1, 2, -2}, {2, 2}), 3), Catch::Contains("make_plan: expert id -2"));
  require_error([] { make_plan_with_ops(values_tensor({0, 1, 1, 0}, {2, 2}, DType::f32), 3); }, "make_plan");
  require_error([] { make_plan_with_ops(ids({0, 0}, {1, 2}), 0); }, "make_plan");

  DispatchPlan plan = make_plan(ids(kHandExperts, {4, 2}), 3, 2);  // N = 4, k = 2, S = 5
  Tensor y = random_tensor({5, 3}, DType::f32, 1);
  Tensor gates = random_tensor({4, 2}, DType::f32, 2);
  REQUIRE(combine(y, gates, plan).shape() == Shape{4, 3});
  // combine: y rows != S, y not 2-D, gates not [N, k], dtypes differ.
  require_error([&] { combine(random_tensor({4, 3}, DType::f32, 3), gates, plan); }, "combine");
  require_error([&] { combine(random_tensor({6, 3}, DType::f32, 3), gates, plan); }, "combine");
  require_error([&] { combine(random_tensor({5}, DType::f32, 3), gates, plan); }, "combine");
  require_error([&] { combine(random_tensor({5, 3, 1}, DType::f32, 3), gates, plan); }, "combine");
  require_error([&] { combine(y, random_tensor({4, 3}, DType::f32, 4), plan); }, "combine");
  require_error([&] { combine(y, random_tensor({5, 2}, DType::f32, 4), plan); }, "combine");
  require_error([&] { combine(y, random_tensor({2, 4}, DType::f32, 4), plan); }, "combine");
  require_error([&] { combine(y, random_tensor({8}, DType::f32, 4), plan); }, "combine");
  require_error([&] { combine(y, gates.to(DType::f64), plan); }, "combine");
  require_error([&] { combine(y.to(DType::f64), gates, plan); }, "combine");
  // dispatch: x rows != N, x not 2-D.
  require_error([&] { dispatch(random_tensor({5, 3}, DType::f32, 5), plan); }, "dispatch");
  require_error([&] { dispatch(random_tensor({4}, DType::f32, 5), plan); }, "dispatch");
  require_error([&] { dispatch(random_tensor({4, 3, 2}, DType::f32, 5), plan); }, "dispatch");
  // expert_capacity: negative, NaN or infinite factor, no experts, k = 0.
  require_error([] { expert_capacity(-0.5, 8, 2, 4); }, "expert_capacity");
  require_error([] { expert_capacity(std::numeric_limits<double>::quiet_NaN(), 8, 2, 4); }, "expert_capacity");
  require_error([] { expert_capacity(std::numeric_limits<double>::infinity(), 8, 2, 4); }, "expert_capacity");
  require_error([] { expert_capacity(1.0, 8, 2, 0); }, "expert_capacity");
  require_error([] { expert_capacity(1.0, 8, 0, 4); }, "expert_capacity");
  require_error([] { expert_capacity(1.0, -1, 2, 4); }, "expert_capacity");
}

TEST_CASE("load_balancing_loss: bad inputs throw naming the op", "[moe]") {
  Tensor probs = full({4, 2}, 0.5, DType::f32);
  require_error([&] { load_balancing_loss(probs, ids({0, 1, 0}, {3})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(probs, ids({0, 1, 0, 1}, {4, 1})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(probs.reshape({8}), ids({0, 1, 0, 1}, {4})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(probs, ids({0, 1, 2, 1}, {4})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(zeros({0, 2}, DType::f32), ids({}, {0})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(probs, ids({0, -1, 0, 1}, {4})); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(probs, full({4}, 0.0, DType::f32)); }, "load_balancing_loss");
  require_error([&] { load_balancing_loss(full({4, 2}, 1.0, DType::i64), ids({0, 1, 0, 1}, {4})); },
                "load_balancing_loss");
}

TEST_CASE("router_z_loss: bad inputs throw naming the op", "[moe]") {
  require_error([&] { router_z_loss(full({2, 2, 1}, 1.0, DType::f32)); }, "router_z_loss");
  require_error([&] { router_z_loss(full({4}, 1.0, DType::f32)); }, "router_z_loss");
  require_error([&] { router_z_loss(zeros({0, 3}, DType::f32)); }, "router_z_loss");
  require_error([&] { router_z_loss(full({2, 2}, 1.0, DType::i64)); }, "router_z_loss");
}
