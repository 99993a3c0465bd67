#include "apps/bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <random>

#include "apps/data.h"
#include "apps/model.h"
#include "core/copy.h"
#include "core/device.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "core/runtime.h"
#include "moe/mhmoe.h"
#include "moe/smoe.h"
#include "moe/thor.h"
#include "nn/attention.h"
#include "nn/loss.h"
#include "nn/norm.h"
#include "nn/optim.h"

namespace moegrad::app {

const std::vector<BenchCase>& bench_cases() {
  //                               name                 kind            tokens dim   hidden E   k  h   seq
  static const std::vector<BenchCase> cases = {
      {"cpu-gemm", "gemm", 2048, 2048, 2048},
      {"cpu-softmax", "softmax", 4096, 4096},
      {"cpu-layernorm", "layernorm", 4096, 512},
      {"cpu-cross-entropy", "cross_entropy", 4096, 8192},
      {"cpu-attention", "attention", 4096, 512, 0, 0, 0, 8, 256},
      {"cpu-dense", "dense", 4096, 512, 2048},
      {"cpu-smoe", "smoe", 4096, 512, 2048, 8, 2},
      {"cpu-mhmoe", "mhmoe", 4096, 512, 512, 8, 2, 4},
      {"cpu-smoe-e32", "smoe", 4096, 512, 512, 32, 2},
      {"cpu-thor", "thor", 4096, 512, 2048, 8},
      {"gpu-gemm", "gemm", 8192, 8192, 8192},
      {"gpu-softmax", "softmax", 16384, 4096},
      {"gpu-layernorm", "layernorm", 16384, 1024},
      {"gpu-cross-entropy", "cross_entropy", 16384, 32768},
      {"gpu-attention", "attention", 16384, 1024, 0, 0, 0, 16, 512},
      {"gpu-dense", "dense", 16384, 1024, 4096},
      {"gpu-smoe", "smoe", 16384, 1024, 4096, 8, 2},
      {"gpu-mhmoe", "mhmoe", 16384, 1024, 1024, 8, 2, 4},
      {"gpu-smoe-e32", "smoe", 16384, 1024, 1024, 32, 2},
      {"gpu-thor", "thor", 16384, 1024, 4096, 8},
  };
  return cases;
}

BenchCase find_bench_case(const std::string& name) {
  std::string names;
  for (const BenchCase& c : bench_cases()) {
    if (c.name == name) return c;
    names += (names.empty() ? "" : ", ") + c.name;
  }
  detail::fail("bench", "unknown case '", name, "' (named cases: ", names, ")");
}

namespace {

const char* const kKinds[] = {"gemm",      "softmax", "layernorm", "cross_entropy", "attention",
                              "dense",     "smoe",    "mhmoe",     "thor"};

bool is_layer(const std::string& kind) { return kind != "gemm" && kind != "softmax" && kind != "layernorm" && kind != "cross_entropy"; }

void check_case(const BenchCase& c) {
  MOEGRAD_CHECK(std::find(std::begin(kKinds), std::end(kKinds), c.kind) != std::end(kKinds), "bench",
                "unknown --kind '", c.kind, "' (gemm, softmax, layernorm, cross_entropy, attention, dense, smoe, mhmoe, thor)");
  MOEGRAD_CHECK(c.tokens >= 1 && c.dim >= 1, "bench", c.name, ": --tokens ", c.tokens, " and --dim ", c.dim,
                " must be >= 1");
  bool needs_hidden = c.kind == "gemm" || c.kind == "dense" || c.kind == "smoe" || c.kind == "mhmoe" || c.kind == "thor";
  MOEGRAD_CHECK(!needs_hidden || c.hidden >= 1, "bench", c.name, ": --hidden ", c.hidden, " must be >= 1 for ", c.kind);
  if (c.kind == "smoe" || c.kind == "mhmoe" || c.kind == "thor")
    MOEGRAD_CHECK(c.experts >= 1, "bench", c.name, ": --experts ", c.experts, " must be >= 1");
  if (c.kind == "smoe" || c.kind == "mhmoe")
    MOEGRAD_CHECK(c.top_k >= 1 && c.top_k <= c.experts, "bench", c.name, ": --top-k ", c.top_k,
                  " must be in 1..experts (", c.experts, ")");
  if (c.kind == "mhmoe" || c.kind == "attention")
    MOEGRAD_CHECK(c.heads >= 1 && c.dim % c.heads == 0, "bench", c.name, ": --heads ", c.heads,
                  " must be >= 1 and divide --dim ", c.dim);
  if (c.kind == "attention")
    MOEGRAD_CHECK(c.seq >= 1 && c.tokens % c.seq == 0, "bench", c.name, ": --seq ", c.seq,
                  " must be >= 1 and divide --tokens ", c.tokens);
}

struct Timing {
  double median_ms = 0, min_ms = 0;
};

// Wall time of f. A GPU runs its kernels after the launches return, so on one
// the device is drained before the clock starts and before it stops; that adds
// one synchronisation (some microseconds) to each timed call.
Timing time_ms(const std::function<void()>& f, int warmup, int repeats, Device device) {
  auto drain = [&] {
    if (device.is_cuda()) cuda_synchronize(device.index);
  };
  for (int i = 0; i < warmup; ++i) f();
  drain();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    drain();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  return {n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]), ms.front()};
}

