// NaN and Inf in training (--nonfinite stop|skip): a bad step is caught
// after backward, named by step and parameter (or loss), and never applied
// nor saved. With stop the run ends with an error and its last checkpoint as
// it was; with skip the step is logged, dropped and retried on the next
// batch, and too many bad steps in a row stop the run.
//
// In-process runs inject the bad values through TrainHooks::after_backward,
// so each case is exact about where and when; the binary is driven to a
// real blow-up (--lr 10 --weight-decay 10 multiplies every weight by -99 a
// step) to check the command line's exit status and message.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/train.h"
#include "cli.h"
#include "core/copy.h"
#include "core/error.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kFixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// 12 steps of a tiny SMoE model, every step logged, checkpoints every 4.
RunConfig tiny(const std::string& run_dir, const std::string& nonfinite) {
  RunConfig c = tiny_lm("smoe");
  c.steps = 12;
  c.batch = 2;
  c.warmup = 2;
  c.log_every = 1;
  c.eval_every = 0;
  c.eval_batches = 1;
  c.checkpoint_every = 4;
  c.keep_checkpoints = 3;
  c.nonfinite = nonfinite;
  c.run_dir = run_dir;
  return c;
}

// The parameter the cases poison: an expert weight, deep in the model.
const std::string& victim(const NamedTensors& params) {
  for (const auto& [name, p] : params)
    if (name.find("experts") != std::string::npos) return name;
  FAIL("no expert parameter");
  return params.front().first;
}

void poison(const NamedTensors& params, const std::string& name, double value) {
  for (const auto& [n, p] : params)
    if (n == name) {
      Tensor g = p.grad();
      REQUIRE(g.defined());
      REQUIRE(g.is_contiguous());
      g.data<float>()[g.numel() / 2] = float(value);  // one element is enough
      return;
    }
  FAIL("no parameter " << name);
}

std::vector<json> records(const fs::path& path, const std::string& kind) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (j.value("kind", "") == kind) out.push_back(j);
  }
  return out;
}

std::vector<json> events(const fs::path& path, const std::string& event) {
  std::vector<json> out;
  for (const json& j : records(path, "event"))
    if (j.value("event", "") == event) out.push_back(j);
  return out;
}

std::vector<int64_t> train_steps(const fs::path& path) {
  std::vector<int64_t> out;
  for (const json& j : records(path, "train")) out.push_back(j.at("step").get<int64_t>());
  return out;
}

std::vector<float> values_of(const Tensor& t) { return t.detach().contiguous().to_vector<float>(); }

bool all_finite(const TensorMap& m) {
  for (const auto& [name, t] : m)
    for (double v : cast(t, DType::f64).to_vector<double>())
      if (!std::isfinite(v)) return false;
  return true;
}

std::string error_of(const RunConfig& c, const TrainHooks& hooks) {
  std::ostringstream out;
  try {
    train(c, false, MOEGRAD_TEST_DATA_DIR, out, hooks);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("train() did not stop");
  return "";
}

}  // namespace

TEST_CASE("train --nonfinite stop: a NaN gradient stops the run naming the step and parameter, saving nothing",
          "[cli]") {
  ScratchDir scratch("nonfinite_stop");
  RunConfig c = tiny(scratch / "run", "stop");
  const fs::path dir(c.run_dir);
  std::string poisoned, step4_weights, step4_sidecar;
  std::vector<int64_t> applied;
  TrainHooks hooks;
  hooks.after_step = [&](int64_t step, double) { applied.push_back(step); };
  hooks.after_backward = [&](int64_t step, const NamedTensors& params) {
    if (step != 6) return;
    poisoned = victim(params);
    poison(params, poisoned, kNaN);
    step4_weights = read_file(dir / "checkpoints/step-00000004.safetensors");
    step4_sidecar = read_file(dir / "checkpoints/step-00000004.json");
  };
  const std::string message = error_of(c, hooks);
  INFO("message: " << message);
  CHECK(message.find("step 6: non-finite gradient in " + poisoned + ";") != std::string::npos);
  CHECK(message.find("--nonfinite stop") != std::string::npos);
  CHECK(message.find("step-00000004.json is intact") != std::string::npos);

  // Step 6 was never applied and nothing after it saved: the checkpoint of
  // step 4 is byte for byte what it was, and the newest.
  CHECK(applied == std::vector<int64_t>{1, 2, 3, 4, 5});
  CHECK(read_file(dir / "checkpoints/step-00000004.safetensors") == step4_weights);
  CHECK(read_file(dir / "checkpoints/step-00000004.json") == step4_sidecar);
  Checkpoint ck = load_checkpoint(c.run_dir);
  CHECK(ck.step == 4);
  CHECK(all_finite(ck.model));
  CHECK(all_finite(ck.optimizer));
  std::vector<json> stopped = events(dir / "metrics.jsonl", "stopped");
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0]["step"] == 6);
  CHECK(stopped[0]["reason"] == "non-finite gradient in " + poisoned);
  CHECK(train_steps(dir / "metrics.jsonl") == std::vector<int64_t>{1, 2, 3, 4, 5});
}

