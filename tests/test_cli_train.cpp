// `moegrad train` and what it leaves behind, end to end on tests/data's
// chapter of Moby-Dick: every model family learns, a run directory holds its
// config, metrics and rotated checkpoints, an interrupted run resumes bit for
// bit, checkpoints reload from any of their paths and evaluate to the run's
// last validation, sampling is seeded, and the binary's --config, --resume,
// Ctrl-C, eval, generate and plot behave. Every run is tiny (dim 16-32, one
// or two blocks, a few dozen steps) so the whole [cli] set takes seconds.
//
// train() is called in-process where the test needs its hooks or its result;
// the binary (MOEGRAD_CLI_PATH) where the command line itself is under test.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/data.h"
#include "apps/evaluate.h"
#include "apps/model.h"
#include "apps/run_config.h"
#include "apps/train.h"
#include "cli.h"
#include "core/copy.h"
#include "core/device.h"
#include "core/error.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kFixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";

// A tiny run of `model` on the fixture: 40 steps of 4 x 32 bytes, two blocks
// of width 32, both MoE (4 experts of hidden 32), validation at 20 and 40,
// checkpoints every 10 of which 2 are kept.
RunConfig tiny(const std::string& model, const std::string& run_dir) {
  RunConfig c;
  c.data = kFixture;
  c.valid_fraction = 0.1;
  c.model = model;
  c.dim = 32;
  c.layers = 2;
  c.attn_heads = 2;
  c.seq_len = 32;
  c.ffn_hidden = 32;
  c.experts = 4;
  c.top_k = 2;
  c.moe_every = 1;
  c.moe_heads = 2;
  c.expert_hidden = 32;  // MH-MoE's parameter-matched default would be far larger
  c.steps = 40;
  c.batch = 4;
  c.lr = 3e-3;
  c.min_lr = 3e-4;
  c.warmup = 4;
  c.seed = 11;
  c.log_every = 5;
  c.eval_every = 20;
  c.eval_batches = 2;
  c.checkpoint_every = 10;
  c.keep_checkpoints = 2;
  c.run_dir = run_dir;
  return c;
}

// Every line of a metrics.jsonl, parsed (a torn line fails the test).
std::vector<json> read_records(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    INFO("line: " << line);
    json j = json::parse(line, nullptr, false);
    REQUIRE(!j.is_discarded());
    REQUIRE(j.is_object());
    out.push_back(j);
  }
  return out;
}

std::vector<json> of_kind(const std::vector<json>& records, const std::string& kind) {
  std::vector<json> out;
  for (const json& r : records)
    if (r.value("kind", "") == kind) out.push_back(r);
  return out;
}

// The records of one kind without the fields that measure time, which two
// identical runs need not share.
std::vector<json> timeless(const std::vector<json>& records, const std::string& kind) {
  std::vector<json> out = of_kind(records, kind);
  for (json& r : out) {
    r.erase("ms");
    r.erase("tokens_per_s");
  }
  return out;
}

std::vector<int64_t> steps_of(const std::vector<json>& records) {
  std::vector<int64_t> out;
  for (const json& r : records) out.push_back(r.at("step").get<int64_t>());
  return out;
}

// Names of the files in a directory, sorted.
std::set<std::string> file_names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// Same names, dtypes, shapes and values, element for element (==).
void require_identical(const TensorMap& a, const TensorMap& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO("tensor " << name);
    REQUIRE(b.count(name) == 1);
    const Tensor& u = b.at(name);
    REQUIRE(t.dtype() == u.dtype());
    REQUIRE(t.shape() == u.shape());
    std::vector<double> x = cast(t, DType::f64).to_vector<double>(), y = cast(u, DType::f64).to_vector<double>();
    REQUIRE(x == y);
  }
}

// The validation batches train() evaluates on, rebuilt from the config.
std::vector<std::pair<Tensor, Tensor>> valid_batches(const RunConfig& c, const Tokenizer& tok) {
  TokenSplit split = split_tokens(tok.encode(read_text_file(c.data)), c.valid_fraction, c.seq_len);
  return eval_batches(split.valid, c.batch, c.seq_len, c.eval_batches);
}

