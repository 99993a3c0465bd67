// The MoE layers of moe/ as whole layers: SMoE (MoE), MH-MoE (MHMoE) and
// THOR (Thor), with their router, metrics, model helpers and presets.
//
//   - gradchecks (f64) of every layer with respect to its input AND every
//     parameter, the aux loss included, in each routing variant;
//   - equivalences: one expert is the dense FeedForward, one head is
//     merge(MoE(multi_head(x))), THOR's ensemble is the mean of its experts;
//   - routing on hand-built routers: MH-MoE's token-major split, the balance
//     and z losses, GShard's second-expert policies, capacity in training and
//     eval, THOR's draws and thor_loss;
//   - RoutingStats and expert_activation on hand cases;
//   - moe_every / moe_layers / total_aux_loss on a DecoderLM, the cost
//     presets, a short training run on real text, and the errors.
//
// The dispatch machinery itself (make_plan, dispatch, combine) is tested in
// test_moe_dispatch.cpp; here it is only seen through the layers.
#include <cmath>
#include <set>

#include "autograd/gradcheck.h"
#include "core/elementwise.h"
#include "core/graph.h"
#include "core/join.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "moe/dispatch.h"
#include "moe/layer.h"
#include "moe/metrics.h"
#include "moe/mhmoe.h"
#include "moe/router.h"
#include "moe/smoe.h"
#include "moe/thor.h"
#include "nn/feedforward.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// ---- configs ----

// A small f64 SMoE config, dropless unless a test asks for capacity; the aux
// weights are large enough that their gradients matter in a gradcheck.
MoEConfig small_config(int64_t dim, int64_t hidden, int64_t experts, int64_t k) {
  MoEConfig c;
  c.dim = dim;
  c.hidden = hidden;
  c.num_experts = experts;
  c.top_k = k;
  c.capacity_factor = 0;
  c.eval_capacity_factor = 0;
  c.balance_weight = 1.0;
  c.z_weight = 0.1;
  c.dtype = DType::f64;
  return c;
}

ThorConfig small_thor(int64_t experts, ThorInference inference = ThorInference::random_sequence, uint64_t seed = 0) {
  ThorConfig c;
  c.dim = 4;
  c.hidden = 6;
  c.num_experts = experts;
  c.inference = inference;
  c.dtype = DType::f64;
  c.seed = seed;
  return c;
}

// ---- setting parameters ----

// Writes `values` (row-major) into a parameter, outside the graph.
void set_param(const Tensor& p, const std::vector<double>& values) {
  NoGradGuard no_grad;
  copy_(p, values_tensor(values, p.shape(), p.dtype()));
}

void set_param(const Tensor& p, const Tensor& values) {
  NoGradGuard no_grad;
  copy_(p, values);
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).item<double>(); }

Tensor identity(int64_t n) {
  return make({n, n}, DType::f64, [](const Index& i) { return i[0] == i[1] ? 1.0 : 0.0; });
}

// ---- every parameter of a layer, as the members its forward reads ----

// A gradcheck must hand its own copies of the parameters to the layer: these
// are pointers to the members that forward() reads, so f can swap them in.
using Slots = std::vector<Tensor*>;

void add_slots(Slots& s, Linear& l) {
  s.push_back(&l.weight);
  if (l.bias.defined()) s.push_back(&l.bias);
}
void add_slots(Slots& s, Experts& e) {
  for (Tensor* t : {&e.w1, &e.w2, &e.w3, &e.b1, &e.b2, &e.b3})
    if (t->defined()) s.push_back(t);
}
void add_slots(Slots& s, Router& r) {
  if (r.wg) {
    add_slots(s, *r.wg);
  } else {
    add_slots(s, *r.wg_reduction);
    s.push_back(&r.expert_embeddings);
  }
}
Slots slots_of(MoE& m) {
  Slots s;
  add_slots(s, *m.router);
  add_slots(s, *m.experts);
  return s;
}
Slots slots_of(MHMoE& m) {
  Slots s;
  if (m.multi_head) add_slots(s, *m.multi_head);
  add_slots(s, *m.moe->router);
  add_slots(s, *m.moe->experts);
  if (m.merge) add_slots(s, *m.merge);
  return s;
}
Slots slots_of(Thor& t) {
  Slots s;
  add_slots(s, *t.experts);
  return s;
}

// Gradchecks layer.forward(x) with respect to x and every parameter of the
// layer (the slots must cover named_parameters() exactly). With `with_aux`
// the layer's aux loss is appended to the output, so the router is also
// checked through the balance and z losses. `before` runs at the start of
// every call (THOR resets its generator there).
template <class Layer>
void gradcheck_layer(Layer& layer, const Shape& x_shape, bool with_aux, uint64_t seed,
                     const std::function<void()>& before = {}) {
  Slots slots = slots_of(layer);
  NamedTensors named = layer.named_parameters();
  REQUIRE(slots.size() == named.size());
  for (auto& [name, p] : named) {
    INFO("parameter " << name);
    int hits = 0;
    for (Tensor* s : slots) hits += s->same(p);
    REQUIRE(hits == 1);
  }
  std::vector<Tensor> originals, inputs{grad_leaf(x_shape, seed)};
  for (Tensor* p : slots) {
    originals.push_back(*p);
    inputs.push_back(p->detach().clone().requires_grad_());
  }
  auto f = [&](const std::vector<Tensor>& in) {
    for (size_t i = 0; i < slots.size(); ++i) *slots[i] = in[i + 1];
    if (before) before();
    Tensor out = layer.forward(in[0]).reshape({-1});
    return with_aux ? cat({out, layer.aux_loss().reshape({1})}) : out;
  };
  GradcheckResult r = gradcheck(f, inputs);
  for (size_t i = 0; i < slots.size(); ++i) *slots[i] = originals[i];
  INFO(r.message);
  REQUIRE(r.ok);
}

// ---- reading routings ----

std::vector<int64_t> ids_of(const Tensor& experts) { return experts.to_vector<int64_t>(); }

// The index of the second largest entry of each row of probs [N, E].
std::vector<int64_t> second_best(const Tensor& probs) {
  const int64_t N = probs.size(0), E = probs.size(1);
  std::vector<int64_t> out;
  for (int64_t n = 0; n < N; ++n) {
    int64_t a = -1, b = -1;
    for (int64_t e = 0; e < E; ++e) {
      double p = at(probs, {n, e});
      if (a < 0 || p > at(probs, {n, a})) {
        b = a;
        a = e;
      } else if (b < 0 || p > at(probs, {n, b})) {
        b = e;
      }
    }
    out.push_back(b);
  }
  return out;
}

// A router of dim 1 fed ones: every unit gets logits = log(probs), so the
// routing distribution is exactly `probs` for all N units.
Router constant_router(MoEConfig c, const std::vector<double>& probs) {
  c.dim = 1;
  c.num_experts = int64_t(probs.size());
  Router r(c);
  std::vector<double> logits;
  for (double p : probs) logits.push_back(std::log(p));
  set_param(r.wg->weight, logits);
  return r;
}

struct TrainResult {
  double first = 0, last = 0;  // the first loss, the mean of the last 10
  RoutingStats stats;          // of the MoE layer, over the last 10 steps
};