TEST_CASE("train --nonfinite stop: an Inf gradient, and finite gradients whose squares overflow, are caught too",
          "[cli]") {
  ScratchDir scratch("nonfinite_inf");
  int run = 0;
  for (double value : {double(INFINITY), -double(INFINITY), 1e30}) {
    INFO("poisoned with " << value);
    RunConfig c = tiny(scratch / ("run" + std::to_string(run++)), "stop");
    std::string poisoned;
    TrainHooks hooks;
    hooks.after_backward = [&](int64_t step, const NamedTensors& params) {
      if (step != 3) return;
      poisoned = victim(params);
      poison(params, poisoned, value);
    };
    const std::string message = error_of(c, hooks);
    INFO("message: " << message);
    if (std::isinf(value)) {
      CHECK(message.find("step 3: non-finite gradient in " + poisoned) != std::string::npos);
    } else {  // 1e30 is finite but its square is not: clipping cannot work
      CHECK(message.find("step 3: non-finite gradient norm (inf)") != std::string::npos);
    }
    CHECK(message.find("none was saved yet") != std::string::npos);  // the first checkpoint is at step 4
    CHECK_FALSE(fs::exists(fs::path(c.run_dir) / "checkpoints"));
  }
}

TEST_CASE("train --nonfinite skip: bad steps are logged and dropped, and the run goes on", "[cli]") {
  ScratchDir scratch("nonfinite_skip");
  RunConfig c = tiny(scratch / "run", "skip");
  const fs::path dir(c.run_dir);
  std::string poisoned;
  std::vector<float> before;  // the victim's weights when step 6 was first tried
  int attempts_at_6 = 0;
  std::vector<int64_t> applied;
  TrainHooks hooks;
  hooks.after_step = [&](int64_t step, double) { applied.push_back(step); };
  hooks.after_backward = [&](int64_t step, const NamedTensors& params) {
    if (step != 6) return;
    poisoned = victim(params);
    for (const auto& [name, p] : params)
      if (name == poisoned) {
        // Each retry starts from the weights the first attempt saw: no
        // skipped update touched them.
        if (attempts_at_6 == 0) before = values_of(p);
        CHECK(values_of(p) == before);
      }
    if (++attempts_at_6 <= 3) poison(params, poisoned, kNaN);  // three bad batches, then a good one
  };
  std::ostringstream out;
  TrainResult r = train(c, false, MOEGRAD_TEST_DATA_DIR, out, hooks);
  CHECK(r.step == 12);
  CHECK(attempts_at_6 == 4);
  std::vector<int64_t> all(12);
  for (int64_t i = 0; i < 12; ++i) all[size_t(i)] = i + 1;
  CHECK(applied == all);  // every step applied once, 6 on its fourth batch
  CHECK(train_steps(dir / "metrics.jsonl") == all);

  std::vector<json> skipped = events(dir / "metrics.jsonl", "skipped");
  REQUIRE(skipped.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO(skipped[i].dump());
    CHECK(skipped[i]["step"] == 6);
    CHECK(skipped[i]["reason"] == "non-finite gradient in " + poisoned);
    CHECK(skipped[i]["bad_in_a_row"] == int64_t(i) + 1);
  }
  CHECK(out.str().find("step 6: skipped, non-finite gradient in " + poisoned + " (3 in a row)") != std::string::npos);
  CHECK(events(dir / "metrics.jsonl", "stopped").empty());

  // The optimizer took 12 steps, as the sidecar says: the run resumes.
  Checkpoint ck = load_checkpoint(c.run_dir);
  CHECK(ck.step == 12);
  CHECK(all_finite(ck.model));
  RunConfig more;
  more.run_dir = c.run_dir;
  more.steps = 14;
  more.nonfinite = "";  // keep the run's
  std::ostringstream again;
  CHECK(train(more, true, MOEGRAD_TEST_DATA_DIR, again).step == 14);
  CHECK(load_checkpoint(c.run_dir).config.nonfinite == "skip");
}

