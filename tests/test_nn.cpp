// nn: Module bookkeeping, the layers against their formulas, and losses
// against hand-computed values; every layer and loss is gradchecked.
#include <cmath>

#include "autograd/gradcheck.h"
#include "core/elementwise.h"
#include "core/graph.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/feedforward.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/norm.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

struct Tiny : Module {
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<LayerNorm> norm;
  Tiny()
      : fc1(register_module("fc1", std::make_shared<Linear>(4, 3, true, DType::f64))),
        fc2(register_module("fc2", std::make_shared<Linear>(3, 2, false, DType::f64))),
        norm(register_module("norm", std::make_shared<LayerNorm>(2, 1e-5, true, DType::f64))) {}
  Tensor forward(const Tensor& x) const { return norm->forward(fc2->forward(gelu(fc1->forward(x)))); }
};

}  // namespace

TEST_CASE("Module names parameters depth-first with dots and counts them", "[nn]") {
  Tiny m;
  NamedTensors named = m.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, p] : named) names.push_back(n);
  REQUIRE(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "norm.weight", "norm.bias"});
  REQUIRE(m.num_parameters() == 4 * 3 + 3 + 3 * 2 + 2 + 2);
  for (auto& [n, p] : named) REQUIRE(p.requires_grad());
  REQUIRE(m.fc1->weight.shape() == Shape{3, 4});  // [out, in] as in PyTorch
}

TEST_CASE("state_dict round trips into another module and keeps parameter identity", "[nn]") {
  Tiny a, b;
  Tensor w_before = b.fc1->weight;
  b.load_state_dict(a.state_dict());
  REQUIRE(b.fc1->weight.same(w_before));  // loaded in place: optimizers stay attached
  for (auto& [n, p] : a.state_dict()) require_close(b.state_dict().at(n), p, 0, 0);
  Tensor x = random_tensor({5, 4}, DType::f64, 7);
  require_close(b.forward(x), a.forward(x), 0, 0);
}

TEST_CASE("load_state_dict rejects missing, unexpected and mis-shaped entries and changes nothing", "[nn]") {
  Tiny m;
  auto state = m.state_dict();
  Tensor before = m.fc1->weight.clone();

  auto missing = state;
  missing.erase("fc2.weight");
  require_error([&] { m.load_state_dict(missing); }, "missing parameter 'fc2.weight'");
  m.load_state_dict(missing, /*strict=*/false);  // allowed when not strict

  auto extra = state;
  extra["head.weight"] = zeros({1}, DType::f64);
  require_error([&] { m.load_state_dict(extra); }, "unexpected parameter 'head.weight'");

  auto wrong = state;
  wrong["fc1.weight"] = zeros({4, 3}, DType::f64);
  wrong["fc1.bias"] = ones({3}, DType::f64);
  require_error([&] { m.load_state_dict(wrong); }, "fc1.weight");
  require_close(m.fc1->weight, before, 0, 0);
  REQUIRE(m.fc1->bias.to_vector<double>() != std::vector<double>{1, 1, 1});  // nothing half-loaded

  auto wrong_dtype = state;
  wrong_dtype["fc1.bias"] = zeros({3}, DType::f32);
  require_error([&] { m.load_state_dict(wrong_dtype); }, "f32");
}

TEST_CASE("train and eval reach submodules, and zero_grad drops gradients", "[nn]") {
  Tiny m;
  REQUIRE(m.norm->is_training());
  m.eval();
  REQUIRE_FALSE(m.fc1->is_training());
  m.train();
  REQUIRE(m.fc2->is_training());
  sum(m.forward(random_tensor({2, 4}, DType::f64, 3))).backward();
  REQUIRE(m.fc1->weight.grad().defined());
  m.zero_grad();
  for (auto& [n, p] : m.named_parameters()) REQUIRE_FALSE(p.grad().defined());
}

