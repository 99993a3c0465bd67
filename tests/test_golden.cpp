// Golden values from PyTorch: whole layers, a loss, a tiny language model and
// a few optimizer steps, compared in f64 with the files that
// scripts/golden/make_golden.py writes to tests/data/golden/ (the test itself
// needs no Python). Each file holds the inputs, the parameters under
// moegrad's names, the outputs and the gradients of sum(out * r) for fixed
// random weights r.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/elementwise.h"
#include "core/reduce.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/norm.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

// f64 on both sides: only rounding differs, so the bounds are tight.
constexpr double kRtol = 1e-10, kAtol = 1e-12;

TensorMap golden(const std::string& name) {
  return load_safetensors(std::string(MOEGRAD_TEST_DATA_DIR) + "/golden/" + name + ".safetensors").tensors;
}

Tensor get(const TensorMap& m, const std::string& name) {
  INFO("golden tensor " << name);
  auto it = m.find(name);
  REQUIRE(it != m.end());
  return it->second;
}

Tensor leaf(const Tensor& t) { return t.clone().requires_grad_(); }

void check(const std::string& what, const Tensor& actual, const Tensor& expected) {
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(actual.dtype() == DType::f64);
  require_close(actual.detach(), expected, kRtol, kAtol);
}

// Parameters stored as "<prefix><name>", returned by name for load_state_dict.
std::map<std::string, Tensor> with_prefix(const TensorMap& m, const std::string& prefix) {
  std::map<std::string, Tensor> out;
  for (const auto& kv : m)
    if (kv.first.compare(0, prefix.size(), prefix) == 0) out[kv.first.substr(prefix.size())] = kv.second;
  return out;
}

// sum(y * r): the scalar whose gradients the files hold.
void backward_weighted(const Tensor& y, const Tensor& r) { sum(mul(y, r)).backward(); }

}  // namespace

TEST_CASE("golden: Linear forward and gradients", "[golden]") {
  TensorMap g = golden("linear");
  Linear lin(5, 3, true, DType::f64);
  lin.load_state_dict({{"weight", get(g, "weight")}, {"bias", get(g, "bias")}});
  Tensor x = leaf(get(g, "x"));
  Tensor y = lin.forward(x);
  check("y", y, get(g, "y"));
  backward_weighted(y, get(g, "r"));
  check("grad x", x.grad(), get(g, "grad.x"));
  check("grad weight", lin.weight.grad(), get(g, "grad.weight"));
  check("grad bias", lin.bias.grad(), get(g, "grad.bias"));
}

TEST_CASE("golden: LayerNorm and RMSNorm forward and gradients", "[golden]") {
  TensorMap g = golden("norm");
  SECTION("LayerNorm") {
    LayerNorm ln(6, 1e-5, true, DType::f64);
    ln.load_state_dict({{"weight", get(g, "ln.weight")}, {"bias", get(g, "ln.bias")}});
    Tensor x = leaf(get(g, "x"));
    Tensor y = ln.forward(x);
    check("y", y, get(g, "ln.y"));
    backward_weighted(y, get(g, "ln.r"));
    check("grad x", x.grad(), get(g, "ln.grad.x"));
    check("grad weight", ln.weight.grad(), get(g, "ln.grad.weight"));
    check("grad bias", ln.bias.grad(), get(g, "ln.grad.bias"));
  }
  SECTION("RMSNorm") {
    RMSNorm rms(6, 1e-6, DType::f64);
    rms.load_state_dict({{"weight", get(g, "rms.weight")}});
    Tensor x = leaf(get(g, "x"));
    Tensor y = rms.forward(x);
    check("y", y, get(g, "rms.y"));
    backward_weighted(y, get(g, "rms.r"));
    check("grad x", x.grad(), get(g, "rms.grad.x"));
    check("grad weight", rms.weight.grad(), get(g, "rms.grad.weight"));
  }
}

TEST_CASE("golden: activations and softmax forward and gradients", "[golden]") {
  TensorMap g = golden("activations");
  const std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> fns = {
      {"gelu", [](const Tensor& x) { return gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, /*tanh_approximation=*/true); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"softmax", [](const Tensor& x) { return softmax(x, -1); }},
      {"softmax0", [](const Tensor& x) { return softmax(x, 0); }},
      {"log_softmax", [](const Tensor& x) { return log_softmax(x, -1); }},
  };
  for (const auto& f : fns) {
    INFO("op " << f.first);
    Tensor x = leaf(get(g, "x"));
    Tensor y = f.second(x);
    check("y", y, get(g, f.first + ".y"));
    backward_weighted(y, get(g, f.first + ".r"));
    check("grad x", x.grad(), get(g, f.first + ".grad.x"));
  }
}

