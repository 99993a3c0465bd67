// Optimizers, gradient clipping and learning-rate schedules, against values
// computed here in plain double arithmetic (closed forms, or the update rule
// written out per element), never through the tensor ops under test.
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "core/graph.h"
#include "core/reduce.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// Three steps of fixed gradients for a two-element parameter starting at kStart.
const std::vector<double> kStart = {1.0, -2.0};
const std::vector<std::vector<double>> kGrads = {{0.5, -1.0}, {0.1, 0.3}, {-0.2, 0.4}};

Tensor param(const std::vector<double>& v) {
  Tensor p = from_vector(v);
  p.requires_grad_();
  return p;
}

// A handle to the optimizer's first parameter (the same tensor).
Tensor first_param(const Optimizer& opt) { return opt.params()[0]; }

// The gradients of element e over the steps.
std::vector<double> column(const std::vector<std::vector<double>>& grads, size_t e) {
  std::vector<double> out;
  for (auto& g : grads) out.push_back(g[e]);
  return out;
}

// Runs opt over kGrads on its (single) parameter; returns the parameter's values.
std::vector<double> run_fixed_grads(Optimizer& opt) {
  Tensor p = opt.params()[0];
  for (auto& g : kGrads) {
    p.set_grad(from_vector(g));
    opt.step();
  }
  return p.to_vector<double>();
}

void require_near(const std::vector<double>& got, const std::vector<double>& want, double rtol = 1e-12) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs " << want[i]);
    REQUIRE(std::abs(got[i] - want[i]) <= rtol * std::abs(want[i]) + 1e-300);
  }
}

// torch.optim.SGD on one element, over a sequence of gradients.
struct SgdRef {
  double lr = 0.1, momentum = 0, weight_decay = 0, dampening = 0;
  bool nesterov = false;
};
double ref_sgd(double p, const std::vector<double>& grads, const SgdRef& c) {
  double buf = 0;
  bool has_buf = false;
  for (double grad : grads) {
    double g = grad + c.weight_decay * p;
    if (c.momentum != 0) {
      buf = has_buf ? c.momentum * buf + (1 - c.dampening) * g : g;
      has_buf = true;
      g = c.nesterov ? g + c.momentum * buf : buf;
    }
    p -= c.lr * g;
  }
  return p;
}

// torch.optim.Adam / AdamW on one element, in the textbook form
// p -= lr * m_hat / (sqrt(v_hat) + eps).
struct AdamRef {
  double lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;
};
double ref_adam(double p, const std::vector<double>& grads, const AdamRef& c) {
  double m = 0, v = 0;
  int t = 0;
  for (double grad : grads) {
    ++t;
    double g = grad;
    if (c.decoupled)
      p *= 1 - c.lr * c.weight_decay;
    else
      g += c.weight_decay * p;
    m = c.beta1 * m + (1 - c.beta1) * g;
    v = c.beta2 * v + (1 - c.beta2) * g * g;
    double m_hat = m / (1 - std::pow(c.beta1, t));
    double v_hat = v / (1 - std::pow(c.beta2, t));
    p -= c.lr * m_hat / (std::sqrt(v_hat) + c.eps);
  }
  return p;
}

std::vector<double> ref_sgd_all(const SgdRef& c) {
  return {ref_sgd(kStart[0], column(kGrads, 0), c), ref_sgd(kStart[1], column(kGrads, 1), c)};
}
std::vector<double> ref_adam_all(const AdamRef& c) {
  return {ref_adam(kStart[0], column(kGrads, 0), c), ref_adam(kStart[1], column(kGrads, 1), c)};
}

}  // namespace

// ---- SGD ----

TEST_CASE("SGD without momentum subtracts lr times the gradient", "[optim]") {
  SGD opt({param(kStart)}, 0.1);
  // p0 - 0.1 * (g1 + g2 + g3) = [1 - 0.1 * 0.4, -2 - 0.1 * -0.3]
  require_near(run_fixed_grads(opt), {0.96, -1.97});
  REQUIRE(opt.steps() == 3);
}

TEST_CASE("SGD momentum starts the buffer at the first gradient", "[optim]") {
  SGD opt({param(kStart)}, 0.1, 0.9);
  // buf1 = g1, buf2 = 0.9 g1 + g2, buf3 = 0.81 g1 + 0.9 g2 + g3:
  // p3 = p0 - 0.1 * (2.71 g1 + 1.9 g2 + g3)
  std::vector<double> want;
  for (size_t e = 0; e < 2; ++e)
    want.push_back(kStart[e] - 0.1 * (2.71 * kGrads[0][e] + 1.9 * kGrads[1][e] + kGrads[2][e]));
  require_near(want, {0.8655, -1.826});
  require_near(run_fixed_grads(opt), want);
}