TEST_CASE("Linear computes x W^T + b, and checks its input", "[nn]") {
  Linear lin(3, 2, true, DType::f64);
  Tensor x = random_tensor({4, 3}, DType::f64, 11);
  Tensor y = lin.forward(x);
  REQUIRE(y.shape() == Shape{4, 2});
  for_each_index(y.shape(), [&](const Index& i) {
    double e = at(lin.bias, {i[1]});
    for (int64_t k = 0; k < 3; ++k) e += at(x, {i[0], k}) * at(lin.weight, {i[1], k});
    REQUIRE(at(y, i) == Approx(e).epsilon(1e-12));
  });
  // PyTorch's init bound 1/sqrt(in)
  for (double w : lin.weight.to_vector<double>()) REQUIRE(std::abs(w) <= 1 / std::sqrt(3.0));
  require_error([&] { lin.forward(random_tensor({4, 5}, DType::f64)); }, "Linear");
  require_error([] { Linear(0, 2); }, "Linear");
  require_gradcheck([&](const std::vector<Tensor>& in) { return lin.forward(in[0]); }, {grad_leaf({2, 3, 3}, 1)});
  Tensor lw = lin.weight;  // gradients reach the parameters too
  require_gradcheck([&](const std::vector<Tensor>& in) { return matmul(x, in[0].t()); }, {lw.detach().requires_grad_()});
}

TEST_CASE("Embedding looks up rows and accumulates gradients of repeated ids", "[nn]") {
  Embedding emb(5, 3, DType::f64);
  Tensor ids = from_vector<int64_t>({4, 0, 4}, {3});
  Tensor y = emb.forward(ids);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) REQUIRE(at(y, {i, j}) == at(emb.weight, {at(ids, {i}) == 4 ? 4 : 0, j}));
  sum(y).backward();
  REQUIRE(at(emb.weight.grad(), {4, 1}) == 2.0);
  REQUIRE(at(emb.weight.grad(), {0, 1}) == 1.0);
  REQUIRE(at(emb.weight.grad(), {2, 1}) == 0.0);
  require_error([&] { emb.forward(from_vector<int64_t>({5})); }, "embedding");
}

TEST_CASE("LayerNorm and RMSNorm match their formulas and gradcheck", "[nn]") {
  LayerNorm ln(4, 1e-5, true, DType::f64);
  RMSNorm rms(4, 1e-6, DType::f64);
  Tensor x = random_tensor({3, 4}, DType::f64, 5);
  Tensor a = ln.forward(x), b = rms.forward(x);
  for (int64_t r = 0; r < 3; ++r) {
    double m = 0, v = 0, ms = 0;
    for (int64_t j = 0; j < 4; ++j) m += at(x, {r, j}) / 4;
    for (int64_t j = 0; j < 4; ++j) v += (at(x, {r, j}) - m) * (at(x, {r, j}) - m) / 4;
    for (int64_t j = 0; j < 4; ++j) ms += at(x, {r, j}) * at(x, {r, j}) / 4;
    for (int64_t j = 0; j < 4; ++j) {
      REQUIRE(at(a, {r, j}) == Approx((at(x, {r, j}) - m) / std::sqrt(v + 1e-5)).epsilon(1e-12));
      REQUIRE(at(b, {r, j}) == Approx(at(x, {r, j}) / std::sqrt(ms + 1e-6)).epsilon(1e-12));
    }
  }
  {
    NoGradGuard g;
    fill_(ln.weight, 2.0);
    fill_(ln.bias, 0.5);
  }
  require_close(ln.forward(x), add(mul(a, 2.0), 0.5), 1e-12, 1e-12);
  require_gradcheck([&](const std::vector<Tensor>& in) { return ln.forward(in[0]); }, {grad_leaf({2, 3, 4}, 2)});
  require_gradcheck([&](const std::vector<Tensor>& in) { return rms.forward(in[0]); }, {grad_leaf({2, 3, 4}, 3)});
  require_error([&] { ln.forward(x.t()); }, "LayerNorm");
}

TEST_CASE("Dropout drops about p, rescales the rest, is seeded, and is the identity in eval", "[nn]") {
  Generator g1(42), g2(42);
  Dropout d1(0.25, &g1), d2(0.25, &g2);
  Tensor x = ones({20000}, DType::f64);
  Tensor y1 = d1.forward(x), y2 = d2.forward(x);
  require_close(y1, y2, 0, 0);
  double kept = 0;
  for (double v : y1.to_vector<double>()) {
    REQUIRE((v == 0.0 || v == Approx(1 / 0.75)));
    kept += v != 0;
  }
  REQUIRE(kept / 20000 == Approx(0.75).margin(0.02));
  d1.eval();
  REQUIRE(d1.forward(x).same(x));
  require_error([] { Dropout(1.0); }, "Dropout");
}

