// Dispatch and combine: how a MoE layer moves routing units (tokens, or
// MH-MoE's sub-tokens) to their experts and back, as a permutation.
//
// The router picks, for each of N units, k experts ("choices"). make_plan
// sorts the N*k choices by expert with a stable counting sort, so that each
// expert's units form one contiguous block of "slots":
//
//   choices  unit 0 -> {2, 0}, unit 1 -> {0, 1}, unit 2 -> {2, 1}   (k = 2)
//   slots    [ 0: unit 1 | 1: unit 0 | 2: unit 1 | 3: unit 2 | 4: unit 0 | 5: unit 2 ]
//              expert 0    expert 0    expert 1    expert 1    expert 2    expert 2
//
// (Inside a block, slots follow the priority order described under Capacity
// below: unit 1 chose expert 0 first, unit 0 only second.)
//
// Then
//   dispatch(x, plan)       gathers the units into slot order    [N, d] -> [S, d]
//   grouped_matmul(.., w)   runs every expert on its block       [S, d] -> [S, f] (one GEMM per expert)
//   combine(y, gates, plan) adds each slot's output, times its gate, back into its unit.
// No [N x E] mask is ever built, and autograd sees a handful of big ops.
//
// Capacity. An expert takes at most `capacity` slots; the rest of its
// choices are dropped (their unit gets nothing from that expert, and the
// block's residual connection carries it). Slots are handed out first come,
// first served in the order GShard and torchscale use: every unit's first
// choice in unit order, then every unit's second choice, and so on. So a
// first choice is never dropped to make room for a second one.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace moegrad {

struct DispatchPlan {
  int64_t units = 0;        // N
  int64_t k = 0;            // choices per unit
  int64_t num_experts = 0;  // E
  // Expert e's slots are [offsets[e], offsets[e+1]); offsets.back() = S.
  std::vector<int64_t> offsets;
  // Per expert: choices that named it (before dropping) and slots it got.
  std::vector<int64_t> routed, kept;
  // i64 tensors on the units' device:
  Tensor unit_of_slot;    // [S]: the unit whose features fill each slot
  Tensor choice_of_slot;  // [S]: the choice (row n*k + j of the router's [N, k] output) behind each slot
  Tensor expert_of_slot;  // [S]
  Tensor slot_of_choice;  // [N*k]: the slot of each choice, -1 if dropped or not made

  int64_t slots() const { return offsets.empty() ? 0 : offsets.back(); }
  int64_t dropped() const;  // choices made but refused for capacity
};

// The slots an expert gets for a capacity factor: ceil(factor * k * N / E),
// at least 1; a factor of 0 means no limit (dropless) and gives -1.
int64_t expert_capacity(double capacity_factor, int64_t units, int64_t k, int64_t num_experts);

// Plans the dispatch of experts [N, k] (i32 or i64): each
// entry is an expert id in [0, E), or -1 for "no choice" (e.g. a second
// expert the router decided not to use). capacity < 0 means no limit (0 drops every choice).
// The plan's tensors go to `device`. Choices already on that (non-CPU) device
// are planned there, by make_plan_with_ops.
DispatchPlan make_plan(const Tensor& experts, int64_t num_experts, int64_t capacity = -1,
                       Device device = Device::cpu());

// make_plan for choices on a GPU: the same plan, built with tensor ops on
// their device (stable sorts instead of the host's counting sort), so that the
// choices themselves never cross to the host; the E + 1 counts do. Runs on
// any device; the tests check it against make_plan on the CPU.
DispatchPlan make_plan_with_ops(const Tensor& experts, int64_t num_experts, int64_t capacity = -1);

// x [N, d] -> [S, d]: row s is x[unit_of_slot[s]]. (index_select; its backward
// adds each slot's gradient back into its unit.)
Tensor dispatch(const Tensor& x, const DispatchPlan& plan);

// y [S, d], gates [N, k] -> [N, d]: out[n] = sum over n's kept choices j of
// gates[n, j] * y[slot of (n, j)]. Dropped choices add nothing; a unit with
// no kept choice gets zeros. Deterministic: the same bits for any thread
// count. Differentiable in y and gates:
//   dy[s]          = gates[n, j] * dout[n]         (n, j the choice of slot s)
//   dgates[n, j]   = <y[s], dout[n]>               (0 for dropped choices)
Tensor combine(const Tensor& y, const Tensor& gates, const DispatchPlan& plan);

}  // namespace moegrad