// Trains a 2-layer byte LM whose second block's FFN is `moe`, with the aux
// loss in the objective.
TrainResult train_moe_lm(const FfnFactory& moe, int steps) {
  const std::string text = read_fixture("moby_dick_chapter_1.txt");
  TransformerConfig c;
  c.vocab = 256;
  c.dim = 32;
  c.heads = 2;
  c.layers = 2;
  c.ffn_hidden = 64;
  c.max_len = 32;
  DecoderLM lm(c, moe_every(2, dense_ffn(c), moe));
  REQUIRE(moe_layers(lm).size() == 1);
  AdamW opt(lm.parameters(), 1e-2, 0.9, 0.99, 1e-8, 0.0);
  Generator data(7);
  TrainResult r;
  for (int step = 0; step < steps; ++step) {
    auto [x, y] = sample(text, 16, 32, data);
    Tensor loss = cross_entropy(lm.forward(x), y);
    Tensor total = add(loss, total_aux_loss(lm));
    opt.zero_grad();
    total.backward();
    clip_grad_norm(lm.parameters(), 1.0);
    opt.step();
    double l = loss.item<float>();
    REQUIRE(std::isfinite(l));
    if (step == 0) r.first = l;
    if (step >= steps - 10) {
      r.last += l / 10;
      r.stats.merge(routing_stats(lm)[0]);
    }
  }
  return r;
}

}  // namespace

// ============================ gradchecks ============================

TEST_CASE("SMoE gradchecks through input and every parameter, with dropping and dropless", "[moe-layers]") {
  MoEConfig c = small_config(6, 8, 4, 2);
  SECTION("dropping: capacity factor 0.5 refuses some choices") {
    c.capacity_factor = 0.5;  // ceil(0.5 * 2 * 8 / 4) = 2 slots per expert for 16 choices
    MoE layer(c);
    gradcheck_layer(layer, {8, 6}, true, 1);
    REQUIRE(layer.last_stats().dropped_fraction() >= 0.5);  // at most 8 slots for 16 choices
  }
  SECTION("dropless: capacity factor 0") {
    MoE layer(c);
    gradcheck_layer(layer, {2, 4, 6}, true, 2);
    REQUIRE(layer.last_stats().dropped_fraction() == 0);
    REQUIRE(layer.last_stats().units == 8);
  }
}

TEST_CASE("SMoE gradchecks for k = 1, 2 and 3", "[moe-layers]") {
  for (int64_t k : {1, 2, 3}) {
    INFO("k = " << k);
    MoEConfig c = small_config(5, 7, 4, k);
    c.capacity_factor = 1.0;
    MoE layer(c);
    gradcheck_layer(layer, {7, 5}, true, uint64_t(10 + k));
    REQUIRE(layer.last_routing().experts.shape() == Shape{7, k});
  }
}

TEST_CASE("SMoE gradchecks with the X-MoE gate", "[moe-layers]") {
  MoEConfig c = small_config(6, 8, 4, 2);
  c.gate = GateKind::xmoe;
  c.xmoe_dim = 3;
  c.xmoe_temperature = 0.5;
  MoE layer(c);
  REQUIRE_FALSE(layer.router->wg);
  REQUIRE(layer.router->expert_embeddings.shape() == Shape{4, 3});
  gradcheck_layer(layer, {7, 6}, true, 3);

  // The logits by hand: (R x) . (e_i / |e_i|) / tau.
  Tensor x = random_tensor({5, 6}, DType::f64, 5);
  layer.forward(x);
  const Tensor &R = layer.router->wg_reduction->weight, &emb = layer.router->expert_embeddings;
  for (int64_t n = 0; n < 5; ++n)
    for (int64_t e = 0; e < 4; ++e) {
      double dot = 0, norm = 0;
      for (int64_t j = 0; j < 3; ++j) norm += at(emb, {e, j}) * at(emb, {e, j});
      for (int64_t j = 0; j < 3; ++j) {
        double rx = 0;
        for (int64_t i = 0; i < 6; ++i) rx += at(R, {j, i}) * at(x, {n, i});
        dot += rx * at(emb, {e, j}) / std::sqrt(norm);
      }
      REQUIRE(at(layer.last_routing().logits, {n, e}) == Approx(dot / 0.5).epsilon(1e-12));
    }
}

TEST_CASE("SMoE gradchecks with SwiGLU experts and expert biases", "[moe-layers]") {
  MoEConfig c = small_config(4, 6, 3, 2);
  c.activation = FfnActivation::swiglu;
  c.expert_bias = true;
  c.capacity_factor = 1.0;
  MoE layer(c);
  REQUIRE(layer.named_parameters().size() == 7u);  // router + w1, w2, w3, b1, b2, b3
  gradcheck_layer(layer, {6, 4}, true, 4);
}

TEST_CASE("MH-MoE gradchecks with 2 and 4 heads, with and without the sub-token residual", "[moe-layers]") {
  for (int64_t heads : {2, 4})
    for (bool residual : {false, true}) {
      INFO("heads = " << heads << ", subtoken_residual = " << residual);
      MoEConfig c = small_config(8, 6, 3, 2);
      c.heads = heads;
      c.subtoken_residual = residual;
      c.capacity_factor = 1.0;
      MHMoE layer(c);
      REQUIRE(layer.moe->config.dim == 8 / heads);
      gradcheck_layer(layer, {5, 8}, true, uint64_t(20 + heads + residual));
      REQUIRE(layer.last_stats().units == 5 * heads);
      REQUIRE(layer.last_stats().tokens == 5);
    }
}

TEST_CASE("THOR gradchecks in training mode and in the eval ensemble and fixed modes", "[moe-layers]") {
  SECTION("training: one drawn expert, the same in every call") {
    Thor layer(small_thor(3, ThorInference::random_sequence, 5));
    gradcheck_layer(layer, {2, 3, 4}, false, 30, [&] { layer.generator().set_offset(0); });
    std::vector<int64_t> e = ids_of(layer.last_experts());
    REQUIRE(std::set<int64_t>(e.begin(), e.end()).size() == 1);
  }
  SECTION("eval ensemble") {
    Thor layer(small_thor(3, ThorInference::ensemble));
    layer.eval();
    gradcheck_layer(layer, {5, 4}, false, 31);
  }
  SECTION("eval fixed") {
    ThorConfig c = small_thor(3, ThorInference::fixed);
    c.fixed_expert = 2;
    Thor layer(c);
    layer.eval();
    gradcheck_layer(layer, {5, 4}, false, 32);
  }
}

// ============================ equivalences ============================

TEST_CASE("MoE with one expert, k = 1 and no drops is the dense FeedForward", "[moe-layers]") {
  for (FfnActivation act : {FfnActivation::gelu, FfnActivation::swiglu})
    for (bool bias : {false, true}) {
      INFO((act == FfnActivation::gelu ? "gelu" : "swiglu") << (bias ? " with biases" : ""));
      MoEConfig c = small_config(6, 10, 1, 1);
      c.activation = act;
      c.expert_bias = bias;
      MoE moe(c);
      FeedForward ff(6, 10, act, bias, DType::f64);
      // Linear stores [out, in]; the experts store [E, in, out].
      set_param(moe.experts->w1.select(0, 0), ff.w1->weight.t());
      set_param(moe.experts->w2.select(0, 0), ff.w2->weight.t());
      if (act == FfnActivation::swiglu) set_param(moe.experts->w3.select(0, 0), ff.w3->weight.t());
      if (bias) {
        set_param(moe.experts->b1.select(0, 0), ff.w1->bias);
        set_param(moe.experts->b2.select(0, 0), ff.w2->bias);
        if (act == FfnActivation::swiglu) set_param(moe.experts->b3.select(0, 0), ff.w3->bias);
      }
      Tensor x = random_tensor({2, 3, 6}, DType::f64, 40);
      require_close(moe.forward(x), ff.forward(x), 1e-12, 1e-12);
      for (double g : moe.last_routing().gates.to_vector<double>()) REQUIRE(g == 1.0);
      // One expert takes every unit: the balance loss is exactly E * 1 * 1 = 1.
      REQUIRE(moe.last_routing().balance_loss.item<double>() == Approx(1.0).epsilon(1e-15));
    }
}

