// An MH-MoE layer (moe/mhmoe.h) inside a model of your own, trained for a few
// steps, with its routing statistics printed as it learns.
//
// The task is made for experts: every input comes from one of four clusters,
// and each cluster maps inputs to targets by its own function. The printout
// shows which experts the sub-tokens of each cluster go to. Exits with status
// 1 if the loss did not fall to half its first value.
#include <cstdio>
#include <memory>
#include <vector>

#include "core/elementwise.h"  // add, tanh
#include "core/factory.h"      // randn, from_vector
#include "core/indexing.h"     // index_select
#include "core/matmul.h"
#include "moe/mhmoe.h"
#include "nn/linear.h"
#include "nn/loss.h"           // mse_loss
#include "nn/optim.h"          // AdamW

using namespace moegrad;

constexpr int64_t kClusters = 4, kIn = 16, kDim = 32, kTokens = 256;
constexpr int kSteps = 150;

// Linear -> x + MHMoE(x) -> Linear. The MoE layer is an ordinary registered
// submodule: parameters(), state_dict() and total_aux_loss() find it.
struct Model : Module {
  std::shared_ptr<Linear> embed, head;
  std::shared_ptr<MHMoE> moe;

  explicit Model(const MoEConfig& moe_config)
      : embed(register_module("embed", std::make_shared<Linear>(kIn, kDim))),
        head(register_module("head", std::make_shared<Linear>(kDim, kIn))),
        moe(register_module("moe", std::make_shared<MHMoE>(moe_config))) {}

  Tensor forward(const Tensor& x) const {  // [N, kIn] -> [N, kIn]
    Tensor h = embed->forward(x);
    return head->forward(add(h, moe->forward(h)));  // the residual is the caller's, as in a transformer block
  }
};

struct Dataset {
  Tensor x, y;                   // f32 [N, kIn]
  std::vector<int64_t> cluster;  // of each token
};

// Token i belongs to cluster i % kClusters: x = center + noise, y = tanh(x A_c).
Dataset make_data(Generator& gen) {
  Tensor centers = mul(randn({kClusters, kIn}, DType::f32, &gen), 2.0);
  Tensor maps = mul(randn({kClusters, kIn, kIn}, DType::f32, &gen), 0.5);
  std::vector<int64_t> cluster(kTokens);
  for (int64_t i = 0; i < kTokens; ++i) cluster[i] = i % kClusters;
  Tensor ids = from_vector(cluster);
  Tensor x = add(index_select(centers, 0, ids), mul(randn({kTokens, kIn}, DType::f32, &gen), 0.3));
  // Batched matmul: each token [1, kIn] times its cluster's [kIn, kIn].
  Tensor y = tanh(matmul(x.unsqueeze(1), index_select(maps, 0, ids)).squeeze(1));
  return {x, y, cluster};
}

// For each cluster, the share of its sub-tokens' choices that went to each expert.
void print_specialisation(const Model& model, const std::vector<int64_t>& cluster) {
  const int64_t heads = model.moe->config.heads, experts = model.moe->config.num_experts;
  // Sub-token j of token n is routing unit n * heads + j; experts is i64 [units, k], -1 for no choice.
  const Tensor& chosen = model.moe->moe->last_routing().experts;
  const int64_t k = chosen.size(1);
  std::vector<int64_t> ids = chosen.to_vector<int64_t>();
  const double per_choice = 1.0 / double(kTokens / kClusters * heads * k);
  std::vector<std::vector<double>> share(kClusters, std::vector<double>(experts, 0));
  for (int64_t unit = 0; unit < chosen.size(0); ++unit) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids[unit * k + j];
      if (e >= 0) share[cluster[unit / heads]][e] += per_choice;
    }
  }
  std::printf("expert choices per cluster (share of the cluster's choices):\n          ");
  for (int64_t e = 0; e < experts; ++e) std::printf("  e%-4lld", (long long)e);
  for (int64_t c = 0; c < kClusters; ++c) {
    std::printf("\ncluster %lld", (long long)c);
    for (int64_t e = 0; e < experts; ++e) std::printf("  %.2f ", share[c][e]);
  }
  std::printf("\n");
}

int main() {
  manual_seed(0);
  Generator data_gen(1);
  Dataset data = make_data(data_gen);

  MoEConfig cfg;        // top-2 routing, balance loss weight 0.01, capacity factor 1.25
  cfg.dim = kDim;       // the model's width; each sub-token has dim / heads = 8 features
  cfg.heads = 4;
  cfg.num_experts = 8;
  cfg.hidden = 32;      // each expert's FFN hidden size
  Model model(cfg);
  AdamW opt(model.parameters(), 3e-3);

  double first = 0, last = 0;
  for (int step = 0; step < kSteps; ++step) {
    Tensor task = mse_loss(model.forward(data.x), data.y);
    Tensor loss = add(task, total_aux_loss(model));  // the balance loss keeps every expert in use
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = task.item<double>();
    if (step == 0) first = last;
    if (step % 25 == 0 || step == kSteps - 1) {
      const RoutingStats& s = model.moe->last_stats();  // of this step's forward call
      std::printf("step %3d  mse %.4f  aux %.4f  dropped %4.1f%%  router entropy %.2f nats  load max/mean %.2f\n",
                  step, last, model.moe->aux_loss().item<double>(), 100 * s.dropped_fraction(), s.mean_entropy(),
                  s.load_imbalance());
    }
  }

  const RoutingStats& s = model.moe->last_stats();
  std::printf("sub-tokens kept per expert:");
  for (int64_t kept : s.kept) std::printf(" %lld", (long long)kept);
  std::printf("  (%lld units = %lld tokens x %lld heads, top-%lld)\n", (long long)s.units, (long long)s.tokens,
              (long long)cfg.heads, (long long)cfg.top_k);
  print_specialisation(model, data.cluster);

  std::printf("mse %.4f -> %.4f\n", first, last);
  if (!(last < 0.5 * first)) {
    std::fprintf(stderr, "mhmoe_layer: the loss did not fall to half its first value\n");
    return 1;
  }
  return 0;
}