TEST_CASE("SGD nesterov steps along g + momentum * buf", "[optim]") {
  SGD opt({param(kStart)}, 0.1, 0.9, 0, /*nesterov=*/true);
  // d1 = 1.9 g1, d2 = 0.81 g1 + 1.9 g2, d3 = 0.729 g1 + 0.81 g2 + 1.9 g3
  std::vector<double> want;
  for (size_t e = 0; e < 2; ++e)
    want.push_back(kStart[e] - 0.1 * (3.439 * kGrads[0][e] + 2.71 * kGrads[1][e] + 1.9 * kGrads[2][e]));
  require_near(run_fixed_grads(opt), want);
  SgdRef ref;
  ref.momentum = 0.9;
  ref.nesterov = true;
  require_near(ref_sgd_all(ref), want);
}

TEST_CASE("SGD dampening does not apply to the first gradient", "[optim]") {
  SGD opt({param(kStart)}, 0.1, 0.9, 0, false, /*dampening=*/0.5);
  // buf1 = g1, buf2 = 0.9 g1 + 0.5 g2, buf3 = 0.81 g1 + 0.45 g2 + 0.5 g3
  std::vector<double> want;
  for (size_t e = 0; e < 2; ++e)
    want.push_back(kStart[e] - 0.1 * (2.71 * kGrads[0][e] + 0.95 * kGrads[1][e] + 0.5 * kGrads[2][e]));
  require_near(run_fixed_grads(opt), want);
}

TEST_CASE("SGD weight decay is added to the gradient before momentum", "[optim]") {
  SgdRef ref;
  ref.momentum = 0.9;
  ref.weight_decay = 0.1;
  SGD opt({param(kStart)}, ref.lr, ref.momentum, ref.weight_decay);
  std::vector<double> got = run_fixed_grads(opt);
  require_near(got, ref_sgd_all(ref));
  // First step by hand: g = 0.5 + 0.1 * 1 = 0.6 -> p = 1 - 0.06 = 0.94.
  SGD one({param(kStart)}, 0.1, 0.9, 0.1);
  first_param(one).set_grad(from_vector(kGrads[0]));
  one.step();
  require_near(one.params()[0].to_vector<double>(), {0.94, -2 - 0.1 * (-1.0 - 0.2)});
  SgdRef no_decay = ref;
  no_decay.weight_decay = 0;
  REQUIRE(std::abs(got[0] - ref_sgd_all(no_decay)[0]) > 1e-3);  // the decay does something
}

// ---- Adam and AdamW ----

TEST_CASE("Adam's first step moves each element by lr against the gradient's sign", "[optim]") {
  Adam opt({param(kStart)}, 0.1);
  first_param(opt).set_grad(from_vector(kGrads[0]));
  opt.step();
  // m_hat = g and v_hat = g^2 after one step: p1 = p0 - lr * g / (|g| + eps).
  require_near(opt.params()[0].to_vector<double>(), {1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 1.0 / (1.0 + 1e-8)});
}

TEST_CASE("Adam matches the bias-corrected update for three steps", "[optim]") {
  AdamRef ref;
  SECTION("defaults") {
    Adam opt({param(kStart)}, ref.lr);
    require_near(run_fixed_grads(opt), ref_adam_all(ref));
  }
  SECTION("other betas and a large eps") {
    ref.beta1 = 0.5;
    ref.beta2 = 0.8;
    ref.eps = 0.05;
    Adam opt({param(kStart)}, ref.lr, ref.beta1, ref.beta2, ref.eps);
    require_near(run_fixed_grads(opt), ref_adam_all(ref));
  }
  SECTION("beta1 = 0 makes it RMSprop with bias correction") {
    ref.beta1 = 0;
    Adam opt({param(kStart)}, ref.lr, 0.0);
    require_near(run_fixed_grads(opt), ref_adam_all(ref));
  }
}