std::shared_ptr<DecoderLM> model_of(const Checkpoint& ck) {
  auto model = build_model(ck.config, ck.tokenizer.vocab_size());
  model->load_state_dict(ck.model);
  return model;
}

bool on_path(const std::string& program) { return shell("command -v " + program + " > /dev/null 2>&1") == 0; }

// A finished tiny run per model, trained once and shared by the tests that
// only read it; removed at exit.
struct TrainedRun {
  RunConfig config;
  TrainResult result;
  std::string output;
};

const TrainedRun& trained(const std::string& model) {
  static ScratchDir root("shared");
  static std::map<std::string, TrainedRun> runs;
  auto it = runs.find(model);
  if (it != runs.end()) return it->second;
  TrainedRun run;
  run.config = tiny(model, root / model);
  std::ostringstream out;
  run.result = train(run.config, false, MOEGRAD_TEST_DATA_DIR, out);
  run.output = out.str();
  return runs.emplace(model, run).first->second;
}

}  // namespace

TEST_CASE("train: each model family learns and leaves a complete run directory", "[cli]") {
  for (const std::string model : {"dense", "smoe", "mhmoe", "thor"}) {
    INFO("model " << model);
    const TrainedRun& run = trained(model);
    const RunConfig& c = run.config;
    const fs::path dir(c.run_dir);

    // Learned: well under the uniform guess log(256) = 5.55 nats.
    CHECK(run.result.step == 40);
    CHECK_FALSE(run.result.interrupted);
    INFO("validation loss " << run.result.valid_loss);
    CHECK(run.result.valid_loss < 4.5);
    CHECK(run.result.valid_ppl == Approx(std::exp(run.result.valid_loss)).epsilon(1e-12));
    CHECK(run.output.find("valid  step 40") != std::string::npos);

    // config.json is the effective config.
    json saved = json::parse(read_file(dir / "config.json"));
    CHECK(saved == to_json(c));
    CHECK(to_json(from_json(saved)) == saved);

    // metrics.jsonl: a train record every log_every steps, validations at
    // eval_every and at the end.
    std::vector<json> records = read_records(dir / "metrics.jsonl");
    std::vector<json> trains = of_kind(records, "train"), valids = of_kind(records, "valid");
    CHECK(steps_of(trains) == std::vector<int64_t>{5, 10, 15, 20, 25, 30, 35, 40});
    for (const json& r : trains) {
      INFO(r.dump());
      for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "ms"}) REQUIRE(r.at(key).is_number());
      CHECK(std::isfinite(r["loss"].get<double>()));
      CHECK(r["lr"].get<double>() > 0);
      CHECK(r["lr"].get<double>() <= c.lr);
      CHECK(r["grad_norm"].get<double>() >= 0);
      CHECK(r["tokens_per_s"].get<double>() > 0);
    }
    CHECK(trains.front()["loss"].get<double>() > trains.back()["loss"].get<double>());
    REQUIRE(steps_of(valids) == std::vector<int64_t>{20, 40});
    const int64_t tokens = c.eval_batches * c.batch * c.seq_len;
    for (const json& r : valids) {
      INFO(r.dump());
      REQUIRE(r.at("loss").is_number());
      REQUIRE(r.at("ppl").is_number());
      CHECK(r["ppl"].get<double>() == Approx(std::exp(r["loss"].get<double>())).epsilon(1e-12));
      CHECK(r.at("tokens") == tokens);
      REQUIRE(r.at("layers").is_array());
      if (model == "dense") {
        CHECK(r["layers"].empty());
        continue;
      }
      REQUIRE(r["layers"].size() == 2);  // moe_every 1: both blocks
      // Routed choices per token: top_k for SMoE, top_k per sub-token for
      // MH-MoE, one expert for THOR.
      const int64_t per_token = model == "smoe" ? c.top_k : model == "mhmoe" ? c.top_k * c.moe_heads : 1;
      for (const json& l : r["layers"]) {
        INFO(l.dump());
        REQUIRE(l.at("tokens_per_expert").size() == size_t(c.experts));
        int64_t choices = 0;
        for (const json& n : l["tokens_per_expert"]) choices += n.get<int64_t>();
        CHECK(choices == tokens * per_token);
        for (const char* key : {"dropped_fraction", "entropy", "load_imbalance", "activation_per_unit"})
          CHECK(l.at(key).is_number());
      }
    }
    CHECK(valids.back()["loss"].get<double>() == run.result.valid_loss);

    // Checkpoints every 10 steps, the newest 2 kept, each a sidecar and its weights.
    CHECK(file_names(dir / "checkpoints") == std::set<std::string>{"step-00000030.json", "step-00000030.safetensors",
                                                                   "step-00000040.json", "step-00000040.safetensors"});
    CHECK(list_checkpoints(c.run_dir).size() == 2);
  }
}