TEST_CASE("train --nonfinite skip: ten bad steps in a row stop the run", "[cli]") {
  ScratchDir scratch("nonfinite_limit");
  RunConfig c = tiny(scratch / "run", "skip");
  const fs::path dir(c.run_dir);
  std::string poisoned;
  TrainHooks hooks;
  hooks.after_backward = [&](int64_t step, const NamedTensors& params) {
    if (step < 7) return;
    poisoned = victim(params);
    poison(params, poisoned, kNaN);
  };
  const std::string message = error_of(c, hooks);
  INFO("message: " << message);
  CHECK(message.find("step 7: non-finite gradient in " + poisoned) != std::string::npos);
  CHECK(message.find(std::to_string(kMaxSkipsInARow) + " bad steps in a row") != std::string::npos);
  CHECK(message.find("step-00000004.json is intact") != std::string::npos);
  CHECK(events(dir / "metrics.jsonl", "skipped").size() == size_t(kMaxSkipsInARow - 1));
  std::vector<json> stopped = events(dir / "metrics.jsonl", "stopped");
  REQUIRE(stopped.size() == 1);
  CHECK(stopped[0]["bad_in_a_row"] == kMaxSkipsInARow);
  CHECK(load_checkpoint(c.run_dir).step == 4);
}

TEST_CASE(
    "moegrad train: a run that blows up exits 2 naming the step, and --resume --nonfinite skip goes on from its "
    "last checkpoint",
    "[cli]") {
  ScratchDir area("nonfinite_cli"), logs("nonfinite_cli_logs");
  const std::string run_dir = area / "run";
  const std::vector<std::pair<std::string, std::string>> settings = {
      {"--data", kFixture},  {"--run-dir", run_dir},  {"--model", "smoe"},
      {"--dim", "16"},       {"--layers", "1"},       {"--attn-heads", "2"},
      {"--seq-len", "16"},   {"--ffn-hidden", "16"},  {"--experts", "4"},
      {"--top-k", "2"},      {"--moe-every", "1"},    {"--steps", "60"},
      {"--batch", "2"},      {"--warmup", "0"},       {"--log-every", "1"},
      {"--eval-every", "0"}, {"--eval-batches", "1"}, {"--checkpoint-every", "2"},
      {"--lr", "10"},        {"--min-lr", "1"},       {"--weight-decay", "10"}};
  std::vector<std::string> flags = {"train"};
  for (const auto& [flag, value] : settings) flags.insert(flags.end(), {flag, value});

  SECTION("a bad --nonfinite is a usage error naming the flag and the value, writing nothing") {
    std::vector<std::string> args = flags;
    args.insert(args.end(), {"--nonfinite", "maybe"});
    CliResult r = run_cli(args, logs);
    CHECK(r.status == 2);
    CHECK(r.err.find("--nonfinite") != std::string::npos);
    CHECK(r.err.find("'maybe'") != std::string::npos);
    CHECK_FALSE(fs::exists(run_dir));
  }

  SECTION("stop, then resume with skip") {
    CliResult r = run_cli(flags, logs);
    INFO(r.command << "\n" << r.out << r.err);
    REQUIRE(r.status == 2);  // exited with an error, not killed by a signal (run_cli gives -1 then)
    REQUIRE(r.err.rfind("moegrad: error: train: step ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find("non-finite") != std::string::npos);
    const int64_t bad = std::stoll(r.err.substr(std::string("moegrad: error: train: step ").size()));
    std::vector<json> stopped = events(fs::path(run_dir) / "metrics.jsonl", "stopped");
    REQUIRE(stopped.size() == 1);
    CHECK(stopped[0]["step"] == bad);

    // The last checkpoint predates the bad step, is whole and finite.
    Checkpoint ck = load_checkpoint(run_dir);
    CHECK(ck.step < bad);
    CHECK(ck.step >= bad - 2);  // checkpoints every 2 steps
    CHECK(all_finite(ck.model));
    CHECK(r.err.find(fs::path(ck.sidecar_path).filename().string() + " is intact") != std::string::npos);

    // Resumed with skip, it skips instead, and (the weights being past
    // saving) stops after ten bad steps in a row, with the same contract.
    CliResult s = run_cli({"train", "--resume", "--run-dir", run_dir, "--nonfinite", "skip"}, logs);
    INFO(s.out << s.err);
    CHECK(s.status == 2);
    CHECK(s.out.find("resumed at step " + std::to_string(ck.step)) != std::string::npos);
    CHECK(s.out.find(": skipped, non-finite") != std::string::npos);
    CHECK(s.err.find(std::to_string(kMaxSkipsInARow) + " bad steps in a row") != std::string::npos);
    CHECK(events(fs::path(run_dir) / "metrics.jsonl", "skipped").size() >= size_t(kMaxSkipsInARow - 1));
    CHECK(all_finite(load_checkpoint(run_dir).model));
  }
}
