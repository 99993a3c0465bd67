// The command line's bad-input contract, checked on the real binary
// (MOEGRAD_CLI_PATH): an unknown flag, a malformed value, settings that cannot
// work together, a missing/empty/directory corpus, a bad --config file, a run
// directory that already holds a run, a resume without a usable checkpoint,
// and eval/generate of a missing path each exit with status 2 after one
// stderr line "moegrad: error: ..." naming the problem, and leave every file
// as it was: the tests snapshot the directories around the run (names,
// contents, inodes and mtimes) before and after. --help exits 0.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/run_config.h"
#include "cli.h"
#include "core/error.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kFixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";

// Every entry under a directory: its kind, inode, mtime (ns) and, for
// files, its bytes. Equal snapshots: nothing was created, removed, replaced
// (an atomic rewrite changes the inode) or written.
struct Entry {
  bool dir = false;
  ino_t inode = 0;
  int64_t mtime_ns = 0;
  std::string bytes;
  bool operator==(const Entry& o) const {
    return dir == o.dir && inode == o.inode && mtime_ns == o.mtime_ns && bytes == o.bytes;
  }
};
using Snapshot = std::map<std::string, Entry>;

Entry entry_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  Entry e;
  e.dir = S_ISDIR(st.st_mode);
  e.inode = st.st_ino;
  e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (!e.dir) e.bytes = read_file(p);
  return e;
}

Snapshot snapshot(const fs::path& root) {
  Snapshot s;
  s["."] = entry_of(root);
  for (const auto& e : fs::recursive_directory_iterator(root))
    s[fs::relative(e.path(), root).string()] = entry_of(e.path());
  return s;
}

// The first difference between two snapshots, for the failure message.
std::string difference(const Snapshot& before, const Snapshot& after) {
  for (const auto& [name, e] : before) {
    auto it = after.find(name);
    if (it == after.end()) return "removed: " + name;
    if (!(it->second == e)) return "changed: " + name;
  }
  for (const auto& [name, e] : after)
    if (!before.count(name)) return "created: " + name;
  return "";
}

// Flags of a tiny dense run that trains in a fraction of a second; a test
// changes or adds a few. A flag with an empty value is passed alone.
using Flags = std::vector<std::pair<std::string, std::string>>;

Flags tiny_flags(const std::string& run_dir) {
  return {{"--data", kFixture}, {"--run-dir", run_dir},    {"--model", "dense"},    {"--dim", "16"},
          {"--layers", "1"},    {"--attn-heads", "2"},     {"--seq-len", "16"},     {"--ffn-hidden", "32"},
          {"--experts", "4"},   {"--expert-hidden", "32"}, {"--steps", "4"},        {"--batch", "2"},
          {"--warmup", "1"},    {"--eval-every", "0"},     {"--eval-batches", "1"}, {"--checkpoint-every", "2"},
          {"--log-every", "1"}};
}

// `moegrad train` with `flags`, each of `changes` replacing the flag of its
// name or, when absent, appended.
std::vector<std::string> train_args(Flags flags, const Flags& changes = {}) {
  for (const auto& [flag, value] : changes) {
    bool found = false;
    for (auto& f : flags)
      if (f.first == flag) {
        f.second = value;
        found = true;
      }
    if (!found) flags.emplace_back(flag, value);
  }
  std::vector<std::string> args = {"train"};
  for (const auto& [flag, value] : flags) {
    args.push_back(flag);
    if (!value.empty()) args.push_back(value);
  }
  return args;
}

// Runs the binary and requires the usage-error contract: status 2, one
// stderr line "moegrad: error: ..." holding every needle, and `watched`
// exactly as it was.
void require_usage_error(const std::vector<std::string>& args, const std::vector<std::string>& needles,
                         const fs::path& watched, const ScratchDir& logs) {
  const Snapshot before = snapshot(watched);
  CliResult r = run_cli(args, logs);
  INFO("command: " << r.command << "\nstdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("moegrad: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK((!r.err.empty() && r.err.back() == '\n'));
  for (const std::string& needle : needles) {
    INFO("expected in stderr: " << needle);
    CHECK(r.err.find(needle) != std::string::npos);
  }
  const Snapshot after = snapshot(watched);
  INFO("files: " << difference(before, after));
  CHECK(after == before);
}

// A finished tiny run made by the binary (4 steps, checkpoints at 2 and 4),
// shared by the tests that copy or watch it; removed at exit.
const std::string& finished_run() {
  static ScratchDir root("template");
  static std::string run_dir;
  if (!run_dir.empty()) return run_dir;
  ScratchDir logs("template_logs");
  const std::string dir = root / "run";
  CliResult r = run_cli(train_args(tiny_flags(dir)), logs);
  INFO("command: " << r.command << "\nstderr: " << r.err);
  REQUIRE(r.status == 0);
  REQUIRE(list_checkpoints(dir).size() == 2);
  run_dir = dir;
  return run_dir;
}

// A copy of the finished run at `to`, with its newest checkpoint's sidecar
// and weights paths.
struct RunCopy {
  fs::path dir, sidecar, weights;
};
RunCopy copy_run(const fs::path& to) {
  fs::copy(finished_run(), to, fs::copy_options::recursive);
  RunCopy c{to, to / "checkpoints/step-00000004.json", to / "checkpoints/step-00000004.safetensors"};
  REQUIRE(fs::exists(c.sidecar));
  REQUIRE(fs::exists(c.weights));
  return c;
}

}  // namespace