TEST_CASE("Adam's L2 decay and AdamW's decoupled decay differ, each as specified", "[optim]") {
  AdamRef l2;
  l2.weight_decay = 0.5;
  AdamRef decoupled = l2;
  decoupled.decoupled = true;

  Adam adam({param(kStart)}, l2.lr, 0.9, 0.999, 1e-8, l2.weight_decay);
  AdamW adamw({param(kStart)}, decoupled.lr, 0.9, 0.999, 1e-8, decoupled.weight_decay);
  std::vector<double> a = run_fixed_grads(adam), w = run_fixed_grads(adamw);
  require_near(a, ref_adam_all(l2));
  require_near(w, ref_adam_all(decoupled));
  REQUIRE(std::abs(a[0] - w[0]) > 1e-3);
  REQUIRE(std::abs(a[1] - w[1]) > 1e-3);

  // AdamW's first step by hand: p * (1 - lr * wd), then lr * sign(g).
  AdamW one({param(kStart)}, 0.1, 0.9, 0.999, 1e-8, 0.5);
  first_param(one).set_grad(from_vector(kGrads[0]));
  one.step();
  require_near(one.params()[0].to_vector<double>(),
               {1.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 * 0.95 + 0.1 * 1.0 / (1.0 + 1e-8)});
}

TEST_CASE("AdamW defaults to weight_decay 0.01, Adam to none", "[optim]") {
  AdamRef ref;
  ref.lr = 1e-3;
  ref.weight_decay = 1e-2;
  ref.decoupled = true;
  AdamW adamw({param(kStart)});
  require_near(run_fixed_grads(adamw), ref_adam_all(ref));
  ref.weight_decay = 0;
  Adam adam({param(kStart)});
  require_near(run_fixed_grads(adam), ref_adam_all(ref));
}

TEST_CASE("Adam counts each parameter's own updates for bias correction", "[optim]") {
  Tensor a = param(kStart), b = param({3.0, 4.0});
  Adam opt({a, b}, 0.1);
  for (size_t s = 0; s < kGrads.size(); ++s) {
    a.set_grad(from_vector(kGrads[s]));
    b.set_grad(s == 0 ? Tensor() : from_vector(kGrads[s]));  // b has no gradient in the first step
    opt.step();
  }
  AdamRef ref;
  require_near(a.to_vector<double>(), ref_adam_all(ref));
  std::vector<double> b_grads0 = {kGrads[1][0], kGrads[2][0]}, b_grads1 = {kGrads[1][1], kGrads[2][1]};
  require_near(b.to_vector<double>(), {ref_adam(3.0, b_grads0, ref), ref_adam(4.0, b_grads1, ref)});
  auto state = opt.state_dict();
  REQUIRE(state.at("step").item<int64_t>() == 3);
  REQUIRE(state.at("0.step").item<int64_t>() == 3);
  REQUIRE(state.at("1.step").item<int64_t>() == 2);
}

TEST_CASE("Adam on an f32 parameter stays f32 and follows the f64 formula", "[optim]") {
  Tensor p = cast(from_vector(kStart), DType::f32);
  p.requires_grad_();
  Adam opt({p}, 0.1);
  for (auto& g : kGrads) {
    p.set_grad(cast(from_vector(g), DType::f32));
    opt.step();
  }
  REQUIRE(p.dtype() == DType::f32);
  REQUIRE(opt.state_dict().at("0.exp_avg").dtype() == DType::f32);
  std::vector<double> want = ref_adam_all(AdamRef{});
  std::vector<double> got = p.to_vector<double>();
  for (size_t i = 0; i < 2; ++i) REQUIRE(std::abs(got[i] - want[i]) < 1e-5);
}

// ---- what every optimizer shares ----

TEST_CASE("parameters without a gradient are left untouched and get no state", "[optim]") {
  std::vector<std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>> makers = {
      [](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.1, 0.9, 0.1); },
      [](std::vector<Tensor> ps) { return std::make_unique<Adam>(ps, 0.1, 0.9, 0.999, 1e-8, 0.1); },
      [](std::vector<Tensor> ps) { return std::make_unique<AdamW>(ps, 0.1); },
  };
  for (auto& make_opt : makers) {
    Tensor a = param(kStart), b = param({3.0, 4.0});
    auto opt = make_opt({a, b});
    INFO(opt->name());
    uint64_t b_version = b.storage()->version();
    for (auto& g : kGrads) {
      a.set_grad(from_vector(g));
      opt->step();
    }
    REQUIRE(b.to_vector<double>() == std::vector<double>{3.0, 4.0});
    REQUIRE(b.storage()->version() == b_version);
    REQUIRE(a.to_vector<double>() != kStart);
    for (auto& [key, t] : opt->state_dict()) REQUIRE(key.rfind("1.", 0) != 0);
  }
}

