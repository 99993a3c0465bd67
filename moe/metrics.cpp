#include "moe/metrics.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "moe/dispatch.h"

namespace moegrad {

RoutingStats RoutingStats::from_plan(const DispatchPlan& plan, int64_t tokens, double entropy_sum) {
  RoutingStats s;
  s.calls = 1;
  s.tokens = tokens;
  s.units = plan.units;
  s.routed = plan.routed;
  s.kept = plan.kept;
  s.entropy_sum = entropy_sum;
  return s;
}

void RoutingStats::merge(const RoutingStats& o) {
  if (calls == 0) {
    *this = o;
    return;
  }
  if (o.calls == 0) return;
  MOEGRAD_CHECK(o.num_experts() == num_experts(), "RoutingStats::merge", "stats for ", o.num_experts(),
                " experts cannot merge into stats for ", num_experts());
  calls += o.calls;
  tokens += o.tokens;
  units += o.units;
  for (size_t e = 0; e < routed.size(); ++e) {
    routed[e] += o.routed[e];
    kept[e] += o.kept[e];
  }
  entropy_sum += o.entropy_sum;
}

double RoutingStats::dropped_fraction() const {
  int64_t made = std::accumulate(routed.begin(), routed.end(), int64_t(0));
  int64_t done = std::accumulate(kept.begin(), kept.end(), int64_t(0));
  return made == 0 ? 0.0 : double(made - done) / double(made);
}

double RoutingStats::mean_entropy() const { return units == 0 ? 0.0 : entropy_sum / double(units); }

double RoutingStats::load_imbalance() const {
  if (routed.empty()) return 0.0;
  int64_t total = std::accumulate(routed.begin(), routed.end(), int64_t(0));
  if (total == 0) return 0.0;
  double mean = double(total) / double(routed.size());
  return double(*std::max_element(routed.begin(), routed.end())) / mean;
}

std::vector<double> RoutingStats::selection_frequency(Norm norm) const {
  int64_t denom = norm == Norm::per_unit ? units : tokens;
  std::vector<double> f(routed.size(), 0.0);
  for (size_t e = 0; e < routed.size() && denom > 0; ++e) f[e] = double(routed[e]) / double(denom);
  return f;
}

double expert_activation(const std::vector<RoutingStats>& layers, double threshold, RoutingStats::Norm norm) {
  int64_t cells = 0, active = 0;
  for (const RoutingStats& s : layers)
    for (double f : s.selection_frequency(norm)) {
      ++cells;
      active += f > threshold;
    }
  return cells == 0 ? 0.0 : double(active) / double(cells);
}

}  // namespace moegrad