TEST_CASE("MH-MoE with one head is merge(MoE(multi_head(x))) of its own submodules", "[moe-layers]") {
  MoEConfig c = small_config(6, 8, 4, 2);
  c.heads = 1;
  c.subtoken_residual = false;
  MHMoE mh(c);
  Tensor x = random_tensor({7, 6}, DType::f64, 41);
  Tensor expect = mh.merge->forward(mh.moe->forward(mh.multi_head->forward(x)));
  double inner_aux = mh.moe->aux_loss().item<double>();
  require_close(mh.forward(x), expect, 1e-12, 1e-12);
  // The layer reports its inner MoE's aux loss and stats.
  REQUIRE(mh.aux_loss().item<double>() == inner_aux);
  REQUIRE(inner_aux > 0);
  REQUIRE(mh.last_stats().routed == mh.moe->last_stats().routed);

  mh.config.subtoken_residual = true;  // the paper's Eq. 6: add the sub-token before the merge
  Tensor sub = mh.multi_head->forward(x);
  expect = mh.merge->forward(add(mh.moe->forward(sub), sub));
  require_close(mh.forward(x), expect, 1e-12, 1e-12);
}

TEST_CASE("MH-MoE without head and merge is the MoE of the token's slices, and gradchecks", "[moe-layers]") {
  MoEConfig c = small_config(8, 6, 3, 2);
  c.heads = 4;
  c.capacity_factor = 1.0;
  c.head_merge = false;
  MHMoE mh(c);
  REQUIRE(mh.multi_head == nullptr);
  REQUIRE(mh.merge == nullptr);
  for (const auto& [name, p] : mh.named_parameters()) REQUIRE(name.rfind("moe.", 0) == 0);
  REQUIRE(mhmoe_cost(c).params == mh.num_parameters());
  MoEConfig with = c;
  with.head_merge = true;
  REQUIRE(mhmoe_cost(with).params - mhmoe_cost(c).params == 2 * (8 * 8 + 8));
  REQUIRE(mhmoe_cost(with).flops - mhmoe_cost(c).flops == 2 * 2 * 8 * 8);

  Tensor x = random_tensor({5, 8}, DType::f64, 43);
  Tensor out = mh.forward(x);
  Tensor expect = mh.moe->forward_units(x.reshape({20, 2}), 5).reshape({5, 8});
  require_close(out, expect, 1e-12, 1e-12);
  gradcheck_layer(mh, {5, 8}, true, 44);

  // The presets match an SMoE without paying for layers that are not there.
  MoEConfig smoe = small_config(16, 64, 4, 2);
  smoe.head_merge = false;
  MoEConfig v1 = mhmoe_v1(smoe, 4);
  REQUIRE(std::abs(double(MHMoE(v1).num_parameters() - MoE(smoe).num_parameters())) <
          0.01 * double(MoE(smoe).num_parameters()));
}

TEST_CASE("MH-MoE splits tokens token-major: sub-token j of token n is row n*h + j", "[moe-layers]") {
  // multi_head and merge are identities and the router's logits are the
  // sub-token itself, so each sub-token goes to the expert of its larger feature.
  MoEConfig c = small_config(4, 3, 2, 1);
  c.heads = 2;
  MHMoE mh(c);
  set_param(mh.multi_head->weight, identity(4));
  set_param(mh.multi_head->bias, {0, 0, 0, 0});
  set_param(mh.merge->weight, identity(4));
  set_param(mh.merge->bias, {0, 0, 0, 0});
  set_param(mh.moe->router->wg->weight, identity(2));
  Tensor x = values_tensor({5, 0, 0, 5,   // token 0: sub-tokens -> experts 0, 1
                            0, 5, 5, 0,   // token 1: -> 1, 0
                            5, 0, 4, 1},  // token 2: -> 0, 0
                           {3, 4}, DType::f64);
  Tensor y = mh.forward(x);
  const Routing& r = mh.moe->last_routing();
  // Token-major: [0, 1, 1, 0, 0, 0]; head-major would give [0, 1, 0, 1, 0, 0].
  REQUIRE(ids_of(r.experts) == std::vector<int64_t>{0, 1, 1, 0, 0, 0});
  require_close(r.logits, x.reshape({6, 2}), 0, 0);
  // Each token's output holds its own sub-tokens' expert outputs, in order.
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t j = 0; j < 2; ++j) {
      int64_t e = ids_of(r.experts)[size_t(n * 2 + j)];
      Tensor s = x.narrow(0, n, 1).narrow(1, 2 * j, 2);
      Tensor ffn = matmul(gelu(matmul(s, mh.moe->experts->w1.select(0, e))), mh.moe->experts->w2.select(0, e));
      Tensor expect = mul(ffn, at(r.probs, {n * 2 + j, e}));
      require_close(y.narrow(0, n, 1).narrow(1, 2 * j, 2), expect, 1e-12, 1e-12);
    }
  REQUIRE(mh.last_stats().units == 6);
  REQUIRE(mh.last_stats().tokens == 3);
  REQUIRE(mh.last_stats().routed == std::vector<int64_t>{4, 2});
}

// ============================ router and aux losses ============================

TEST_CASE("aux_loss is balance_weight * E * sum f_e P_e plus the weighted z-loss, on a hand-built router",
          "[moe-layers]") {
  const std::vector<double> W = {1, 0, 0, 1, -1, -1};                   // [E = 3, dim = 2]
  const std::vector<double> X = {1, 0, 0, 2, 0.5, 0.5, -1, 0.3, 2, 1};  // [N = 5, 2]
  const int64_t N = 5, E = 3;
  // By hand: logits, softmax, first choices.
  std::vector<double> f(E, 0), P(E, 0);
  double z = 0;
  for (int64_t n = 0; n < N; ++n) {
    double l[3], lse = 0;
    int64_t best = 0;
    for (int64_t e = 0; e < E; ++e) {
      l[e] = W[size_t(e * 2)] * X[size_t(n * 2)] + W[size_t(e * 2 + 1)] * X[size_t(n * 2 + 1)];
      lse += std::exp(l[e]);
      if (l[e] > l[best]) best = e;
    }
    lse = std::log(lse);
    for (int64_t e = 0; e < E; ++e) P[size_t(e)] += std::exp(l[e] - lse) / N;
    f[size_t(best)] += 1.0 / N;
    z += lse * lse / N;
  }
  double balance = 0;
  for (int64_t e = 0; e < E; ++e) balance += E * f[size_t(e)] * P[size_t(e)];

  auto layer_with = [&](double balance_weight, double z_weight, double capacity) {
    MoEConfig c = small_config(2, 4, E, 1);
    c.balance_weight = balance_weight;
    c.z_weight = z_weight;
    c.capacity_factor = capacity;
    auto m = std::make_shared<MoE>(c);
    set_param(m->router->wg->weight, W);
    m->forward(values_tensor(X, {N, 2}, DType::f64));
    return m;
  };
  auto plain = layer_with(0.5, 0.0, 0);
  REQUIRE(plain->last_routing().balance_loss.item<double>() == Approx(balance).epsilon(1e-12));
  REQUIRE(plain->last_routing().z_loss.item<double>() == Approx(z).epsilon(1e-12));
  REQUIRE(plain->aux_loss().item<double>() / 0.5 == Approx(balance).epsilon(1e-12));
  auto with_z = layer_with(0.5, 0.3, 0);
  REQUIRE(with_z->aux_loss().item<double>() == Approx(0.5 * balance + 0.3 * z).epsilon(1e-12));
  // f counts first choices before dropping: a tiny capacity changes nothing.
  auto dropping = layer_with(0.5, 0.0, 0.01);
  REQUIRE(dropping->last_stats().dropped_fraction() > 0);
  REQUIRE(dropping->aux_loss().item<double>() == Approx(0.5 * balance).epsilon(1e-12));

  // load_balancing_loss alone: 1 for uniform probabilities, E when one expert takes all.
  Tensor uniform = full({4, 3}, 1.0 / 3, DType::f64);
  REQUIRE(load_balancing_loss(uniform, from_vector<int64_t>({0, 0, 1, 2})).item<double>() == Approx(1.0));
  Tensor onehot = values_tensor({0, 1, 0, 0, 1, 0}, {2, 3}, DType::f64);
  REQUIRE(load_balancing_loss(onehot, from_vector<int64_t>({1, 1})).item<double>() == Approx(3.0));
  require_error([&] { load_balancing_loss(uniform, from_vector<int64_t>({0, 1})); }, "load_balancing_loss");
}