TEST_CASE("moegrad --help and train --help exit 0 and list the commands and flags", "[cli]") {
  ScratchDir logs("help");
  CliResult top = run_cli({"--help"}, logs);
  INFO("stdout: " << top.out << "\nstderr: " << top.err);
  CHECK(top.status == 0);
  for (const char* word : {"train", "eval", "generate", "plot"}) CHECK(top.out.find(word) != std::string::npos);

  CliResult train = run_cli({"train", "--help"}, logs);
  INFO("train --help: " << train.out);
  CHECK(train.status == 0);
  std::vector<std::string> flags = {"--config", "--resume"};
  const json defaults = to_json(RunConfig{});
  for (const auto& item : defaults.items()) {
    std::string flag = "--" + item.key();
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    flags.push_back(flag);
  }
  for (const std::string& flag : flags) {
    INFO("flag " << flag);
    CHECK(train.out.find(flag + " ") != std::string::npos);
  }
}

TEST_CASE("moegrad: the tiny flags the error tests start from train a run", "[cli]") {
  // The control for the cases below: with nothing changed, these flags work,
  // so each failure there is the change's doing.
  const fs::path dir(finished_run());
  CHECK(fs::exists(dir / "config.json"));
  CHECK(fs::exists(dir / "metrics.jsonl"));
  CHECK(load_checkpoint(dir.string()).step == 4);
}

TEST_CASE("moegrad train: bad flags and settings exit 2 before writing anything", "[cli]") {
  ScratchDir area("flags"), logs("flags_logs");
  const std::string run_dir = area / "run";
  const Flags base = tiny_flags(run_dir);
  fs::create_directories(area / "a_directory");
  write_file(area / "empty.txt", "");
  const std::string missing = area / "no_such_corpus.txt";

  struct Case {
    const char* what;
    Flags changes;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"unknown flag", {{"--no-such-flag", ""}}, {"--no-such-flag"}},
      {"malformed value", {{"--steps", "abc"}}, {"--steps", "abc"}},
      {"unknown model", {{"--model", "foo"}}, {"--model", "foo"}},
      {"attention heads not dividing dim", {{"--attn-heads", "3"}, {"--dim", "32"}}, {"--attn-heads 3", "--dim 32"}},
      {"MH-MoE heads not dividing dim",
       {{"--model", "mhmoe"}, {"--moe-heads", "3"}, {"--dim", "32"}},
       {"--moe-heads 3", "--dim 32"}},
      {"top-k above experts", {{"--model", "smoe"}, {"--top-k", "5"}, {"--experts", "4"}}, {"--top-k 5", "4"}},
      {"random second expert with top-1",
       {{"--model", "smoe"}, {"--second-expert", "random"}, {"--top-k", "1"}},
       {"--second-expert", "--top-k"}},
      {"warm-up longer than the run", {{"--warmup", "5"}, {"--steps", "4"}}, {"--warmup 5", "--steps 4"}},
      {"missing corpus file", {{"--data", missing}}, {missing}},
      {"empty corpus file", {{"--data", area / "empty.txt"}}, {area / "empty.txt", "empty"}},
      {"corpus that is a directory", {{"--data", area / "a_directory"}}, {area / "a_directory", "directory"}},
      {"windows longer than the corpus", {{"--seq-len", "100000"}}, {"100000", "too small"}},
      // 2^61 windows: rand({batch}) in f64 wrapped to a 0-byte buffer and the
      // kernels wrote past it (ASan/UBSan); sizes now stop at 2^20.
      {"a batch past 2^20", {{"--batch", "2305843009213693952"}}, {"--batch must be <= 1048576", "2305843009213693952"}},
      // mhmoe_v1 overflowed int64 on 2 * dim * dim (found through fuzz/fuzz_run_config).
      {"an MH-MoE dim past 2^20",
       {{"--model", "mhmoe"}, {"--dim", "4294967296"}, {"--expert-hidden", "0"}},
       {"--dim must be <= 1048576", "4294967296"}},
      {"run directory that is a file", {{"--run-dir", area / "empty.txt"}}, {area / "empty.txt"}},
      {"unknown device", {{"--device", "gpu"}}, {"--device", "'gpu'"}},
      {"a GPU this machine lacks", {{"--device", "cuda:7"}}, {"--device cuda:7", "GPU(s) visible"}},
  };
  for (const Case& c : cases) {
    INFO("case: " << c.what);
    require_usage_error(train_args(base, c.changes), c.needles, area.path, logs);
    CHECK_FALSE(fs::exists(run_dir));
  }
}