TEST_CASE("step writes in place: same storage, version bumped, views see it", "[optim]") {
  Tensor p = param({1.0, 2.0, 3.0});
  Tensor view = p.detach().narrow(0, 1, 1);
  const void* data = p.raw_data();
  uint64_t version = p.storage()->version();
  SGD opt({p}, 0.5);
  p.set_grad(from_vector(std::vector<double>{1.0, 1.0, 1.0}));
  opt.step();
  REQUIRE(p.raw_data() == data);
  REQUIRE(p.storage()->version() > version);
  REQUIRE(view.item<double>() == 1.5);
  REQUIRE(p.requires_grad());
  REQUIRE(p.is_leaf());
}

TEST_CASE("a graph that saved a parameter refuses backward after the step changed it", "[optim]") {
  Tensor p = param({1.0, 2.0});
  Tensor loss = sum(mul(p, p));
  SGD opt({p}, 0.1);
  p.set_grad(from_vector(std::vector<double>{1.0, 1.0}));
  opt.step();
  REQUIRE_THROWS_AS(loss.backward(), Error);
}

TEST_CASE("zero_grad clears every gradient, and gradients from backward drive step", "[optim]") {
  Tensor a = param(kStart), b = param({3.0});
  SGD opt({a, b}, 0.25);
  Tensor target = from_vector(std::vector<double>{0.0, 1.0});
  // loss = sum((a - target)^2) + 2 b: grads 2 (a - target) = [2, -6] and 2.
  Tensor d = sub(a, target);
  add(sum(mul(d, d)), mul(sum(b), 2.0)).backward();
  REQUIRE(a.grad().defined());
  opt.step();
  require_near(a.to_vector<double>(), {1.0 - 0.25 * 2.0, -2.0 + 0.25 * 6.0});
  require_near(b.to_vector<double>(), {3.0 - 0.25 * 2.0});
  opt.zero_grad();
  REQUIRE(!a.grad().defined());
  REQUIRE(!b.grad().defined());
  std::vector<double> before = a.to_vector<double>();
  opt.step();  // nothing has a gradient: nothing moves
  REQUIRE(a.to_vector<double>() == before);
  REQUIRE(opt.steps() == 2);
}

TEST_CASE("set_lr drives the next step and is validated", "[optim]") {
  SGD opt({param(kStart)}, 0.1);
  opt.set_lr(0.5);
  REQUIRE(opt.lr() == 0.5);
  first_param(opt).set_grad(from_vector(kGrads[0]));
  opt.step();
  require_near(opt.params()[0].to_vector<double>(), {1.0 - 0.25, -2.0 + 0.5});
  require_error([&] { opt.set_lr(-1); }, "SGD");
  require_error([&] { opt.set_lr(std::nan("")); }, "lr");
  REQUIRE(opt.lr() == 0.5);
}

// ---- resume: state_dict / load_state_dict ----

namespace {

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(std::vector<Tensor>)>;

// Two parameters w [3] and b [2]; b gets a gradient only from step 2 on, so
// its state starts later than w's.
std::vector<Tensor> fresh_params() { return {param({0.5, -1.0, 2.0}), param({1.0, -0.5})}; }

std::vector<Tensor> params_from(const std::vector<std::vector<double>>& values) {
  std::vector<Tensor> out;
  for (auto& v : values) out.push_back(param(v));
  return out;
}

std::vector<std::vector<double>> values_of(const std::vector<Tensor>& params) {
  std::vector<std::vector<double>> out;
  for (auto& p : params) out.push_back(p.to_vector<double>());
  return out;
}

void train(Optimizer& opt, int n) {
  WarmupCosine schedule(0.05, 2, 6, 0.01);
  for (int k = 0; k < n; ++k) {
    opt.zero_grad();
    const Tensor& w = opt.params()[0];
    const Tensor& b = opt.params()[1];
    Tensor target = from_vector(std::vector<double>{1.0, 2.0, -3.0});
    Tensor d = sub(w, target);
    Tensor loss = sum(mul(mul(d, d), d));  // cubic, so gradients change every step
    if (opt.steps() >= 2) loss = add(loss, sum(mul(mul(b, b), w.narrow(0, 0, 2))));
    loss.backward();
    opt.set_lr(schedule.lr(opt.steps()));
    opt.step();
  }
}

void check_resume(const OptimizerFactory& make_opt) {
  // Uninterrupted: 5 steps.
  std::vector<Tensor> a_params = fresh_params();
  auto a = make_opt(a_params);
  train(*a, 5);

  // Interrupted after 3: save, then keep going (the saved state must not move).
  std::vector<Tensor> b_params = fresh_params();
  auto b = make_opt(b_params);
  train(*b, 3);
  auto saved_state = b->state_dict();
  auto saved_params = values_of(b_params);
  train(*b, 2);
  REQUIRE(values_of(b_params) == values_of(a_params));

  // Resumed in a fresh optimizer built with another lr: the state wins.
  std::vector<Tensor> c_params = params_from(saved_params);
  auto c = make_opt(c_params);
  c->set_lr(123.0);
  c->load_state_dict(saved_state);
  REQUIRE(c->steps() == 3);
  REQUIRE(c->lr() == saved_state.at("lr").item<double>());
  train(*c, 2);
  REQUIRE(c->steps() == 5);
  REQUIRE(values_of(c_params) == values_of(a_params));  // bit for bit
  auto sa = a->state_dict(), sc = c->state_dict();
  REQUIRE(sa.size() == sc.size());
  for (auto& [key, t] : sa) {
    INFO(key);
    REQUIRE(sc.count(key));
    REQUIRE(sc.at(key).to_vector<double>() == t.to_vector<double>());
  }
}

}  // namespace