TEST_CASE("second-expert policy random keeps the second expert with probability min(1, 2 p2)", "[moe-layers]") {
  MoEConfig c = small_config(1, 4, 4, 2);
  c.second_expert = SecondExpertPolicy::random;
  c.seed = 3;
  const int64_t N = 4000;
  Tensor ones_x = ones({N, 1}, DType::f64);
  auto kept_seconds = [](const Routing& r) {
    int64_t kept = 0;
    for (int64_t n = 0; n < r.experts.size(0); ++n) kept += at(r.experts, {n, 1}) >= 0;
    return kept;
  };
  SECTION("p2 tiny: the second expert is almost never kept") {
    Router r = constant_router(c, {1 - 3e-6, 1e-6, 1e-6, 1e-6});
    Routing out = r.forward(ones_x, true);
    REQUIRE(kept_seconds(out) <= 2);  // expected 4000 * 2e-6 = 0.008
    for (int64_t n = 0; n < N; ++n) REQUIRE(at(out.experts, {n, 0}) == 0);
  }
  SECTION("p2 = 0.3: kept about 60% of the time, with its own probability as gate") {
    Router r = constant_router(c, {0.45, 0.3, 0.15, 0.1});
    Routing out = r.forward(ones_x, true);
    REQUIRE(double(kept_seconds(out)) / N == Approx(0.6).margin(0.04));  // 5 standard deviations
    for (int64_t n = 0; n < N; ++n) {
      bool kept = at(out.experts, {n, 1}) >= 0;
      REQUIRE(at(out.experts, {n, 1}) == (kept ? 1 : -1));
      REQUIRE(at(out.gates, {n, 1}) == Approx(kept ? 0.3 : 0.0).margin(1e-12));
    }
    // The plan skips the choices not made.
    REQUIRE(out.plan.routed[1] == kept_seconds(out));
  }
  SECTION("p2 = 0.5: always kept") {
    MoEConfig c2 = c;
    c2.num_experts = 2;
    Router r = constant_router(c2, {0.5, 0.5});
    REQUIRE(kept_seconds(r.forward(ones_x, true)) == N);
  }
  SECTION("varied units: the kept count matches sum_n min(1, 2 p2_n)") {
    MoEConfig c3 = c;
    c3.dim = 3;
    Router r(c3);
    set_param(r.wg->weight, random_tensor({4, 3}, DType::f64, 50));
    Routing out = r.forward(random_tensor({N, 3}, DType::f64, 51), true);
    std::vector<int64_t> second = second_best(out.probs);
    double expect = 0, var = 0;
    int64_t kept = 0;
    for (int64_t n = 0; n < N; ++n) {
      double q = std::min(1.0, 2 * at(out.probs, {n, second[size_t(n)]}));
      expect += q;
      var += q * (1 - q);
      int64_t e = int64_t(at(out.experts, {n, 1}));
      if (e >= 0) REQUIRE(e == second[size_t(n)]);  // the policy keeps or drops, never swaps
      kept += e >= 0;
    }
    INFO("kept " << kept << ", expected " << expect << " +- " << std::sqrt(var));
    REQUIRE(std::abs(double(kept) - expect) < 5 * std::sqrt(var) + 1);
  }
}

TEST_CASE("second-expert policy sampling draws the second expert from the remaining distribution", "[moe-layers]") {
  MoEConfig c = small_config(1, 4, 4, 2);
  c.second_expert = SecondExpertPolicy::sampling;
  c.seed = 9;
  const int64_t N = 4000;
  Router r = constant_router(c, {0.5, 0.3, 0.15, 0.05});
  Routing out = r.forward(ones({N, 1}, DType::f64), true);
  std::vector<double> freq(4, 0);
  for (int64_t n = 0; n < N; ++n) {
    REQUIRE(at(out.experts, {n, 0}) == 0);
    int64_t e = int64_t(at(out.experts, {n, 1}));
    REQUIRE(e >= 1);  // never the first expert again, never "no choice"
    REQUIRE(at(out.gates, {n, 1}) == Approx(at(out.probs, {n, e})).epsilon(1e-12));
    freq[size_t(e)] += 1.0 / N;
  }
  // Renormalized remaining probabilities: 0.3, 0.15, 0.05 over 0.5.
  REQUIRE(freq[1] == Approx(0.6).margin(0.03));
  REQUIRE(freq[2] == Approx(0.3).margin(0.03));
  REQUIRE(freq[3] == Approx(0.1).margin(0.02));

  // With varied units too, the second is never the first.
  MoEConfig c2 = c;
  c2.dim = 3;
  Router varied(c2);
  Routing v = varied.forward(random_tensor({500, 3}, DType::f64, 52), true);
  for (int64_t n = 0; n < 500; ++n) REQUIRE(at(v.experts, {n, 1}) != at(v.experts, {n, 0}));
}

TEST_CASE("second-expert policies act only in training, and are seeded", "[moe-layers]") {
  for (SecondExpertPolicy policy : {SecondExpertPolicy::random, SecondExpertPolicy::sampling}) {
    INFO((policy == SecondExpertPolicy::random ? "random" : "sampling"));
    MoEConfig c = small_config(3, 4, 4, 2);
    c.second_expert = policy;
    c.seed = 11;
    Router a(c);
    Tensor x = random_tensor({300, 3}, DType::f64, 53);

    // Eval: plain top-2, and no draws.
    Routing ev = a.forward(x, false);
    REQUIRE(ids_of(ev.experts.select(1, 1).contiguous()) == second_best(ev.probs));
    REQUIRE(a.generator().offset() == 0);

    // Same seed and weights: the same draws; another seed, or the next call: others.
    Router b(c);
    b.load_state_dict(a.state_dict());
    MoEConfig other = c;
    other.seed = 12;
    Router d(other);
    d.load_state_dict(a.state_dict());
    std::vector<int64_t> ra = ids_of(a.forward(x, true).experts);
    REQUIRE(a.generator().offset() > 0);
    REQUIRE(ids_of(b.forward(x, true).experts) == ra);
    REQUIRE(ids_of(d.forward(x, true).experts) != ra);
    REQUIRE(ids_of(a.forward(x, true).experts) != ra);
  }
}

TEST_CASE("renormalize makes each unit's gates sum to 1 and keeps their ratio", "[moe-layers]") {
  for (SecondExpertPolicy policy : {SecondExpertPolicy::all, SecondExpertPolicy::random}) {
    MoEConfig c = small_config(3, 4, 4, 2);
    c.second_expert = policy;
    c.renormalize = true;
    c.capacity_factor = 0.5;  // drops do not change the gates
    MoE layer(c);
    layer.forward(random_tensor({40, 3}, DType::f64, 54));
    const Routing& r = layer.last_routing();
    REQUIRE(r.plan.dropped() > 0);
    int64_t without_second = 0;
    for (int64_t n = 0; n < 40; ++n) {
      REQUIRE(at(r.gates, {n, 0}) + at(r.gates, {n, 1}) == Approx(1.0).epsilon(1e-12));
      int64_t e1 = int64_t(at(r.experts, {n, 1}));
      if (e1 < 0) {
        ++without_second;
        REQUIRE(at(r.gates, {n, 0}) == 1.0);
        continue;
      }
      double p0 = at(r.probs, {n, int64_t(at(r.experts, {n, 0}))}), p1 = at(r.probs, {n, e1});
      REQUIRE(at(r.gates, {n, 0}) / at(r.gates, {n, 1}) == Approx(p0 / p1).epsilon(1e-10));
    }
    if (policy == SecondExpertPolicy::random) REQUIRE(without_second > 0);
  }
}