namespace {

// Trains `c` uninterrupted (run A) and, in a second directory, stops it after
// step `stop_at` (by request_stop() or by raising SIGINT from the step hook),
// then resumes it (run B). Requires the per-step losses, the validations, the
// final weights, optimizer state and random state of A and B to be equal bit
// for bit, and B's metrics to hold each step once.
void require_exact_resume(RunConfig c, int64_t stop_at, bool by_signal) {
  ScratchDir scratch("resume_" + c.model);
  std::ostringstream out;

  c.run_dir = scratch / "a";
  std::vector<double> losses_a;
  TrainHooks record_a;
  record_a.after_step = [&](int64_t step, double loss) {
    REQUIRE(step == int64_t(losses_a.size()) + 1);
    losses_a.push_back(loss);
  };
  TrainResult a = train(c, false, MOEGRAD_TEST_DATA_DIR, out, record_a);
  REQUIRE(a.step == c.steps);
  REQUIRE_FALSE(a.interrupted);

  c.run_dir = scratch / "b";
  std::vector<double> losses_b;
  TrainHooks stop_b;
  stop_b.after_step = [&](int64_t step, double loss) {
    REQUIRE(step == int64_t(losses_b.size()) + 1);
    losses_b.push_back(loss);
    if (step != stop_at) return;
    if (by_signal)
      std::raise(SIGINT);
    else
      request_stop();
  };
  TrainResult b1 = train(c, false, MOEGRAD_TEST_DATA_DIR, out, stop_b);
  REQUIRE(b1.interrupted);
  REQUIRE(b1.step == stop_at);
  REQUIRE(losses_b.size() == size_t(stop_at));
  std::vector<std::string> saved = list_checkpoints(c.run_dir);
  REQUIRE_FALSE(saved.empty());
  char stem[32];
  std::snprintf(stem, sizeof stem, "step-%08lld.json", static_cast<long long>(stop_at));
  CHECK(fs::path(saved.back()).filename() == stem);
  CHECK(load_checkpoint(c.run_dir).step == stop_at);

  // Resume with a config whose other settings are ignored: the run's own apply.
  RunConfig again;
  again.run_dir = c.run_dir;
  again.steps = c.steps;
  TrainResult b2 = train(again, true, MOEGRAD_TEST_DATA_DIR, out, stop_b);
  REQUIRE_FALSE(b2.interrupted);
  REQUIRE(b2.step == c.steps);

  CHECK(losses_b == losses_a);  // every step, bit for bit
  CHECK(b2.valid_loss == a.valid_loss);

  Checkpoint ca = load_checkpoint(scratch / "a"), cb = load_checkpoint(scratch / "b");
  CHECK(ca.step == c.steps);
  CHECK(cb.step == c.steps);
  require_identical(ca.model, cb.model);
  require_identical(ca.optimizer, cb.optimizer);
  CHECK(ca.random.global.offset() == cb.random.global.offset());
  CHECK(ca.random.data.offset() == cb.random.data.offset());
  CHECK(ca.random.layer_offsets == cb.random.layer_offsets);

  // B's log: each step once, and the same records as A's.
  std::vector<json> ra = read_records(scratch / "a/metrics.jsonl"), rb = read_records(scratch / "b/metrics.jsonl");
  for (const char* kind : {"train", "valid"}) {
    INFO("kind " << kind);
    std::vector<int64_t> steps = steps_of(of_kind(rb, kind));
    CHECK(std::set<int64_t>(steps.begin(), steps.end()).size() == steps.size());
    CHECK(std::is_sorted(steps.begin(), steps.end()));
    CHECK(timeless(rb, kind) == timeless(ra, kind));
  }
  json config_a = json::parse(read_file(scratch / "a/config.json"));
  json config_b = json::parse(read_file(scratch / "b/config.json"));
  config_a.erase("run_dir");
  config_b.erase("run_dir");
  CHECK(config_a == config_b);
}

// A shorter run for the resume checks: 16 steps, every one logged, a
// validation every 4 (THOR's draw experts at validation too).
RunConfig resumable(const std::string& model) {
  RunConfig c = tiny(model, "");
  c.steps = 16;
  c.log_every = 1;
  c.eval_every = 4;
  c.checkpoint_every = 5;  // the stop at step 8 is not a checkpoint step
  c.keep_checkpoints = 2;
  return c;
}

}  // namespace