TEST_CASE("a resumed optimizer continues bit-identically to an uninterrupted one", "[optim]") {
  SECTION("SGD with momentum, nesterov and weight decay") {
    check_resume([](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.05, 0.9, 0.01, true); });
  }
  SECTION("SGD with dampening") {
    check_resume([](std::vector<Tensor> ps) { return std::make_unique<SGD>(ps, 0.05, 0.8, 0, false, 0.3); });
  }
  SECTION("Adam with L2") {
    check_resume([](std::vector<Tensor> ps) { return std::make_unique<Adam>(ps, 0.05, 0.9, 0.99, 1e-8, 0.01); });
  }
  SECTION("AdamW") { check_resume([](std::vector<Tensor> ps) { return std::make_unique<AdamW>(ps, 0.05); }); }
}

TEST_CASE("state_dict names the entries as documented", "[optim]") {
  std::vector<Tensor> ps = fresh_params();
  Adam adam(ps, 0.05);
  train(adam, 3);
  auto state = adam.state_dict();
  std::vector<std::string> keys;
  for (auto& [k, t] : state) keys.push_back(k);
  REQUIRE(keys == std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.step", "1.exp_avg", "1.exp_avg_sq",
                                           "1.step", "lr", "step"});
  REQUIRE(state.at("step").dim() == 0);
  REQUIRE(state.at("step").dtype() == DType::i64);
  REQUIRE(state.at("0.exp_avg").shape() == Shape{3});
  REQUIRE(state.at("1.exp_avg_sq").shape() == Shape{2});
  REQUIRE(state.at("1.step").item<int64_t>() == 1);  // b's gradient started at step 2

  std::vector<Tensor> qs = fresh_params();
  SGD sgd(qs, 0.05, 0.9);
  train(sgd, 1);
  keys.clear();
  for (auto& [k, t] : sgd.state_dict()) keys.push_back(k);
  REQUIRE(keys == std::vector<std::string>{"0.momentum_buffer", "lr", "step"});

  std::vector<Tensor> rs = fresh_params();
  SGD plain(rs, 0.05);
  train(plain, 3);
  REQUIRE(plain.state_dict().size() == 2);  // no momentum: no buffers
}