// The side of the square f32 matmul that measures the device's GEMM ceiling:
// large enough to fill it (a GPU needs far more work than two CPU cores).
int64_t ceiling_side(Device device) { return device.is_cpu() ? 2048 : 8192; }

// The GEMM ceiling of the device: an n^3 f32 matmul, best of 5.
double gemm_ceiling_gflops(Device device, Generator& gen) {
  const int64_t n = ceiling_side(device);
  Tensor a = randn({n, n}, DType::f32, &gen, device), b = randn({n, n}, DType::f32, &gen, device);
  Timing t = time_ms([&] { matmul(a, b); }, 1, 5, device);
  return 2.0 * n * n * n / (t.min_ms * 1e-3) / 1e9;
}

MoEConfig moe_config(const BenchCase& c) {
  MoEConfig m;
  m.dim = c.dim;
  m.hidden = c.hidden;
  m.num_experts = c.experts;
  m.top_k = c.top_k;
  m.heads = c.kind == "mhmoe" ? c.heads : 1;
  m.capacity_factor = 0;  // dropless: the peer's loop over experts drops nothing
  m.eval_capacity_factor = 0;
  m.balance_weight = 0.01;
  return m;
}

// What one case runs: the forward, and the forward+backward of the loss.
struct Workload {
  std::function<Tensor()> forward;          // returns the output
  std::function<void()> forward_backward;  // one full training pass of the case
  double fwd_flops = 0;                     // GEMM FLOPs of one forward
  double fwd_bytes = 0, fwd_bwd_bytes = 0;  // for memory-bound ops: the fewest bytes moved
};

// Loss of a layer's output, as the peer computes it: mean(out^2) + aux.
Tensor layer_loss(const Tensor& out, const Module& layer) {
  Tensor loss = mean(mul(out, out));
  if (auto* moe = dynamic_cast<const MoeLayer*>(&layer); moe && moe->aux_loss().defined())
    loss = add(loss, moe->aux_loss());
  return loss;
}