TEST_CASE("capacity: training uses capacity_factor, eval uses eval_capacity_factor, first come first served",
          "[moe-layers]") {
  MoEConfig c = small_config(2, 4, 4, 1);
  c.capacity_factor = 1.0;       // ceil(1 * 1 * 8 / 4) = 2 slots
  c.eval_capacity_factor = 2.0;  // 4 slots
  MoE layer(c);
  set_param(layer.router->wg->weight, {5, 5, 0, 0, 0, 0, 0, 0});  // expert 0 is everyone's choice
  Tensor x = add(random_tensor({8, 2}, DType::f64, 55), 3.0);     // positive features
  Tensor y = layer.forward(x);
  REQUIRE(layer.last_stats().routed == std::vector<int64_t>{8, 0, 0, 0});
  REQUIRE(layer.last_stats().kept == std::vector<int64_t>{2, 0, 0, 0});
  // The first two units got their expert; the rest got nothing (the block's residual carries them).
  for (int64_t n = 0; n < 8; ++n) {
    double norm = 0;
    for (int64_t j = 0; j < 2; ++j) norm += std::abs(at(y, {n, j}));
    if (n < 2)
      REQUIRE(norm > 0);
    else
      REQUIRE(norm == 0);
  }
  layer.eval();
  layer.forward(x);
  REQUIRE(layer.last_stats().kept == std::vector<int64_t>{4, 0, 0, 0});
  layer.train();
  layer.forward(x);
  REQUIRE(layer.last_stats().kept == std::vector<int64_t>{2, 0, 0, 0});

  // Dropless (factor 0) keeps every choice.
  MoEConfig dropless = c;
  dropless.capacity_factor = 0;
  MoE all(dropless);
  all.load_state_dict(layer.state_dict());
  all.forward(x);
  REQUIRE(all.last_stats().kept == std::vector<int64_t>{8, 0, 0, 0});
}

// ============================ THOR ============================

TEST_CASE("THOR training draws one expert per call, uniformly, reproducibly under a seed", "[moe-layers]") {
  const int64_t E = 4;
  Thor a(small_thor(E, ThorInference::random_sequence, 17)), b(small_thor(E, ThorInference::random_sequence, 17)),
      d(small_thor(E, ThorInference::random_sequence, 18));
  b.load_state_dict(a.state_dict());
  d.load_state_dict(a.state_dict());
  Tensor x = random_tensor({2, 5, 4}, DType::f64, 60);
  std::vector<int64_t> seq_a, seq_b, seq_d;
  for (int call = 0; call < 12; ++call) {
    Tensor ya = a.forward(x), yb = b.forward(x);
    d.forward(x);
    require_close(ya, yb, 0, 0);
    std::vector<int64_t> ea = ids_of(a.last_experts());
    REQUIRE(ea.size() == 10u);
    REQUIRE(std::set<int64_t>(ea.begin(), ea.end()).size() == 1);  // one expert for the whole batch
    seq_a.push_back(ea[0]);
    seq_b.push_back(ids_of(b.last_experts())[0]);
    seq_d.push_back(ids_of(d.last_experts())[0]);
    REQUIRE(ids_of(d.last_experts()) == std::vector<int64_t>(10, seq_d.back()));
  }
  REQUIRE(seq_a == seq_b);
  REQUIRE(seq_a != seq_d);
  REQUIRE(a.aux_loss().item<double>() == 0.0);

  // The training output is that expert's output.
  Tensor y = a.forward(x);
  int64_t e = ids_of(a.last_experts())[0];
  a.eval();
  a.config.inference = ThorInference::fixed;
  a.config.fixed_expert = e;
  require_close(a.forward(x), y, 0, 0);

  // Over many calls every expert is drawn about equally often.
  Thor many(small_thor(E, ThorInference::random_sequence, 19));
  std::vector<int> count(E, 0);
  Tensor one = random_tensor({1, 4}, DType::f64, 61);
  for (int call = 0; call < 800; ++call) {
    many.forward(one);
    ++count[size_t(ids_of(many.last_experts())[0])];
  }
  for (int64_t k = 0; k < E; ++k) {
    INFO("expert " << k << " drawn " << count[size_t(k)] << " times of 800");
    REQUIRE(std::abs(count[size_t(k)] - 200) < 60);  // sd ~ 12
  }
}

TEST_CASE("THOR inference modes: fixed, ensemble, random_sequence and random_token", "[moe-layers]") {
  const int64_t E = 3;
  Thor layer(small_thor(E, ThorInference::fixed, 21));
  layer.eval();
  Tensor x = random_tensor({4, 5, 4}, DType::f64, 62);

  // fixed: every token uses fixed_expert; these outputs are the references below.
  std::vector<Tensor> fixed_out;
  for (int64_t e = 0; e < E; ++e) {
    layer.config.fixed_expert = e;
    fixed_out.push_back(layer.forward(x));
    REQUIRE(ids_of(layer.last_experts()) == std::vector<int64_t>(20, e));
  }
  REQUIRE(max_abs_diff(fixed_out[0], fixed_out[1]) > 1e-3);  // the experts differ

  // ensemble: the mean of the E experts' outputs.
  layer.config.inference = ThorInference::ensemble;
  Tensor ens = layer.forward(x);
  require_close(ens, div(add(add(fixed_out[0], fixed_out[1]), fixed_out[2]), 3.0), 1e-12, 1e-12);
  REQUIRE(layer.last_experts().shape() == Shape{20, E});
  REQUIRE(layer.last_stats().routed == std::vector<int64_t>{20, 20, 20});

  // random_sequence: one expert per row of dim 0, that expert's output; rows differ in some call.
  layer.config.inference = ThorInference::random_sequence;
  bool rows_differ = false;
  for (int call = 0; call < 8; ++call) {
    Tensor y = layer.forward(x);
    std::vector<int64_t> ids = ids_of(layer.last_experts());
    REQUIRE(ids.size() == 20u);
    for (int64_t b = 0; b < 4; ++b) {
      int64_t e = ids[size_t(b * 5)];
      for (int64_t t = 0; t < 5; ++t) REQUIRE(ids[size_t(b * 5 + t)] == e);
      require_close(y.select(0, b), fixed_out[size_t(e)].select(0, b), 0, 0);
      rows_differ |= e != ids[0];
    }
  }
  REQUIRE(rows_differ);

  // random_token: experts vary within one sequence; each token gets its expert's output.
  layer.config.inference = ThorInference::random_token;
  Tensor y = layer.forward(x);
  std::vector<int64_t> ids = ids_of(layer.last_experts());
  bool varies = false;
  for (int64_t b = 0; b < 4; ++b) {
    varies |= std::set<int64_t>(ids.begin() + b * 5, ids.begin() + b * 5 + 5).size() > 1;
    for (int64_t t = 0; t < 5; ++t)
      require_close(y.select(0, b).select(0, t), fixed_out[size_t(ids[size_t(b * 5 + t)])].select(0, b).select(0, t), 0,
                    0);
  }
  REQUIRE(varies);
  REQUIRE(std::set<int64_t>(ids.begin(), ids.end()).size() == size_t(E));
}