TEST_CASE("train: an SMoE run with random second experts resumes bit for bit after request_stop", "[cli]") {
  RunConfig c = resumable("smoe");
  c.second_expert = "random";  // the routers draw from the layers' generators
  require_exact_resume(c, 8, false);
}

TEST_CASE("train: a THOR run resumes bit for bit after SIGINT", "[cli]") {
  require_exact_resume(resumable("thor"), 8, true);
}

TEST_CASE("train: a dense run with dropout resumes bit for bit when stopped at a checkpoint step", "[cli]") {
  RunConfig c = resumable("dense");
  c.dropout = 0.1;         // draws from the default generator
  c.checkpoint_every = 8;  // the stop coincides with a periodic checkpoint
  require_exact_resume(c, 8, false);
}

TEST_CASE("train: an MH-MoE run with sampled second experts resumes bit for bit after SIGINT", "[cli]") {
  RunConfig c = resumable("mhmoe");
  c.second_expert = "sampling";
  require_exact_resume(c, 7, true);
}

TEST_CASE("train: a run that died after its last checkpoint resumes from it, dropping the later records", "[cli]") {
  ScratchDir scratch("crash");
  RunConfig c = resumable("smoe");
  c.second_expert = "random";
  c.checkpoint_every = 4;
  std::ostringstream out;

  c.run_dir = scratch / "a";
  std::vector<double> losses_a;
  TrainHooks record_a;
  record_a.after_step = [&](int64_t, double loss) { losses_a.push_back(loss); };
  TrainResult a = train(c, false, MOEGRAD_TEST_DATA_DIR, out, record_a);

  // B dies in step 10 (after logging step 9, two steps past its checkpoint
  // at 8) and leaves a torn last line, as a killed process would.
  c.run_dir = scratch / "b";
  TrainHooks crash;
  crash.after_step = [](int64_t step, double) {
    if (step == 10) throw std::runtime_error("simulated crash");
  };
  REQUIRE_THROWS_WITH(train(c, false, MOEGRAD_TEST_DATA_DIR, out, crash), "simulated crash");
  const fs::path metrics = scratch.path / "b/metrics.jsonl";
  REQUIRE(steps_of(of_kind(read_records(metrics), "train")).back() == 9);
  REQUIRE(load_checkpoint(c.run_dir).step == 8);
  {
    std::ofstream torn(metrics, std::ios::app);
    torn << "{\"kind\": \"train\", \"step\": 1";
  }

  RunConfig again;
  again.run_dir = c.run_dir;
  again.steps = c.steps;
  std::vector<double> losses_b;
  TrainHooks record_b;
  record_b.after_step = [&](int64_t step, double loss) {
    REQUIRE(step == 9 + int64_t(losses_b.size()));
    losses_b.push_back(loss);
  };
  TrainResult b = train(again, true, MOEGRAD_TEST_DATA_DIR, out, record_b);
  REQUIRE(b.step == c.steps);
  CHECK(losses_b == std::vector<double>(losses_a.begin() + 8, losses_a.end()));
  CHECK(b.valid_loss == a.valid_loss);
  std::vector<json> ra = read_records(scratch.path / "a/metrics.jsonl"), rb = read_records(metrics);
  for (const char* kind : {"train", "valid"}) {
    INFO("kind " << kind);
    CHECK(timeless(rb, kind) == timeless(ra, kind));
  }
}