TEST_CASE("load_state_dict rejects bad entries, names them and changes nothing", "[optim]") {
  std::vector<Tensor> ps = fresh_params();
  Adam opt(ps, 0.05);
  train(opt, 3);
  const auto good = opt.state_dict();
  const std::vector<double> exp_avg = good.at("0.exp_avg").to_vector<double>();

  auto with = [&](const std::string& key, const Tensor& t) {
    auto s = good;
    s[key] = t;
    return s;
  };
  auto without = [&](const std::string& key) {
    auto s = good;
    s.erase(key);
    return s;
  };
  require_error([&] { opt.load_state_dict(without("step")); }, "Adam: state is missing 'step'");
  require_error([&] { opt.load_state_dict(without("lr")); }, "missing 'lr'");
  require_error([&] { opt.load_state_dict(without("0.exp_avg_sq")); }, "missing '0.exp_avg_sq'");
  require_error([&] { opt.load_state_dict(without("1.step")); }, "missing '1.step'");
  require_error([&] { opt.load_state_dict(with("0.exp_avg", zeros({2}, DType::f64))); }, "'0.exp_avg' is [2]");
  require_error([&] { opt.load_state_dict(with("1.exp_avg_sq", zeros({2}, DType::f32))); }, "'1.exp_avg_sq' is [2] f32");
  require_error([&] { opt.load_state_dict(with("0.step", scalar_tensor(3, DType::f64))); }, "'0.step'");
  require_error([&] { opt.load_state_dict(with("0.step", scalar_tensor(0, DType::i64))); }, "'0.step' must be >= 1");
  require_error([&] { opt.load_state_dict(with("step", scalar_tensor(3, DType::f32))); }, "'step' must be a 0-d i64");
  require_error([&] { opt.load_state_dict(with("2.exp_avg", zeros({3}, DType::f64))); }, "'2.exp_avg' is for parameter 2");
  require_error([&] { opt.load_state_dict(with("0.momentum_buffer", zeros({3}, DType::f64))); }, "'0.momentum_buffer'");
  require_error([&] { opt.load_state_dict(with("exp_avg", zeros({3}, DType::f64))); }, "unexpected state entry 'exp_avg'");
  require_error([&] { opt.load_state_dict(with("x.exp_avg", zeros({3}, DType::f64))); }, "'x.exp_avg'");

  // Nothing was half-loaded: the state is what it was.
  REQUIRE(opt.steps() == 3);
  auto now = opt.state_dict();
  REQUIRE(now.size() == good.size());
  REQUIRE(now.at("0.exp_avg").to_vector<double>() == exp_avg);

  // A state of another optimizer is refused.
  std::vector<Tensor> qs = fresh_params();
  SGD sgd(qs, 0.05, 0.9);
  require_error([&] { sgd.load_state_dict(good); }, "SGD: unexpected state entry '0.exp_avg'");
  train(sgd, 1);
  SGD plain(qs, 0.05);  // no momentum: keeps no buffers
  require_error([&] { plain.load_state_dict(sgd.state_dict()); }, "SGD: unexpected state entry '0.momentum_buffer'");

  // A state with no per-parameter entries is valid: nothing updated yet.
  Adam fresh(qs, 0.05);
  fresh.load_state_dict({{"step", scalar_tensor(0, DType::i64)}, {"lr", scalar_tensor(0.01, DType::f64)}});
  REQUIRE(fresh.lr() == 0.01);
  REQUIRE(fresh.state_dict().size() == 2);
}

TEST_CASE("loaded state is a copy: later changes to the source do not leak in", "[optim]") {
  std::vector<Tensor> ps = fresh_params();
  SGD opt(ps, 0.05, 0.9);
  train(opt, 2);
  auto state = opt.state_dict();
  std::vector<Tensor> qs = fresh_params();
  SGD other(qs, 0.05, 0.9);
  other.load_state_dict(state);
  fill_(state.at("0.momentum_buffer"), 42.0);
  REQUIRE(other.state_dict().at("0.momentum_buffer").to_vector<double>() != std::vector<double>{42, 42, 42});
}

// ---- constructor validation ----

TEST_CASE("invalid optimizer arguments throw errors naming the optimizer and the value", "[optim]") {
  auto ps = [] { return std::vector<Tensor>{param(kStart)}; };
  require_error([&] { SGD(ps(), -0.5); }, "SGD: lr must be >= 0 and finite, got -0.5");
  require_error([&] { SGD(ps(), std::nan("")); }, "SGD: lr");
  require_error([&] { SGD(ps(), 0.1, -0.9); }, "SGD: momentum must be >= 0, got -0.9");
  require_error([&] { SGD(ps(), 0.1, 0.9, -1e-4); }, "SGD: weight_decay must be >= 0, got -0.0001");
  require_error([&] { SGD(ps(), 0.1, 0, 0, true); }, "SGD: nesterov requires momentum > 0");
  require_error([&] { SGD(ps(), 0.1, 0.9, 0, true, 0.1); }, "dampening 0.1");
  require_error([&] { SGD(ps(), 0.1, 0.9, 0, false, -1); }, "SGD: dampening must be >= 0, got -1");
  require_error([&] { Adam(ps(), -1e-3); }, "Adam: lr must be >= 0 and finite, got -0.001");
  require_error([&] { Adam(ps(), 1e-3, 1.0); }, "Adam: beta1 must be in [0, 1), got 1");
  require_error([&] { Adam(ps(), 1e-3, 0.9, -0.1); }, "Adam: beta2 must be in [0, 1), got -0.1");
  require_error([&] { Adam(ps(), 1e-3, 0.9, 0.999, -1e-8); }, "Adam: eps must be >= 0, got -1e-08");
  require_error([&] { Adam(ps(), 1e-3, 0.9, 0.999, 1e-8, -0.1); }, "Adam: weight_decay must be >= 0, got -0.1");
  require_error([&] { AdamW(ps(), 1e-3, 0.9, 1.5); }, "AdamW: beta2 must be in [0, 1), got 1.5");
  require_error([&] { AdamW(ps(), 1e-3, 0.9, 0.999, 1e-8, -0.01); }, "AdamW: weight_decay");

  require_error([&] { Adam({}); }, "Adam: got an empty parameter list");
  require_error([&] { SGD({from_vector(kStart)}, 0.1); }, "SGD: parameter 0 [2] does not require grad");
  Tensor p = param(kStart);
  require_error([&] { Adam({p, mul(p, 2.0)}); }, "Adam: parameter 1 [2] is not a leaf");
  require_error([&] { AdamW({p, p}); }, "AdamW: parameter 1 appears more than once");
  require_error([&] { SGD({Tensor()}, 0.1); }, "SGD: parameter 0 is undefined");
}