TEST_CASE("thor_loss: twice the smoothed CE when the passes agree, pads add nothing, a hand case, gradients",
          "[moe-layers]") {
  ThorLossOptions o;  // alpha 5, smoothing 0.1
  Tensor l = random_tensor({3, 4}, DType::f64, 70);
  Tensor t = from_vector<int64_t>({1, 3, 0});
  CrossEntropyOptions ce{-100, 0.1, Reduction::sum};
  REQUIRE(thor_loss(l, l, t, o).item<double>() == Approx(2 * cross_entropy(l, t, ce).item<double>()).epsilon(1e-12));

  // A hand case: 2 tokens, 3 classes, from exp and log alone.
  const double l1[2][3] = {{1, 2, 3}, {0.5, -1, 2}}, l2[2][3] = {{2, 1, 0}, {0, 0, 1}};
  const int64_t tg[2] = {2, 0};
  const double s = 0.1, alpha = 2.0;
  double expect = 0;
  for (int n = 0; n < 2; ++n) {
    double lp1[3], lp2[3], z1 = 0, z2 = 0;
    for (int c = 0; c < 3; ++c) z1 += std::exp(l1[n][c]), z2 += std::exp(l2[n][c]);
    for (int c = 0; c < 3; ++c) lp1[c] = l1[n][c] - std::log(z1), lp2[c] = l2[n][c] - std::log(z2);
    double ce1 = -(1 - s) * lp1[tg[n]], ce2 = -(1 - s) * lp2[tg[n]], kl12 = 0, kl21 = 0;
    for (int c = 0; c < 3; ++c) {
      ce1 -= s / 3 * lp1[c];
      ce2 -= s / 3 * lp2[c];
      kl12 += std::exp(lp1[c]) * (lp1[c] - lp2[c]);
      kl21 += std::exp(lp2[c]) * (lp2[c] - lp1[c]);
    }
    expect += ce1 + ce2 + alpha * (kl12 + kl21) / 2;
  }
  ThorLossOptions hand;
  hand.alpha = alpha;
  Tensor a = values_tensor({1, 2, 3, 0.5, -1, 2}, {2, 3}, DType::f64);
  Tensor b = values_tensor({2, 1, 0, 0, 0, 1}, {2, 3}, DType::f64);
  REQUIRE(thor_loss(a, b, from_vector<int64_t>({2, 0}), hand).item<double>() == Approx(expect).epsilon(1e-12));

  // A pad target adds neither CE nor KL: the loss is the first token's alone.
  Tensor padded = from_vector<int64_t>({2, -100});
  double first_only = thor_loss(a.narrow(0, 0, 1), b.narrow(0, 0, 1), from_vector<int64_t>({2}), hand).item<double>();
  REQUIRE(thor_loss(a, b, padded, hand).item<double>() == Approx(first_only).epsilon(1e-12));

  // Gradients through both passes, pads included.
  Tensor t3 = from_vector<int64_t>({1, -100, 3, 0, 2, 2}, {2, 3});
  require_gradcheck([&](const std::vector<Tensor>& in) { return thor_loss(in[0], in[1], t3, hand); },
                    {grad_leaf({2, 3, 4}, 71), grad_leaf({2, 3, 4}, 72)});
  require_error([&] { thor_loss(a, b.narrow(0, 0, 1), padded); }, "thor_loss");
}

// ============================ metrics ============================

TEST_CASE("RoutingStats on a hand plan: counts, drops, imbalance, entropy, frequencies, merge", "[moe-layers]") {
  // Units 0..3 choose {0,1}, {0,2}, {0,-}, {1,0}; capacity 2. First choices
  // go first: expert 0 keeps units 0, 1 and drops unit 2's first choice and
  // unit 3's second.
  DispatchPlan plan = make_plan(from_vector<int64_t>({0, 1, 0, 2, 0, -1, 1, 0}, {4, 2}), 3, 2);
  RoutingStats s = RoutingStats::from_plan(plan, /*tokens=*/2, /*entropy_sum=*/1.5);
  REQUIRE(s.calls == 1);
  REQUIRE(s.tokens == 2);
  REQUIRE(s.units == 4);
  REQUIRE(s.routed == std::vector<int64_t>{4, 2, 1});
  REQUIRE(s.kept == std::vector<int64_t>{2, 2, 1});
  REQUIRE(s.dropped_fraction() == Approx(2.0 / 7));
  REQUIRE(s.load_imbalance() == Approx(4.0 / (7.0 / 3)));
  REQUIRE(s.mean_entropy() == Approx(1.5 / 4));
  REQUIRE(s.selection_frequency(RoutingStats::Norm::per_unit) == std::vector<double>{1.0, 0.5, 0.25});
  REQUIRE(s.selection_frequency(RoutingStats::Norm::per_token) == std::vector<double>{2.0, 1.0, 0.5});

  RoutingStats total;
  total.merge(s);  // into empty: a copy
  REQUIRE(total.routed == s.routed);
  total.merge(RoutingStats{});  // an empty one adds nothing
  REQUIRE(total.calls == 1);
  RoutingStats even;
  even.calls = 1;
  even.tokens = even.units = 6;
  even.routed = {2, 2, 2};
  even.kept = {2, 2, 2};
  even.entropy_sum = 0.9;
  total.merge(even);
  REQUIRE(total.calls == 2);
  REQUIRE(total.tokens == 8);
  REQUIRE(total.units == 10);
  REQUIRE(total.routed == std::vector<int64_t>{6, 4, 3});
  REQUIRE(total.kept == std::vector<int64_t>{4, 4, 3});
  REQUIRE(total.dropped_fraction() == Approx(2.0 / 13));
  REQUIRE(total.mean_entropy() == Approx(2.4 / 10));
  REQUIRE(even.load_imbalance() == 1.0);
  RoutingStats two;
  two.calls = 1;
  two.routed = two.kept = {1, 1};
  require_error([&] { total.merge(two); }, "RoutingStats::merge");
  REQUIRE(RoutingStats{}.dropped_fraction() == 0);
}

TEST_CASE("expert_activation counts cells above the threshold, per unit or per token", "[moe-layers]") {
  RoutingStats a;  // per unit {1, 0.5, 0.25}, per token {2, 1, 0.5}
  a.calls = 1;
  a.units = 4;
  a.tokens = 2;
  a.routed = a.kept = {4, 2, 1};
  RoutingStats b;  // per unit = per token = {0, 1, 0.2}
  b.calls = 1;
  b.units = b.tokens = 5;
  b.routed = b.kept = {0, 5, 1};
  using N = RoutingStats::Norm;
  REQUIRE(expert_activation({a, b}, 0.3, N::per_unit) == Approx(3.0 / 6));
  REQUIRE(expert_activation({a, b}, 0.3, N::per_token) == Approx(4.0 / 6));
  REQUIRE(expert_activation({a, b}, 1.0, N::per_token) == Approx(1.0 / 6));  // strictly above
  REQUIRE(expert_activation({}, 0.1, N::per_unit) == 0);

  // An MH-MoE layer counts h sub-tokens per token: per_token = h * per_unit.
  MoEConfig c = small_config(8, 6, 4, 2);
  c.heads = 4;
  MHMoE mh(c);
  mh.forward(random_tensor({6, 8}, DType::f64, 80));
  const RoutingStats& st = mh.last_stats();
  REQUIRE(st.units == 24);
  std::vector<double> pu = st.selection_frequency(N::per_unit), pt = st.selection_frequency(N::per_token);
  double total = 0;
  for (size_t e = 0; e < pu.size(); ++e) {
    REQUIRE(pt[e] == Approx(4 * pu[e]).epsilon(1e-15));
    total += pu[e];
  }
  REQUIRE(total == Approx(2.0));  // per unit sums to k
  REQUIRE(expert_activation({st}, 0.5, N::per_token) >= expert_activation({st}, 0.5, N::per_unit));
}