TEST_CASE("FeedForward in both activations gradchecks through its parameters", "[nn]") {
  for (FfnActivation act : {FfnActivation::gelu, FfnActivation::swiglu}) {
    FeedForward ff(4, 6, act, true, DType::f64);
    REQUIRE(ff.named_parameters().size() == (act == FfnActivation::swiglu ? 6u : 4u));
    require_gradcheck([&](const std::vector<Tensor>& in) { return ff.forward(in[0]); }, {grad_leaf({3, 4}, 9)});
    Tensor x = random_tensor({3, 4}, DType::f64, 4);
    sum(ff.forward(x)).backward();
    for (auto& [n, p] : ff.named_parameters()) REQUIRE(p.grad().defined());
  }
}

TEST_CASE("cross_entropy matches hand-computed values, ignore_index and label smoothing", "[nn][loss]") {
  Tensor logits = from_vector<double>({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor t = from_vector<int64_t>({2, 0});
  double row0 = std::log(std::exp(1) + std::exp(2) + std::exp(3)) - 3, row1 = std::log(3.0);
  REQUIRE(cross_entropy(logits, t).item<double>() == Approx((row0 + row1) / 2).epsilon(1e-12));
  CrossEntropyOptions sum_opt;
  sum_opt.reduction = Reduction::sum;
  REQUIRE(cross_entropy(logits, t, sum_opt).item<double>() == Approx(row0 + row1).epsilon(1e-12));

  CrossEntropyOptions ignore;
  ignore.ignore_index = 0;
  REQUIRE(cross_entropy(logits, t, ignore).item<double>() == Approx(row0).epsilon(1e-12));  // mean over 1 row
  REQUIRE(std::isnan(cross_entropy(logits, from_vector<int64_t>({0, 0}), ignore).item<double>()));

  // smoothing s: (1 - s) * nll + s * mean_c(-log p_c)
  CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.1;
  double lse0 = row0 + 3, uniform0 = lse0 - 2, uniform1 = row1;
  double expect = (0.9 * row0 + 0.1 * uniform0 + 0.9 * row1 + 0.1 * uniform1) / 2;
  REQUIRE(cross_entropy(logits, t, smooth).item<double>() == Approx(expect).epsilon(1e-12));

  // Large logits stay finite (log-sum-exp inside).
  Tensor big = from_vector<float>({1000, 0, -1000}, {1, 3});
  REQUIRE(cross_entropy(big, from_vector<int64_t>({0})).item<float>() == Approx(0.0).margin(1e-6));
}

TEST_CASE("cross_entropy gradchecks with smoothing, ignored targets and extra dims", "[nn][loss]") {
  Tensor t = from_vector<int64_t>({1, -100, 3, 0, 2, 2}, {2, 3});
  for (double s : {0.0, 0.2})
    for (Reduction red : {Reduction::mean, Reduction::sum}) {
      CrossEntropyOptions o;
      o.label_smoothing = s;
      o.reduction = red;
      require_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, o); },
                        {grad_leaf({2, 3, 4}, 12)});
    }
  // The ignored row gets exactly zero gradient.
  Tensor x = grad_leaf({2, 3, 4}, 13);
  cross_entropy(x, t).backward();
  for (int64_t c = 0; c < 4; ++c) REQUIRE(at(x.grad(), {0, 1, c}) == 0.0);
}

TEST_CASE("cross_entropy rejects bad targets and shapes", "[nn][loss]") {
  Tensor logits = random_tensor({2, 3}, DType::f32);
  require_error([&] { cross_entropy(logits, from_vector<int64_t>({0, 3})); }, "cross_entropy");
  require_error([&] { cross_entropy(logits, from_vector<int64_t>({0, -1})); }, "cross_entropy");
  require_error([&] { cross_entropy(logits, from_vector<int64_t>({0, 1, 2})); }, "cross_entropy");
  require_error([&] { cross_entropy(logits, from_vector<float>({0, 1})); }, "cross_entropy");
  CrossEntropyOptions o;
  o.label_smoothing = 1.5;
  require_error([&] { cross_entropy(logits, from_vector<int64_t>({0, 1}), o); }, "label_smoothing");
}