Workload make_workload(const BenchCase& c, Device device, Generator& gen) {
  Workload w;
  const double T = double(c.tokens), d = double(c.dim), f = double(c.hidden);
  auto leaf = [&](const Shape& s) { return randn(s, DType::f32, &gen, device).requires_grad_(); };
  // An op's backward runs from a random output gradient, as out.backward(dout).
  auto op_workload = [&](std::function<Tensor()> fwd, const Shape& out_shape, std::vector<Tensor> leaves) {
    Tensor dout = out_shape.empty() ? Tensor() : randn(out_shape, DType::f32, &gen, device);
    w.forward = fwd;
    w.forward_backward = [fwd, dout, leaves]() mutable {
      for (Tensor& t : leaves) t.set_grad(Tensor());
      fwd().backward(dout);
    };
  };
  if (c.kind == "gemm") {
    Tensor a = leaf({c.tokens, c.dim}), b = leaf({c.dim, c.hidden});
    op_workload([a, b] { return matmul(a, b); }, {c.tokens, c.hidden}, {a, b});
    w.fwd_flops = 2 * T * d * f;
  } else if (c.kind == "softmax") {
    Tensor x = leaf({c.tokens, c.dim});
    op_workload([x] { return softmax(x, -1); }, {c.tokens, c.dim}, {x});
    w.fwd_bytes = 2 * T * d * 4;      // read x, write y
    w.fwd_bwd_bytes = 5 * T * d * 4;  // + read y and dy, write dx
  } else if (c.kind == "layernorm") {
    auto ln = std::make_shared<LayerNorm>(c.dim);
    ln->to(device);
    Tensor x = leaf({c.tokens, c.dim});
    std::vector<Tensor> leaves = ln->parameters();
    leaves.push_back(x);
    op_workload([ln, x] { return ln->forward(x); }, {c.tokens, c.dim}, leaves);
    w.fwd_bytes = 2 * T * d * 4;
    w.fwd_bwd_bytes = 5 * T * d * 4;
  } else if (c.kind == "cross_entropy") {
    Tensor x = leaf({c.tokens, c.dim});
    Tensor y = cast(mul(rand({c.tokens}, DType::f32, &gen, device), double(c.dim) - 0.5), DType::i64);
    op_workload([x, y] { return cross_entropy(x, y); }, {}, {x});
    w.fwd_bytes = T * d * 4;          // read the logits
    w.fwd_bwd_bytes = 3 * T * d * 4;  // + read them again, write their gradient
  } else {
    std::shared_ptr<Module> layer;
    std::function<Tensor(const Tensor&)> run;
    Shape in_shape = {c.tokens, c.dim};
    if (c.kind == "attention") {
      auto mha = std::make_shared<MultiHeadAttention>(c.dim, c.heads);
      layer = mha;
      in_shape = {c.tokens / c.seq, c.seq, c.dim};
      run = [mha](const Tensor& x) { return mha->forward(x, x, /*causal=*/true); };
      const double B = double(c.tokens / c.seq), S = double(c.seq);
      w.fwd_flops = 4 * 2 * T * d * d + 2 * 2 * B * S * S * d;  // 4 projections, QK^T and AV (all of them)
    } else if (c.kind == "dense") {
      auto ffn = std::make_shared<FeedForward>(c.dim, c.hidden, FfnActivation::gelu, /*bias=*/false);
      layer = ffn;
      run = [ffn](const Tensor& x) { return ffn->forward(x); };
      w.fwd_flops = T * double(dense_cost(c.dim, c.hidden, FfnActivation::gelu, false).flops);
    } else if (c.kind == "smoe") {
      auto moe = std::make_shared<MoE>(moe_config(c));
      layer = moe;
      run = [moe](const Tensor& x) { return moe->forward(x); };
      w.fwd_flops = T * double(smoe_cost(moe_config(c)).flops);
    } else if (c.kind == "mhmoe") {
      auto moe = std::make_shared<MHMoE>(moe_config(c));
      layer = moe;
      run = [moe](const Tensor& x) { return moe->forward(x); };
      w.fwd_flops = T * double(mhmoe_cost(moe_config(c)).flops);
    } else {  // thor
      ThorConfig th;
      th.dim = c.dim;
      th.hidden = c.hidden;
      th.num_experts = c.experts;
      th.bias = false;  // the benchmark's expert FFN has none
      auto thor = std::make_shared<Thor>(th);
      layer = thor;
      run = [thor](const Tensor& x) { return thor->forward(x); };
      w.fwd_flops = T * double(dense_cost(c.dim, c.hidden, FfnActivation::gelu, false).flops);
    }
    layer->to(device);
    Tensor x = leaf(in_shape);
    w.forward = [run, x] { return run(x); };
    w.forward_backward = [run, layer, x]() mutable {
      layer->zero_grad();
      x.set_grad(Tensor());
      layer_loss(run(x), *layer).backward();
    };
  }
  return w;
}

void bench_case(const BenchCase& c, const BenchOptions& o, Device device, double ceiling, Generator& gen,
                std::ostream& out) {
  Workload w = make_workload(c, device, gen);
  for (const std::string mode : {"fwd", "fwd+bwd"}) {
    if (o.mode != "both" && o.mode != mode) continue;
    Timing t;
    if (mode == "fwd") {
      t = time_ms([&] {
        NoGradGuard no_grad;
        w.forward();
      }, o.warmup, o.repeats, device);
    } else {
      t = time_ms(w.forward_backward, o.warmup, o.repeats, device);
    }
    nlohmann::json j = {{"bench", is_layer(c.kind) ? "layer" : "op"},
                        {"case", c.name},
                        {"kind", c.kind},
                        {"mode", mode},
                        {"device", device.str()},
                        {"dtype", "f32"},
                        {"ms", t.median_ms},
                        {"ms_min", t.min_ms},
                        {"repeats", o.repeats}};
    const double flops = w.fwd_flops * (mode == "fwd" ? 1 : 3);
    if (flops > 0) {
      j["gflop"] = flops / 1e9;
      j["gflops"] = flops / (t.median_ms * 1e-3) / 1e9;
      j["ceiling_gflops"] = ceiling;
      j["ceiling_fraction"] = j["gflops"].get<double>() / ceiling;
    }
    const double bytes = mode == "fwd" ? w.fwd_bytes : w.fwd_bwd_bytes;
    if (bytes > 0) j["gbps"] = bytes / (t.median_ms * 1e-3) / 1e9;
    out << j.dump() << std::endl;
  }
}