TEST_CASE("train: resuming a finished run logs no step twice", "[cli]") {
  ScratchDir scratch("finished");
  RunConfig c = resumable("dense");
  c.steps = 8;
  c.run_dir = scratch / "run";
  std::ostringstream out;
  TrainResult first = train(c, false, MOEGRAD_TEST_DATA_DIR, out);
  RunConfig again;
  again.run_dir = c.run_dir;
  again.steps = c.steps;
  int calls = 0;
  TrainHooks count;
  count.after_step = [&](int64_t, double) { ++calls; };
  TrainResult second = train(again, true, MOEGRAD_TEST_DATA_DIR, out, count);
  CHECK(calls == 0);
  CHECK(second.step == 8);
  CHECK_FALSE(second.interrupted);
  CHECK(second.valid_loss == first.valid_loss);
  std::vector<json> records = read_records(fs::path(c.run_dir) / "metrics.jsonl");
  for (const char* kind : {"train", "valid"}) {
    INFO("kind " << kind);
    std::vector<int64_t> steps = steps_of(of_kind(records, kind));
    CHECK(std::set<int64_t>(steps.begin(), steps.end()).size() == steps.size());
  }
  CHECK(load_checkpoint(c.run_dir).step == 8);
}

TEST_CASE("load_checkpoint: a run, its checkpoints dir, a sidecar and a weights file name the same checkpoint",
          "[cli]") {
  const TrainedRun& run = trained("smoe");
  const fs::path dir(run.config.run_dir);
  const std::string newest = (dir / "checkpoints/step-00000040.json").string();
  Checkpoint ref = load_checkpoint(run.config.run_dir);
  CHECK(ref.step == 40);
  CHECK(fs::equivalent(ref.sidecar_path, newest));
  CHECK(ref.config.seed == run.config.seed);
  CHECK(ref.tokenizer == Tokenizer::byte_level());
  for (const std::string& path : {(dir / "").string(), (dir / "checkpoints").string(), newest,
                                  (dir / "checkpoints/step-00000040.safetensors").string()}) {
    INFO("path " << path);
    Checkpoint ck = load_checkpoint(path);
    CHECK(ck.step == 40);
    CHECK(fs::equivalent(ck.sidecar_path, newest));
    require_identical(ck.model, ref.model);
  }
  // A file names its own checkpoint, not the newest.
  CHECK(load_checkpoint((dir / "checkpoints/step-00000030.safetensors").string()).step == 30);
  CHECK(load_checkpoint((dir / "checkpoints/step-00000030.json").string()).step == 30);
}

TEST_CASE("load_checkpoint: a checkpoints dir given with a trailing slash", "[cli]") {
  const TrainedRun& run = trained("smoe");
  CHECK(load_checkpoint(run.config.run_dir + "/checkpoints/").step == 40);
}

TEST_CASE("evaluate: a reloaded checkpoint gives the run's last validation loss", "[cli]") {
  // Not THOR: its default random_sequence inference draws experts at
  // validation from a generator the reloaded model starts afresh.
  for (const std::string model : {"dense", "smoe", "mhmoe"}) {
    INFO("model " << model);
    const TrainedRun& run = trained(model);
    Checkpoint ck = load_checkpoint(run.config.run_dir);
    auto lm = model_of(ck);
    EvalResult e = evaluate(*lm, valid_batches(ck.config, ck.tokenizer));
    std::vector<json> valids = of_kind(read_records(fs::path(run.config.run_dir) / "metrics.jsonl"), "valid");
    REQUIRE_FALSE(valids.empty());
    CHECK(e.loss == valids.back()["loss"].get<double>());
    CHECK(e.loss == run.result.valid_loss);
    CHECK(e.tokens == valids.back()["tokens"].get<int64_t>());
    CHECK(lm->is_training());  // evaluate restores the mode
  }
}