TEST_CASE("moegrad train --config: a missing or bad file exits 2 before writing anything", "[cli]") {
  ScratchDir area("config"), logs("config_logs");
  const std::string run_dir = area / "run";
  const Flags base = tiny_flags(run_dir);
  const std::string missing = area / "missing.json", invalid = area / "invalid.json", unknown = area / "unknown.json",
                    wrong = area / "wrong.json", negative = area / "negative.json";
  write_file(invalid, "{\"steps\": 4,");
  write_file(unknown, json{{"steps", 4}, {"dimm", 16}}.dump());
  write_file(wrong, json{{"steps", "four"}}.dump());
  write_file(negative, json{{"seed", -1}}.dump());  // seed is unsigned
  const std::string array = area / "array.json", directory = area / "a_directory";
  write_file(array, "[1, 2]");
  fs::create_directories(directory);

  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {missing, {missing}}, {invalid, {invalid, "JSON"}}, {unknown, {"dimm"}},      {wrong, {"steps", "four"}},
      {negative, {"seed"}}, {array, {"object"}},          {directory, {directory}},
  };
  for (const auto& [file, needles] : cases) {
    INFO("config file " << file);
    require_usage_error(train_args(base, {{"--config", file}}), needles, area.path, logs);
    CHECK_FALSE(fs::exists(run_dir));
  }
}

TEST_CASE("moegrad train: a run directory that already holds a run is refused without --resume", "[cli]") {
  ScratchDir area("existing"), logs("existing_logs");
  RunCopy run = copy_run(area.path / "run");
  // The same flags again, and different ones: both refused, the run untouched.
  require_usage_error(train_args(tiny_flags(run.dir.string())), {run.dir.string(), "--resume"}, area.path, logs);
  require_usage_error(train_args(tiny_flags(run.dir.string()), {{"--model", "smoe"}, {"--steps", "6"}}),
                      {run.dir.string(), "--resume"}, area.path, logs);
  // A run dir holding only a metrics log (a run killed before its first
  // checkpoint) is a run too.
  const fs::path partial = area.path / "partial";
  fs::create_directories(partial);
  fs::copy_file(run.dir / "metrics.jsonl", partial / "metrics.jsonl");
  require_usage_error(train_args(tiny_flags(partial.string())), {partial.string()}, area.path, logs);
}

TEST_CASE("moegrad train --resume without a usable checkpoint exits 2 and leaves the run as it was", "[cli]") {
  ScratchDir area("resume"), logs("resume_logs");
  auto resume = [](const fs::path& dir) {
    return std::vector<std::string>{"train", "--resume", "--run-dir", dir.string()};
  };

  SECTION("a run directory that does not exist") {
    const fs::path dir = area.path / "nowhere";
    require_usage_error(resume(dir), {dir.string()}, area.path, logs);
    CHECK_FALSE(fs::exists(dir));
  }
  SECTION("a run directory without checkpoints") {
    RunCopy run = copy_run(area.path / "run");
    fs::remove_all(run.dir / "checkpoints");
    require_usage_error(resume(run.dir), {run.dir.string(), "no checkpoint"}, area.path, logs);
  }
  SECTION("truncated weights") {
    RunCopy run = copy_run(area.path / "run");
    fs::resize_file(run.weights, fs::file_size(run.weights) / 2);
    require_usage_error(resume(run.dir), {run.weights.filename().string()}, area.path, logs);
  }
  SECTION("missing weights") {
    RunCopy run = copy_run(area.path / "run");
    fs::remove(run.weights);
    require_usage_error(resume(run.dir), {run.weights.filename().string()}, area.path, logs);
  }
  SECTION("a sidecar of garbage") {
    RunCopy run = copy_run(area.path / "run");
    write_file(run.sidecar, "this is not a checkpoint {");
    require_usage_error(resume(run.dir), {run.sidecar.filename().string(), "JSON"}, area.path, logs);
  }
  SECTION("a sidecar whose config does not match the weights") {
    RunCopy run = copy_run(area.path / "run");
    json side = json::parse(read_file(run.sidecar));
    side["config"]["dim"] = 24;  // still a valid config: 2 heads divide 24
    write_file(run.sidecar, side.dump(2));
    // The message must say which checkpoint is inconsistent (checkpoint.h).
    require_usage_error(resume(run.dir), {run.sidecar.filename().string()}, area.path, logs);
  }
  SECTION("a sidecar whose step disagrees with the optimizer state") {
    RunCopy run = copy_run(area.path / "run");
    json side = json::parse(read_file(run.sidecar));
    side["step"] = 3;
    write_file(run.sidecar, side.dump(2));
    require_usage_error(resume(run.dir), {run.sidecar.filename().string(), "step"}, area.path, logs);
  }
}