TEST_CASE("mean_entropy is log E for a uniform router and the router's own entropy otherwise", "[moe-layers]") {
  MoEConfig c = small_config(3, 4, 5, 2);
  MoE layer(c);
  Tensor x = random_tensor({9, 3}, DType::f64, 81);
  set_param(layer.router->wg->weight, std::vector<double>(15, 0.0));  // all logits 0
  layer.forward(x);
  REQUIRE(layer.last_stats().mean_entropy() == Approx(std::log(5.0)).epsilon(1e-12));
  // A general router: - sum p log p over units, from the routing's probabilities.
  set_param(layer.router->wg->weight, random_tensor({5, 3}, DType::f64, 82));
  layer.forward(x);
  double h = 0;
  for (double p : layer.last_routing().probs.to_vector<double>()) h -= p * std::log(p);
  REQUIRE(layer.last_stats().entropy_sum == Approx(h).epsilon(1e-12));
  REQUIRE(layer.last_stats().mean_entropy() < std::log(5.0));
}

// ============================ model helpers ============================

TEST_CASE("moe_every places MoE in blocks 1 and 3, and moe_layers, total_aux_loss and routing_stats find them",
          "[moe-layers]") {
  TransformerConfig tc;
  tc.vocab = 11;
  tc.dim = 8;
  tc.heads = 2;
  tc.layers = 4;
  tc.ffn_hidden = 16;
  tc.max_len = 6;
  tc.dtype = DType::f64;
  MoEConfig mc = small_config(8, 12, 4, 2);
  mc.balance_weight = 0.5;

  SECTION("SMoE layers") {
    DecoderLM lm(tc, moe_every(2, dense_ffn(tc), [&](int64_t) { return std::make_shared<MoE>(mc); }));
    for (int64_t i = 0; i < 4; ++i) {
      INFO("block " << i);
      bool is_moe = std::dynamic_pointer_cast<MoE>(lm.blocks[size_t(i)]->ffn) != nullptr;
      REQUIRE(is_moe == (i % 2 == 1));
      if (!is_moe) REQUIRE(std::dynamic_pointer_cast<FeedForward>(lm.blocks[size_t(i)]->ffn));
    }
    auto layers = moe_layers(lm);
    REQUIRE(layers.size() == 2);
    REQUIRE(layers[0].get() == lm.blocks[1]->ffn.get());
    REQUIRE(layers[1].get() == lm.blocks[3]->ffn.get());
    REQUIRE(total_aux_loss(lm).item<double>() == 0.0);  // no forward yet
    REQUIRE(total_aux_loss(lm).dtype() == DType::f64);

    Tensor ids = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});
    Tensor targets = from_vector<int64_t>({2, 3, 4, 5, 6, 7, 8, 9, 10, 1}, {2, 5});
    Tensor ce = cross_entropy(lm.forward(ids), targets);
    Tensor aux = total_aux_loss(lm);
    REQUIRE(aux.item<double>() ==
            Approx(layers[0]->aux_loss().item<double>() + layers[1]->aux_loss().item<double>()).epsilon(1e-14));
    std::vector<RoutingStats> stats = routing_stats(lm);
    REQUIRE(stats.size() == 2);
    REQUIRE(stats[1].units == 10);

    // The aux loss alone reaches the routers (and nothing after the last MoE layer).
    aux.backward(Tensor(), /*retain_graph=*/true);
    auto router_weight = [&](int64_t block) {
      return std::dynamic_pointer_cast<MoE>(lm.blocks[size_t(block)]->ffn)->router->wg->weight;
    };
    Tensor g_aux = router_weight(1).grad().clone();
    REQUIRE(amax(abs(g_aux)).item<double>() > 0);
    REQUIRE(amax(abs(router_weight(3).grad())).item<double>() > 0);
    REQUIRE_FALSE(lm.head->weight.grad().defined());
    // And it changes the gradient of the full objective.
    lm.zero_grad();
    ce.backward(Tensor(), true);
    Tensor g_ce = router_weight(1).grad().clone();
    lm.zero_grad();
    add(ce, aux).backward();
    require_close(router_weight(1).grad(), add(g_ce, g_aux), 1e-10, 1e-12);
    REQUIRE(max_abs_diff(g_ce, router_weight(1).grad()) > 1e-8);
  }
  SECTION("MH-MoE layers: the inner MoE is not listed") {
    MoEConfig hc = mc;
    hc.heads = 2;
    DecoderLM lm(tc, moe_every(2, dense_ffn(tc), [&](int64_t) { return std::make_shared<MHMoE>(hc); }));
    auto layers = moe_layers(lm);
    REQUIRE(layers.size() == 2);
    for (auto& l : layers) REQUIRE(std::dynamic_pointer_cast<MHMoE>(l));
    lm.forward(from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3}));
    REQUIRE(total_aux_loss(lm).item<double>() ==
            Approx(layers[0]->aux_loss().item<double>() + layers[1]->aux_loss().item<double>()).epsilon(1e-14));
    REQUIRE(routing_stats(lm)[0].units == 12);
  }
  SECTION("other spacings and offsets, and a dense model") {
    auto moe_blocks = [&](int64_t n, int64_t offset) {
      DecoderLM lm(tc, moe_every(
                           n, dense_ffn(tc), [&](int64_t) { return std::make_shared<MoE>(mc); }, offset));
      std::vector<int64_t> out;
      for (int64_t i = 0; i < 4; ++i)
        if (std::dynamic_pointer_cast<MoE>(lm.blocks[size_t(i)]->ffn)) out.push_back(i);
      REQUIRE(moe_layers(lm).size() == out.size());
      return out;
    };
    REQUIRE(moe_blocks(1, -1) == std::vector<int64_t>{0, 1, 2, 3});
    REQUIRE(moe_blocks(2, 0) == std::vector<int64_t>{0, 2});  // THOR's code
    REQUIRE(moe_blocks(3, -1) == std::vector<int64_t>{2});
    REQUIRE(moe_blocks(3, 1) == std::vector<int64_t>{1});
    require_error([&] { moe_every(2, dense_ffn(tc), dense_ffn(tc), 2); }, "moe_every");
    DecoderLM dense(tc);
    REQUIRE(moe_layers(dense).empty());
    REQUIRE(total_aux_loss(dense).item<double>() == 0.0);
    require_error([&] { moe_every(0, dense_ffn(tc), dense_ffn(tc)); }, "moe_every");
  }
}

// ============================ presets and costs ============================

TEST_CASE("smoe_cost, mhmoe_cost and dense_cost on small hand-computed configs", "[moe-layers]") {
  MoEConfig c = small_config(4, 8, 3, 2);
  // router 4*3 + experts 3 * 2 * 4 * 8; FLOPs 2*4*3 + k * 2 matrices * 2 * 4 * 8
  LayerCost s = smoe_cost(c);
  REQUIRE(s.params == 12 + 192);
  REQUIRE(s.router_flops == 24);
  REQUIRE(s.flops == 24 + 256);
  REQUIRE(s.params == MoE(c).num_parameters());
  // heads 2: head + merge 2 * (16 + 4); per sub-token router 2*3 and experts 3 * 2 * 2 * 8.
  c.heads = 2;
  LayerCost m = mhmoe_cost(c);
  REQUIRE(m.params == 40 + 6 + 96);
  REQUIRE(m.router_flops == 2 * 12);
  REQUIRE(m.flops == 2 * 2 * 16 + 2 * (12 + 2 * 2 * 2 * 2 * 8));
  REQUIRE(m.params == MHMoE(c).num_parameters());
  // The parameter counts follow the modules for every variant.
  MoEConfig v = small_config(6, 10, 4, 2);
  v.activation = FfnActivation::swiglu;
  v.expert_bias = true;
  v.gate = GateKind::xmoe;
  v.xmoe_dim = 3;
  REQUIRE(smoe_cost(v).params == MoE(v).num_parameters());
  v.heads = 3;
  REQUIRE(mhmoe_cost(v).params == MHMoE(v).num_parameters());
  REQUIRE(dense_cost(8, 16).params == FeedForward(8, 16).num_parameters());
  REQUIRE(dense_cost(8, 16).flops == 2 * 2 * 8 * 16);
  REQUIRE(dense_cost(8, 16, FfnActivation::swiglu, false).params ==
          FeedForward(8, 16, FfnActivation::swiglu, false).num_parameters());
}