TEST_CASE("golden: cross_entropy with label smoothing and ignored targets", "[golden]") {
  TensorMap g = golden("cross_entropy");
  Tensor targets = get(g, "targets");
  REQUIRE(targets.dtype() == DType::i64);
  SECTION("mean, label_smoothing 0.1") {
    Tensor logits = leaf(get(g, "logits"));
    CrossEntropyOptions opt;
    opt.label_smoothing = 0.1;
    Tensor loss = cross_entropy(logits, targets, opt);
    check("loss", loss, get(g, "loss"));
    loss.backward();
    check("grad logits", logits.grad(), get(g, "grad.logits"));
  }
  SECTION("sum, no smoothing") {
    Tensor logits = leaf(get(g, "logits"));
    CrossEntropyOptions opt;
    opt.reduction = Reduction::sum;
    Tensor loss = cross_entropy(logits, targets, opt);
    check("loss", loss, get(g, "sum.loss"));
    loss.backward();
    check("grad logits", logits.grad(), get(g, "sum.grad.logits"));
  }
}

TEST_CASE("golden: MultiHeadAttention causal and padded self-attention", "[golden]") {
  TensorMap g = golden("attention");
  Tensor pad = ne(get(g, "pad"), 0.0);  // stored as i64 0/1
  for (const char* name : {"causal", "padded", "causal_padded"}) {
    const std::string c = name;
    INFO("case " << c);
    MultiHeadAttention mha(8, 2, 0.0, true, DType::f64);
    mha.load_state_dict(with_prefix(g, "param."));
    Tensor x = leaf(get(g, "x"));
    const bool causal = c != "padded";
    Tensor y = mha.forward(x, x, causal, c == "causal" ? Tensor() : pad);
    check("y", y, get(g, c + ".y"));
    backward_weighted(y, get(g, c + ".r"));
    check("grad x", x.grad(), get(g, c + ".grad.x"));
    for (const auto& p : mha.named_parameters()) check("grad " + p.first, p.second.grad(), get(g, c + ".grad." + p.first));
  }
}

TEST_CASE("golden: DecoderLM logits, loss and parameter gradients", "[golden]") {
  TensorMap g = golden("decoder_lm");
  TransformerConfig cfg;
  cfg.vocab = 11;
  cfg.dim = 8;
  cfg.heads = 2;
  cfg.layers = 1;
  cfg.ffn_hidden = 16;
  cfg.max_len = 6;
  cfg.dtype = DType::f64;
  DecoderLM model(cfg);
  model.load_state_dict(with_prefix(g, "param."));  // strict: the names must match exactly
  Tensor logits = model.forward(get(g, "ids"));
  check("logits", logits, get(g, "logits"));
  Tensor loss = cross_entropy(logits, get(g, "targets"));
  check("loss", loss, get(g, "loss"));
  loss.backward();
  NamedTensors params = model.named_parameters();
  REQUIRE(params.size() == with_prefix(g, "grad.").size());
  for (const auto& p : params) check("grad " + p.first, p.second.grad(), get(g, "grad." + p.first));
}

TEST_CASE("golden: AdamW, Adam and nesterov SGD over three steps", "[golden]") {
  TensorMap g = golden("optim");
  auto run = [&](const std::string& name, auto make) {
    INFO("optimizer " << name);
    Tensor p = leaf(get(g, "p0"));
    auto opt = make(std::vector<Tensor>{p});
    for (int k = 0; k < 3; ++k) {
      INFO("step " << k + 1);
      p.set_grad(get(g, "g" + std::to_string(k)).clone());
      opt->step();
      check("param", p, get(g, name + ".p" + std::to_string(k + 1)));
    }
  };
  run("adamw", [](std::vector<Tensor> ps) { return std::make_unique<AdamW>(ps, 1e-2, 0.9, 0.999, 1e-8, 0.1); });
  run("adam", [](std::vector<Tensor> ps) { return std::make_unique<Adam>(ps, 1e-2, 0.9, 0.999, 1e-8, 0.1); });
  run("sgd", [](std::vector<Tensor> ps) {
    return std::make_unique<SGD>(ps, 0.1, /*momentum=*/0.9, /*weight_decay=*/0.01, /*nesterov=*/true);
  });
}