// ---- gradient clipping ----

TEST_CASE("clip_grad_norm scales all gradients by max_norm / total when above it", "[optim]") {
  Tensor a = param({0.0}), b = param({0.0}), c = param({7.0, 7.0});  // c has no grad
  a.set_grad(from_vector(std::vector<double>{3.0}));
  b.set_grad(from_vector(std::vector<double>{4.0}));
  double total = clip_grad_norm({a, b, c}, 1.0);
  REQUIRE(total == 5.0);
  require_near(a.grad().to_vector<double>(), {0.6}, 1e-6);
  require_near(b.grad().to_vector<double>(), {0.8}, 1e-6);
  require_near(a.grad().to_vector<double>(), {3.0 / (5.0 + 1e-6)});  // torch's exact factor
  REQUIRE(!c.grad().defined());

  Tensor v = param({0.0, 0.0});
  v.set_grad(from_vector(std::vector<double>{3.0, 4.0}));
  Tensor g = v.grad();
  REQUIRE(clip_grad_norm({v}, 2.5) == 5.0);
  require_near(v.grad().to_vector<double>(), {3.0 * 2.5 / (5 + 1e-6), 4.0 * 2.5 / (5 + 1e-6)});
  REQUIRE(g.to_vector<double>() == v.grad().to_vector<double>());  // scaled in place, as torch's mul_
}

TEST_CASE("clip_grad_norm leaves gradients alone at or under max_norm and on NaN/Inf", "[optim]") {
  Tensor v = param({0.0, 0.0, 0.0});
  v.set_grad(from_vector(std::vector<double>{1.0, 2.0, 2.0}));
  REQUIRE(clip_grad_norm({v}, 3.0) == 3.0);
  REQUIRE(v.grad().to_vector<double>() == std::vector<double>{1.0, 2.0, 2.0});
  REQUIRE(clip_grad_norm({v}, 100.0) == 3.0);
  REQUIRE(v.grad().to_vector<double>() == std::vector<double>{1.0, 2.0, 2.0});

  const double inf = std::numeric_limits<double>::infinity();
  Tensor n = param({0.0, 0.0});
  n.set_grad(from_vector(std::vector<double>{std::nan(""), 1.0}));
  REQUIRE(std::isnan(clip_grad_norm({n, v}, 1.0)));
  REQUIRE(n.grad().to_vector<double>()[1] == 1.0);
  REQUIRE(v.grad().to_vector<double>() == std::vector<double>{1.0, 2.0, 2.0});
  n.set_grad(from_vector(std::vector<double>{inf, 1.0}));
  REQUIRE(clip_grad_norm({n, v}, 1.0) == inf);
  REQUIRE(n.grad().to_vector<double>()[1] == 1.0);

  Tensor none = param({5.0});
  REQUIRE(clip_grad_norm({none}, 1.0) == 0.0);
  require_error([&] { clip_grad_norm({v}, 0.0); }, "clip_grad_norm: max_norm must be > 0");
}

// ---- schedules ----

TEST_CASE("ConstantLr is constant", "[optim]") {
  ConstantLr s(0.3);
  REQUIRE(s.lr(0) == 0.3);
  REQUIRE(s.lr(1000000) == 0.3);
  require_error([] { ConstantLr(-1); }, "ConstantLr: lr must be >= 0");
  require_error([&] { s.lr(-1); }, "ConstantLr: step must be >= 0");
}