TEST_CASE("train --device cuda: the GPU run follows the CPU run, and its checkpoints resume and evaluate anywhere",
          "[cli][cuda]") {
  if (!cuda_is_available()) {
    WARN("skipped: no CUDA backend in this build or no GPU visible");
    return;
  }
  ScratchDir dir("train-cuda");
  for (const std::string model : {"dense", "smoe", "mhmoe", "thor"}) {
    INFO("model " << model);
    // The CPU run is the shared one; the GPU run differs only in --device.
    const TrainedRun& cpu = trained(model);
    RunConfig c = cpu.config;
    c.device = "cuda";
    c.run_dir = dir / model;
    std::ostringstream out;
    TrainResult gpu = train(c, false, MOEGRAD_TEST_DATA_DIR, out);
    std::vector<json> a = of_kind(read_records(fs::path(cpu.config.run_dir) / "metrics.jsonl"), "train");
    std::vector<json> b = of_kind(read_records(fs::path(c.run_dir) / "metrics.jsonl"), "train");
    REQUIRE(a.size() == b.size());
    // Same weights, same batches, same draws: the first logged losses agree to
    // f32 rounding; later ones drift apart only as far as rounding carries them.
    CHECK(b.front()["loss"].get<double>() == Approx(a.front()["loss"].get<double>()).epsilon(1e-4));
    CHECK(gpu.valid_loss == Approx(cpu.result.valid_loss).margin(0.05));
    CHECK(gpu.valid_loss < 0.8 * std::log(256.0));  // it learned

    // The checkpoint holds CPU tensors: it evaluates on either device alike.
    Checkpoint ck = load_checkpoint(c.run_dir);
    if (model != "thor") {  // THOR's random_sequence draws start afresh in a reloaded model
      EvalResult on_gpu = evaluate_checkpoint(ck, "", 0, "cuda"), on_cpu = evaluate_checkpoint(ck, "", 0, "cpu");
      CHECK(on_gpu.loss == Approx(gpu.valid_loss).epsilon(1e-5));
      CHECK(on_cpu.loss == Approx(on_gpu.loss).epsilon(1e-4));
    }
  }
  // A GPU run resumes on the CPU (the flag replaces the run's device) and back.
  RunConfig c = tiny("smoe", dir / "moves");
  c.device = "cuda";
  c.steps = 20;
  std::ostringstream out;
  train(c, false, MOEGRAD_TEST_DATA_DIR, out);
  RunConfig more;
  more.run_dir = c.run_dir;
  more.steps = 30;
  more.device = "cpu";
  more.nonfinite = "";
  CHECK(train(more, true, MOEGRAD_TEST_DATA_DIR, out).step == 30);
  CHECK(load_checkpoint(c.run_dir).config.device == "cpu");
  more.steps = 40;
  more.device = "";  // keeps the run's: cpu
  TrainResult last = train(more, true, MOEGRAD_TEST_DATA_DIR, out);
  CHECK(last.step == 40);
  CHECK(last.valid_loss < 0.8 * std::log(256.0));
}

