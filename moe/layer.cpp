#include "moe/layer.h"

#include "core/elementwise.h"
#include "core/factory.h"

namespace moegrad {

namespace {
void collect(const Module& m, std::vector<std::shared_ptr<MoeLayer>>& out) {
  for (const auto& [name, child] : m.children()) {
    if (auto layer = std::dynamic_pointer_cast<MoeLayer>(child)) {
      out.push_back(layer);
    } else {
      collect(*child, out);
    }
  }
}
}  // namespace

std::vector<std::shared_ptr<MoeLayer>> moe_layers(const Module& model) {
  std::vector<std::shared_ptr<MoeLayer>> out;
  collect(model, out);
  return out;
}

Tensor total_aux_loss(const Module& model) {
  Tensor total;
  for (const auto& layer : moe_layers(model)) {
    if (!layer->aux_loss().defined()) continue;
    total = total.defined() ? add(total, layer->aux_loss()) : layer->aux_loss();
  }
  if (total.defined()) return total;
  std::vector<Tensor> params = model.parameters();
  return params.empty() ? scalar_tensor(0) : scalar_tensor(0, params[0].dtype(), params[0].device());
}

std::vector<RoutingStats> routing_stats(const Module& model) {
  std::vector<RoutingStats> out;
  for (const auto& layer : moe_layers(model)) out.push_back(layer->last_stats());
  return out;
}

FfnFactory moe_every(int64_t n, FfnFactory dense, FfnFactory moe, int64_t offset) {
  MOEGRAD_CHECK(n >= 1, "moe_every", "n must be >= 1, got ", n);
  if (offset < 0) offset = n - 1;
  MOEGRAD_CHECK(offset < n, "moe_every", "offset must be in [0, n = ", n, "), got ", offset);
  MOEGRAD_CHECK(dense && moe, "moe_every", "both factories must be set");
  return [n, offset, dense, moe](int64_t layer) { return is_moe_block(n, layer, offset) ? moe(layer) : dense(layer); };
}

bool is_moe_block(int64_t n, int64_t layer, int64_t offset) {
  MOEGRAD_CHECK(n >= 1, "moe_every", "n must be >= 1, got ", n);
  return layer % n == (offset < 0 ? n - 1 : offset);
}

}  // namespace moegrad