TEST_CASE("WarmupCosine warms up linearly, then follows the cosine to min_lr", "[optim]") {
  const double pi = 3.14159265358979323846;
  WarmupCosine s(1.0, 10, 110, 0.1);
  REQUIRE(s.lr(0) == Approx(0.1).epsilon(1e-14));  // peak * 1 / warmup
  REQUIRE(s.lr(4) == Approx(0.5).epsilon(1e-14));
  REQUIRE(s.lr(9) == Approx(1.0).epsilon(1e-14));
  REQUIRE(s.lr(10) == Approx(1.0).epsilon(1e-14));  // decay starts at cos(0)
  REQUIRE(s.lr(35) == Approx(0.1 + 0.5 * (1 + std::sqrt(0.5)) * 0.9).epsilon(1e-14));  // a quarter in
  REQUIRE(s.lr(60) == Approx(0.55).epsilon(1e-14));  // half way: (peak + min) / 2
  REQUIRE(s.lr(109) == Approx(0.1 + 0.5 * (1 + std::cos(pi * 0.99)) * 0.9).epsilon(1e-14));
  REQUIRE(s.lr(110) == Approx(0.1).epsilon(1e-14));
  REQUIRE(s.lr(111) == 0.1);
  REQUIRE(s.lr(100000) == 0.1);
  for (int64_t k = 10; k < 110; ++k) REQUIRE(s.lr(k + 1) < s.lr(k));

  WarmupCosine no_warmup(2.0, 0, 4);  // min_lr 0
  REQUIRE(no_warmup.lr(0) == 2.0);
  REQUIRE(no_warmup.lr(2) == Approx(1.0).epsilon(1e-14));
  REQUIRE(no_warmup.lr(4) == 0.0);
  WarmupCosine warmup_only(2.0, 4, 4, 0.5);
  REQUIRE(warmup_only.lr(3) == 2.0);
  REQUIRE(warmup_only.lr(4) == 0.5);

  require_error([] { WarmupCosine(-1, 1, 2); }, "WarmupCosine: peak_lr must be >= 0");
  require_error([] { WarmupCosine(1, 1, 2, 2); }, "WarmupCosine: min_lr must be in [0, peak_lr = 1], got 2");
  require_error([] { WarmupCosine(1, -1, 2); }, "WarmupCosine: warmup_steps must be >= 0, got -1");
  require_error([] { WarmupCosine(1, 5, 4); }, "WarmupCosine: total_steps must be >= warmup_steps = 5, got 4");
  require_error([&] { s.lr(-3); }, "WarmupCosine: step must be >= 0, got -3");
}

TEST_CASE("InverseSqrt warms up linearly, then decays as 1 / sqrt(step)", "[optim]") {
  InverseSqrt s(2.0, 100);
  REQUIRE(s.lr(0) == Approx(0.02).epsilon(1e-14));
  REQUIRE(s.lr(49) == Approx(1.0).epsilon(1e-14));
  REQUIRE(s.lr(99) == Approx(2.0).epsilon(1e-14));
  REQUIRE(s.lr(100) == Approx(2.0).epsilon(1e-14));
  REQUIRE(s.lr(400) == Approx(1.0).epsilon(1e-14));
  REQUIRE(s.lr(10000) == Approx(0.2).epsilon(1e-14));
  REQUIRE(s.lr(250) == Approx(2.0 * 10 / std::sqrt(250.0)).epsilon(1e-14));
  InverseSqrt one(1.0, 1);
  REQUIRE(one.lr(0) == 1.0);
  REQUIRE(one.lr(4) == 0.5);
  require_error([] { InverseSqrt(1, 0); }, "InverseSqrt: warmup_steps must be >= 1, got 0");
  require_error([] { InverseSqrt(-1, 10); }, "InverseSqrt: peak_lr must be >= 0");
  require_error([&] { s.lr(-1); }, "InverseSqrt: step must be >= 0");
}

// ---- end to end ----

TEST_CASE("Adam minimises a quadratic to its target in 300 steps", "[optim]") {
  const std::vector<double> target_values = {1.5, -2.0, 0.3, 4.0};
  Tensor w = param({0.0, 0.0, 0.0, 0.0});
  Tensor target = from_vector(target_values);
  Adam opt({w}, 0.1);
  double first_loss = 0, last_loss = 0;
  for (int k = 0; k < 300; ++k) {
    opt.zero_grad();
    Tensor d = sub(w, target);
    Tensor loss = sum(mul(d, d));
    if (k == 0) first_loss = loss.item<double>();
    last_loss = loss.item<double>();
    loss.backward();
    opt.step();
  }
  INFO("loss " << first_loss << " -> " << last_loss);
  std::vector<double> got = w.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("w[" << i << "] = " << got[i]);
    REQUIRE(std::abs(got[i] - target_values[i]) < 1e-3);
  }
}