TEST_CASE("generate: seeded, greedy at temperature 0, max_tokens long", "[cli]") {
  const TrainedRun& run = trained("smoe");
  Checkpoint ck = load_checkpoint(run.config.run_dir);
  auto lm = model_of(ck);
  const std::string prompt = "Call me ";

  GenerateOptions o;
  o.max_tokens = 40;
  o.temperature = 1.0;
  o.seed = 3;
  const std::string a = generate(*lm, ck.tokenizer, prompt, o);
  CHECK(a.size() == 40);  // byte tokens: one byte each
  CHECK(generate(*lm, ck.tokenizer, prompt, o) == a);
  o.seed = 4;
  CHECK(generate(*lm, ck.tokenizer, prompt, o) != a);

  GenerateOptions greedy;
  greedy.max_tokens = 25;
  greedy.temperature = 0;
  greedy.seed = 1;
  const std::string g = generate(*lm, ck.tokenizer, prompt, greedy);
  CHECK(g.size() == 25);
  greedy.seed = 99;  // no draws at temperature 0
  CHECK(generate(*lm, ck.tokenizer, prompt, greedy) == g);
  // Sampling among the single most likely token is greedy decoding.
  GenerateOptions top1;
  top1.max_tokens = 25;
  top1.temperature = 1.0;
  top1.top_k = 1;
  top1.seed = 7;
  CHECK(generate(*lm, ck.tokenizer, prompt, top1) == g);

  GenerateOptions none = greedy;
  none.max_tokens = 0;
  CHECK(generate(*lm, ck.tokenizer, prompt, none).empty());
  // A prompt longer than the context window (seq_len 32) is cut to its end.
  GenerateOptions few = greedy;
  few.max_tokens = 5;
  CHECK(generate(*lm, ck.tokenizer, std::string(100, 'a') + prompt, few).size() == 5);
  CHECK(lm->is_training());
}

TEST_CASE("moegrad eval and generate agree with the library on a run", "[cli]") {
  const TrainedRun& run = trained("smoe");
  ScratchDir logs("eval_logs");
  CliResult e = run_cli({"eval", run.config.run_dir, "--json"}, logs);
  INFO("stderr: " << e.err);
  REQUIRE(e.status == 0);
  json j = json::parse(e.out);
  CHECK(j.at("step") == 40);
  CHECK(j.at("loss").get<double>() == run.result.valid_loss);
  CHECK(j.at("layers").size() == 2);

  Checkpoint ck = load_checkpoint(run.config.run_dir);
  auto lm = model_of(ck);
  GenerateOptions o;
  o.max_tokens = 30;
  o.temperature = 0.8;
  o.seed = 5;
  CliResult g = run_cli({"generate", run.config.run_dir, "--prompt", "Whale", "--max-tokens", "30", "--temperature",
                         "0.8", "--seed", "5"},
                        logs);
  REQUIRE(g.status == 0);
  CHECK(g.out == "Whale" + generate(*lm, ck.tokenizer, "Whale", o) + "\n");
}

TEST_CASE("moegrad train --config: the file's settings, under the flags given", "[cli]") {
  ScratchDir scratch("config");
  const std::string run_dir = scratch / "run";
  json file = {{"data", kFixture},  {"model", "smoe"},   {"dim", 16},
               {"layers", 1},       {"attn_heads", 2},   {"seq_len", 16},
               {"ffn_hidden", 32},  {"experts", 4},      {"top_k", 2},
               {"steps", 6},        {"batch", 2},        {"warmup", 2},
               {"lr", 0.004},       {"seed", 5},         {"log_every", 2},
               {"eval_every", 0},   {"eval_batches", 1}, {"checkpoint_every", 0},
               {"run_dir", run_dir}};
  write_file(scratch / "settings.json", file.dump(2));
  // --seed 1 is the default value, given explicitly: it still wins.
  CliResult r = run_cli({"train", "--seed", "1", "--config", scratch / "settings.json"}, scratch);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  json saved = json::parse(read_file(fs::path(run_dir) / "config.json"));
  json expected = to_json(RunConfig{});
  for (const auto& item : file.items()) expected[item.key()] = item.value();
  expected["seed"] = 1;
  CHECK(saved == expected);
  CHECK(load_checkpoint(run_dir).step == 6);
}