TEST_CASE("MSE and KL losses: values and gradients", "[nn][loss]") {
  Tensor a = from_vector<double>({1, 2, 3}), b = from_vector<double>({1, 0, 0});
  REQUIRE(mse_loss(a, b).item<double>() == Approx(13.0 / 3));
  REQUIRE(mse_loss(a, b, Reduction::sum).item<double>() == Approx(13.0));
  require_error([&] { mse_loss(a, zeros({2}, DType::f64)); }, "mse_loss");

  // KL of identical distributions is 0; of [log .5, log .5] vs [log .25, log .75] known.
  Tensor p = from_vector<double>({std::log(0.5), std::log(0.5)}, {1, 2});
  Tensor q = from_vector<double>({std::log(0.25), std::log(0.75)}, {1, 2});
  REQUIRE(kl_div_logits(p, p).item<double>() == Approx(0).margin(1e-15));
  double kl_pq = 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75);
  double kl_qp = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  REQUIRE(kl_div_logits(p, q).item<double>() == Approx(kl_pq).epsilon(1e-12));
  REQUIRE(symmetric_kl_logits(p, q).item<double>() == Approx((kl_pq + kl_qp) / 2).epsilon(1e-12));
  require_gradcheck([](const std::vector<Tensor>& in) { return symmetric_kl_logits(in[0], in[1]); },
                    {grad_leaf({3, 4}, 21), grad_leaf({3, 4}, 22)});
  require_gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); },
                    {grad_leaf({3, 4}, 23), grad_leaf({3, 4}, 24)});
}

TEST_CASE("xavier_uniform_ respects its bound and normal_ its moments", "[nn]") {
  Tensor w = zeros({64, 32});
  xavier_uniform_(w, 0.5);
  double bound = 0.5 * std::sqrt(6.0 / (64 + 32));
  double maxabs = 0;
  for (float v : w.to_vector<float>()) maxabs = std::max(maxabs, double(std::abs(v)));
  REQUIRE(maxabs <= bound);
  REQUIRE(maxabs > 0.9 * bound);
  Tensor n = zeros({20000});
  normal_(n, 1.0, 0.02);
  REQUIRE(mean(n).item<float>() == Approx(1.0).margin(1e-3));
  require_error([] { xavier_uniform_(zeros({3})); }, "xavier_uniform_");
}

TEST_CASE("orthogonal_ gives orthonormal rows (wide) or columns (tall) times gain, seeded", "[nn]") {
  // W W^T = gain^2 I for a wide matrix, W^T W = gain^2 I for a tall one, read element by element.
  auto gram_is = [](const Tensor& w, bool rows, double g2, double margin = 1e-12) {
    int64_t n = rows ? w.size(0) : w.size(1), len = rows ? w.size(1) : w.size(0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t k = 0; k < len; ++k) dot += rows ? at(w, {i, k}) * at(w, {j, k}) : at(w, {k, i}) * at(w, {k, j});
        INFO("gram " << i << ", " << j);
        REQUIRE(dot == Approx(i == j ? g2 : 0.0).margin(margin));
      }
  };
  Generator g1(5), g2(5), g3(6);
  Tensor wide = zeros({3, 7}, DType::f64), tall = zeros({7, 3}, DType::f64), square = zeros({4, 4}, DType::f64);
  orthogonal_(wide, 2.0, &g1);
  gram_is(wide, true, 4.0);
  orthogonal_(tall, 1.0, &g1);
  gram_is(tall, false, 1.0);
  orthogonal_(square, 0.5, &g1);
  gram_is(square, true, 0.25);
  gram_is(square, false, 0.25);

  // The same seed gives the same matrix; another seed another.
  Tensor again = zeros({3, 7}, DType::f64), other = zeros({3, 7}, DType::f64);
  orthogonal_(again, 2.0, &g2);
  orthogonal_(other, 2.0, &g3);
  require_close(again, wide, 0, 0);
  REQUIRE(amax(abs(sub(other, wide))).item<double>() > 1e-3);

  // f32 weights are filled too, to f32 precision; bad shapes throw.
  Tensor w32 = zeros({5, 8});
  orthogonal_(w32);
  gram_is(w32, true, 1.0, 1e-6);
  require_error([] { orthogonal_(zeros({4})); }, "orthogonal_");
  require_error([] { orthogonal_(zeros({0, 3})); }, "orthogonal_");
}
