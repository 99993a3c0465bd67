// Routing metrics of MoE layers: how many units each expert got, how many
// were dropped, how sure the router was, how even the load was, and the
// MH-MoE paper's "expert activation".
//
// A RoutingStats covers one layer over one or more forward calls (merge()
// adds calls up). Units are what the router routes: tokens for SMoE,
// sub-tokens for MH-MoE (h per token).
//
// Expert activation (MH-MoE paper, Fig. 1): the share of (layer, expert)
// cells whose selection frequency exceeds a threshold. The paper gives
// neither the threshold nor code, so both are explicit here:
//   per_unit:  frequency = choices of e / units   (sums to k over experts)
//   per_token: frequency = choices of e / tokens  (h times larger for MH-MoE,
//              which is how counting sub-tokens against tokens inflates it)
#pragma once

#include <cstdint>
#include <vector>

namespace moegrad {

struct DispatchPlan;

struct RoutingStats {
  int64_t calls = 0;            // forward calls merged in
  int64_t tokens = 0;           // tokens seen
  int64_t units = 0;            // routing units seen (tokens * h for MH-MoE)
  std::vector<int64_t> routed;  // per expert: choices naming it, before dropping
  std::vector<int64_t> kept;    // per expert: choices it processed
  double entropy_sum = 0;       // sum over units of the router's entropy (nats); 0 without a router

  // The stats of one forward call.
  static RoutingStats from_plan(const DispatchPlan& plan, int64_t tokens, double entropy_sum);
  void merge(const RoutingStats& other);  // expert counts must match (or this be empty)

  int64_t num_experts() const { return int64_t(routed.size()); }
  double dropped_fraction() const;  // choices dropped / choices made
  double mean_entropy() const;      // per unit, nats
  double load_imbalance() const;    // max / mean of routed choices per expert (1 = perfectly even)
  enum class Norm { per_unit, per_token };
  std::vector<double> selection_frequency(Norm norm) const;
};

// Share of (layer, expert) cells with selection frequency > threshold, over
// every layer given.
double expert_activation(const std::vector<RoutingStats>& layers, double threshold, RoutingStats::Norm norm);

}  // namespace moegrad