// Training steps of the default LM of one family on random tokens: what
// `moegrad train` does per step (apps/train.cpp), minus data loading from disk.
void bench_train(const std::string& model, const BenchOptions& o, Device device, std::ostream& out) {
  RunConfig c;
  c.model = model;
  c.capacity_factor = 0;  // dropless, as the peer
  c.eval_capacity_factor = 0;
  c.seed = o.seed + 1;
  const int64_t vocab = 256;
  std::vector<int32_t> tokens(200000);
  std::mt19937 rng(uint32_t(o.seed));
  for (int32_t& t : tokens) t = int32_t(rng() % vocab);
  auto lm = build_model(c, vocab);
  lm->to(device);
  std::vector<Tensor> params = lm->parameters();
  AdamW opt(params, c.lr, 0.9, 0.95, 1e-8, c.weight_decay);
  Generator data_gen(o.seed + 7919);
  Timing t = time_ms([&] {
    auto [x, y] = sample_batch(tokens, c.batch, c.seq_len, data_gen);
    opt.zero_grad();
    training_loss(*lm, c, x.to(device), y.to(device)).backward();
    clip_grad_norm(params, c.clip);
    opt.step();
  }, 2, int(o.train_steps), device);
  const double tokens_per_step = double(c.batch * c.seq_len);
  nlohmann::json j = {{"bench", "train"},        {"model", model},
                      {"device", device.str()},  {"params", lm->num_parameters()},
                      {"batch", c.batch},        {"seq_len", c.seq_len},
                      {"dim", c.dim},            {"layers", c.layers},
                      {"ms", t.median_ms},       {"ms_min", t.min_ms},
                      {"steps", o.train_steps},  {"tokens_per_s", tokens_per_step / (t.median_ms * 1e-3)}};
  out << j.dump() << std::endl;
}

}  // namespace

void check_bench_options(const BenchOptions& o) {
  usable_device(o.device, "bench");
  MOEGRAD_CHECK(o.mode == "fwd" || o.mode == "fwd+bwd" || o.mode == "both", "bench", "--mode '", o.mode,
                "' (expected fwd, fwd+bwd or both)");
  MOEGRAD_CHECK(o.warmup >= 0, "bench", "--warmup ", o.warmup, " must be >= 0");
  MOEGRAD_CHECK(o.repeats >= 1, "bench", "--repeats ", o.repeats, " must be >= 1");
  MOEGRAD_CHECK(o.train_steps >= 1, "bench", "--steps ", o.train_steps, " must be >= 1");
  for (const std::string& m : o.models)
    MOEGRAD_CHECK(m == "dense" || m == "smoe" || m == "mhmoe" || m == "thor", "bench", "--models: unknown model '", m,
                  "' (dense, smoe, mhmoe, thor)");
  for (const BenchCase& c : o.cases) check_case(c);
}

void run_bench(const BenchOptions& o, std::ostream& out) {
  check_bench_options(o);
  const Device device = parse_device(o.device);
  Generator gen(o.seed);
  out << nlohmann::json{{"bench", "machine"},
                        {"device", device.str()},
                        {"blas_core", blas_core_name()},
                        {"blas_threads", blas_num_threads()},
                        {"omp_threads", omp_max_threads()}}
             .dump()
      << std::endl;
  if (o.train) {
    for (const std::string& m : o.models) bench_train(m, o, device, out);
    return;
  }
  const double ceiling = gemm_ceiling_gflops(device, gen);
  const std::string side = std::to_string(ceiling_side(device));
  out << nlohmann::json{{"bench", "ceiling"},
                        {"what", "f32 matmul " + side + "^3, best of 5" + (cuda_tf32() ? " (TF32)" : "")},
                        {"device", device.str()},
                        {"gflops", ceiling}}
             .dump()
      << std::endl;
  std::vector<BenchCase> cases = o.cases;
  if (cases.empty()) {
    const std::string prefix = device.is_cpu() ? "cpu-" : "gpu-";
    for (const BenchCase& c : bench_cases())
      if (c.name.rfind(prefix, 0) == 0) cases.push_back(c);
  }
  for (const BenchCase& c : cases) bench_case(c, o, device, ceiling, gen, out);
}

}  // namespace moegrad::app