TEST_CASE("load_checkpoint: a sidecar whose config does not match its weights is an error naming the sidecar",
          "[cli]") {
  // checkpoint.h: "a sidecar that does not match its weights" is a
  // moegrad::Error naming the file, from load_checkpoint itself.
  ScratchDir area("mismatch");
  RunCopy run = copy_run(area.path / "run");
  json side = json::parse(read_file(run.sidecar));
  side["config"]["dim"] = 24;
  write_file(run.sidecar, side.dump(2));
  try {
    load_checkpoint(run.dir.string());
    FAIL("load_checkpoint accepted a sidecar of dim 24 over weights of dim 16");
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK(std::string(e.what()).find(run.sidecar.filename().string()) != std::string::npos);
  }
}

TEST_CASE("moegrad eval and generate of a missing checkpoint exit 2", "[cli]") {
  ScratchDir area("missing"), logs("missing_logs");
  const std::string missing = area / "no_such_run";
  const std::string empty_run = area / "empty_run";
  fs::create_directories(empty_run);
  require_usage_error({"eval", missing}, {missing}, area.path, logs);
  require_usage_error({"generate", missing, "--max-tokens", "5"}, {missing}, area.path, logs);
  require_usage_error({"eval", empty_run}, {empty_run, "no checkpoint"}, area.path, logs);
  require_usage_error({"generate", empty_run}, {empty_run, "no checkpoint"}, area.path, logs);
  require_usage_error({"eval", missing + ".safetensors"}, {missing}, area.path, logs);
  // And no subcommand at all.
  require_usage_error({}, {"subcommand"}, area.path, logs);
}

// Found by reading parse_sidecar for fuzz/fuzz_sidecar and confirmed through
// it: a "random" that is not an object reached nlohmann's value(), whose
// type_error is not a moegrad::Error. The other fields' wrong types were
// already refused; they are here so that the sidecar's checks stay complete.
TEST_CASE("parse_sidecar: a field of the wrong JSON type is an Error naming the sidecar", "[cli]") {
  const json good = {{"format", "moegrad-checkpoint-1"},
                     {"step", 2},
                     {"weights", "step-00000002.safetensors"},
                     {"config", to_json(RunConfig{})},
                     {"tokenizer", Tokenizer::byte_level().to_json()},
                     {"random",
                      {{"global", {{"seed", 1}, {"offset", 5}}}, {"data", {{"seed", 1}, {"offset", 0}}}, {"layers", {3, 4}}}}};
  const std::string what = "runs/x/checkpoints/step-00000002.json";
  Checkpoint ck = parse_sidecar(good.dump(), what);
  REQUIRE(ck.step == 2);
  REQUIRE(ck.weights_file == "step-00000002.safetensors");
  REQUIRE(ck.random.layer_offsets == std::vector<uint64_t>{3, 4});
  REQUIRE(ck.random.global.offset() == 5);
  REQUIRE(ck.model.empty());
  const std::vector<std::pair<std::string, json>> bad = {
      {"random", 5},          {"random", json::array()}, {"random", "x"},       {"random", nullptr},
      {"step", "2"},          {"step", -1},              {"weights", 7},         {"config", 1},
      {"tokenizer", "byte"}, {"format", 1}};
  for (const auto& [key, value] : bad) {
    json side = good;
    side[key] = value;
    INFO(key << " = " << value.dump());
    require_error([&] { parse_sidecar(side.dump(), what); }, what);
  }
  require_error([&] { parse_sidecar("[1, 2]", what); }, "has no 'format'");
  require_error([&] { parse_sidecar("", what); }, "not valid JSON");
}

// from_json read 18446744073709551615 into an int64 setting as -1, so the
// error blamed a value the user never wrote ("--steps must be >= 1, got -1").
TEST_CASE("config: an integer too large for its setting is out of range, named as written", "[cli]") {
  require_error([] { from_json(json{{"steps", 18446744073709551615ull}}); },
                "setting 'steps' = 18446744073709551615 is out of range");
  require_error([] { from_json(json{{"dim", 9223372036854775808ull}}); }, "setting 'dim' = 9223372036854775808");
  REQUIRE(from_json(json{{"dim", 9223372036854775807ull}}).dim == 9223372036854775807);
  REQUIRE(from_json(json{{"seed", 18446744073709551615ull}}).seed == 18446744073709551615ull);  // seed is u64
}