TEST_CASE("mhmoe_v1 matches the SMoE parameters and mhmoe_v2 its expert FLOPs", "[moe-layers]") {
  MoEConfig smoe;
  smoe.dim = 64;
  smoe.hidden = 256;
  smoe.num_experts = 8;
  smoe.top_k = 2;
  auto rel = [](int64_t a, int64_t b) { return std::abs(double(a - b)) / double(b); };

  for (int64_t h : {2, 4, 8}) {
    INFO("v1, heads = " << h);
    MoEConfig v1 = mhmoe_v1(smoe, h);
    REQUIRE(v1.heads == h);
    REQUIRE(v1.num_experts == smoe.num_experts);
    REQUIRE(v1.top_k == smoe.top_k);
    REQUIRE(rel(mhmoe_cost(v1).params, smoe_cost(smoe).params) < 0.01);
    REQUIRE(rel(MHMoE(v1).num_parameters(), MoE(smoe).num_parameters()) < 0.01);
  }

  // v2 from a top-1 SMoE: experts + head + merge cost exactly the SMoE's experts
  // when (k d_moe - c d) / h is whole: gelu c = 1, swiglu c = 2/3.
  struct Case {
    FfnActivation act;
    int64_t dim, hidden, heads;
  };
  for (Case k : {Case{FfnActivation::gelu, 64, 256, 2}, Case{FfnActivation::gelu, 64, 256, 4},
                 Case{FfnActivation::swiglu, 48, 192, 2}, Case{FfnActivation::swiglu, 48, 192, 4}}) {
    INFO("v2, " << (k.act == FfnActivation::gelu ? "gelu" : "swiglu") << ", heads = " << k.heads);
    MoEConfig top1 = smoe;
    top1.dim = k.dim;
    top1.hidden = k.hidden;
    top1.top_k = 1;
    top1.activation = k.act;
    MoEConfig v2 = mhmoe_v2(top1, k.heads);
    REQUIRE(v2.top_k == k.heads);
    REQUIRE(v2.heads == k.heads);
    LayerCost a = mhmoe_cost(v2), b = smoe_cost(top1);
    REQUIRE(a.flops - a.router_flops == b.flops - b.router_flops);
    REQUIRE(rel(a.params, b.params) < 0.02);
    REQUIRE(v2.num_experts > top1.num_experts);
  }
  // 3 does not divide 64.
  require_error([&] { mhmoe_v2(smoe, 3); }, "mhmoe_v2: heads must be >= 1 and divide dim = 64");
  require_error([&] { mhmoe_v1(smoe, 3); }, "mhmoe_v1: heads");
}

// ============================ training ============================

TEST_CASE("a tiny SMoE LM learns Moby-Dick chapter 1 with the aux loss in the objective", "[moe-layers]") {
  manual_seed(2);
  MoEConfig mc;
  mc.dim = 32;
  mc.hidden = 64;
  mc.num_experts = 4;
  mc.top_k = 2;
  TrainResult r = train_moe_lm([&](int64_t) { return std::make_shared<MoE>(mc); }, 60);
  INFO("first loss " << r.first << ", mean of the last 10 " << r.last << ", load imbalance " << r.stats.load_imbalance()
                     << ", dropped " << r.stats.dropped_fraction());
  REQUIRE(r.first > 5.0);  // about log(256) = 5.55
  REQUIRE(r.last < 3.0);
  REQUIRE(r.stats.load_imbalance() < 1.5);  // no collapse: 4 if one expert took all
}

TEST_CASE("a tiny MH-MoE LM learns Moby-Dick chapter 1 with the aux loss in the objective", "[moe-layers]") {
  manual_seed(3);
  MoEConfig mc;
  mc.dim = 32;
  mc.hidden = 48;
  mc.num_experts = 4;
  mc.top_k = 2;
  mc.heads = 2;
  TrainResult r = train_moe_lm([&](int64_t) { return std::make_shared<MHMoE>(mc); }, 60);
  INFO("first loss " << r.first << ", mean of the last 10 " << r.last << ", load imbalance " << r.stats.load_imbalance()
                     << ", dropped " << r.stats.dropped_fraction());
  REQUIRE(r.first > 5.0);
  REQUIRE(r.last < 3.0);
  REQUIRE(r.stats.load_imbalance() < 2.5);
}

// ============================ errors ============================

TEST_CASE("MoE layers reject bad configs and inputs, naming the op", "[moe-layers]") {
  auto bad = [](auto edit) {
    MoEConfig c = small_config(8, 8, 4, 2);
    edit(c);
    return c;
  };
  MoEConfig k_big = bad([](MoEConfig& c) { c.top_k = 5; });
  require_error([&] { MoE m(k_big); }, "MoE: top_k");
  require_error([&] { Router r(k_big); }, "Router: top_k");
  require_error([&] { MHMoE m(k_big); }, "MHMoE: top_k");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.top_k = 0; })); }, "top_k");
  require_error([&] { MHMoE m(bad([](MoEConfig& c) { c.heads = 3; })); }, "MHMoE: heads");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.capacity_factor = -0.5; })); }, "MoE: capacity");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.eval_capacity_factor = -1; })); }, "MoE: capacity");
  require_error([&] { Router r(bad([](MoEConfig& c) { c.top_k = 3, c.second_expert = SecondExpertPolicy::random; })); },
                "Router: a second-expert policy");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.top_k = 1, c.second_expert = SecondExpertPolicy::sampling; })); },
                "MoE: a second-expert policy");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.balance_weight = -1; })); }, "MoE: aux loss");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.dtype = DType::i64; })); }, "MoE: dtype");
  require_error([&] { MoE m(bad([](MoEConfig& c) { c.gate = GateKind::xmoe, c.xmoe_dim = 0; })); }, "MoE: xmoe_dim");

  MoE moe(small_config(8, 8, 4, 2));
  require_error([&] { moe.forward(random_tensor({3, 5}, DType::f64)); }, "MoE");
  MoEConfig hc = small_config(8, 8, 4, 2);
  hc.heads = 2;
  MHMoE mh(hc);
  require_error([&] { mh.forward(random_tensor({3, 4}, DType::f64)); }, "MHMoE");
  Router router(small_config(8, 8, 4, 2));
  require_error([&] { router.forward(random_tensor({3, 7}, DType::f64), true); }, "Router");
  require_error([&] { router.forward(random_tensor({0, 8}, DType::f64), true); }, "Router");

  Thor thor(small_thor(3));
  require_error([&] { thor.forward(random_tensor({3, 5}, DType::f64)); }, "Thor");
  for (int64_t e : {-1, 3}) {
    ThorConfig tc = small_thor(3, ThorInference::fixed);
    tc.fixed_expert = e;
    require_error([&] { Thor t(tc); }, "Thor: fixed_expert");
  }
  ThorConfig none = small_thor(0);
  require_error([&] { Thor t(none); }, "Thor: num_experts");
}