TEST_CASE("moegrad train --resume continues to the run's own step budget", "[cli]") {
  ScratchDir scratch("cli_resume");
  RunConfig c = tiny("smoe", scratch / "run");
  c.dim = 16;
  c.layers = 1;
  c.seq_len = 16;
  c.batch = 2;
  c.steps = 12;
  c.checkpoint_every = 4;
  c.eval_every = 0;
  TrainHooks stop;
  stop.after_step = [](int64_t step, double) {
    if (step == 6) request_stop();
  };
  std::ostringstream out;
  REQUIRE(train(c, false, MOEGRAD_TEST_DATA_DIR, out, stop).interrupted);
  REQUIRE(load_checkpoint(c.run_dir).step == 6);
  // No --steps: the run's 12, not the flag's default of 300.
  CliResult r = run_cli({"train", "--resume", "--run-dir", c.run_dir}, scratch);
  INFO("stderr: " << r.err);
  REQUIRE(r.status == 0);
  CHECK(load_checkpoint(c.run_dir).step == 12);
  CHECK(json::parse(read_file(fs::path(c.run_dir) / "config.json")).at("steps") == 12);
}

TEST_CASE("moegrad train: Ctrl-C saves a checkpoint and exits with 130", "[cli]") {
  ScratchDir scratch("sigint");
  const std::string run_dir = scratch / "run";
  const std::string out_path = scratch / "stdout", err_path = scratch / "stderr";
  // Far more steps than it gets to run before the signal.
  const std::vector<std::string> args = {MOEGRAD_CLI_PATH,
                                         "train",
                                         "--data",
                                         kFixture,
                                         "--model",
                                         "dense",
                                         "--dim",
                                         "16",
                                         "--layers",
                                         "1",
                                         "--attn-heads",
                                         "2",
                                         "--seq-len",
                                         "16",
                                         "--ffn-hidden",
                                         "32",
                                         "--batch",
                                         "2",
                                         "--steps",
                                         "100000",
                                         "--warmup",
                                         "1",
                                         "--log-every",
                                         "1",
                                         "--eval-every",
                                         "0",
                                         "--eval-batches",
                                         "1",
                                         "--checkpoint-every",
                                         "0",
                                         "--run-dir",
                                         run_dir};
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    FILE* o = std::freopen(out_path.c_str(), "w", stdout);
    FILE* e = std::freopen(err_path.c_str(), "w", stderr);
    if (!o || !e) _exit(127);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Once it has logged a step (its handler is installed by then), interrupt
  // it; kill it if it does not stop within the deadline.
  const fs::path metrics = fs::path(run_dir) / "metrics.jsonl";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool started = false, exited = false;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (fs::exists(metrics, ec) && fs::file_size(metrics, ec) > 0) {
      started = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (started) {
    ::kill(pid, SIGINT);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  INFO("stdout: " << read_file(out_path) << "\nstderr: " << read_file(err_path));
  REQUIRE(started);
  REQUIRE(exited);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  Checkpoint ck = load_checkpoint(run_dir);
  CHECK(ck.step >= 1);
  CHECK(ck.step < 100000);
  CHECK(read_file(out_path).find("interrupted at step " + std::to_string(ck.step)) != std::string::npos);
  // Every step up to the checkpoint's was logged, none after it.
  std::vector<int64_t> expected;
  for (int64_t s = 1; s <= ck.step; ++s) expected.push_back(s);
  CHECK(steps_of(of_kind(read_records(metrics), "train")) == expected);
}

TEST_CASE("moegrad plot draws a trained run's loss curve and expert load", "[cli]") {
  if (!on_path("gnuplot")) {
    WARN("gnuplot is not on PATH: skipping moegrad plot (scripts/setup.sh installs gnuplot-nox)");
    return;
  }
  const TrainedRun& run = trained("smoe");
  ScratchDir logs("plot_logs");
  CliResult r = run_cli({"plot", run.config.run_dir}, logs);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.status == 0);
  const fs::path plots = fs::path(run.config.run_dir) / "plots";
  for (const char* name : {"loss.png", "expert_load_layer0.png", "expert_load_layer1.png"}) {
    INFO("file " << name);
    REQUIRE(fs::exists(plots / name));
    CHECK(read_file(plots / name).substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    CHECK(r.out.find(name) != std::string::npos);
  }
}
