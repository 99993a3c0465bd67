// Crash consistency of `moegrad train`: the real binary, checkpointing every
// step, is killed with SIGKILL again and again (at random moments, just
// after a checkpoint's temporary file appears, just after a sidecar is
// published), and after every kill the newest checkpoint must load, no
// temporary or half-written file may pass for a checkpoint, the metrics log
// must hold each step once, and `--resume` must continue from that
// checkpoint. At the end the run, resumed to completion, must equal an
// uninterrupted run bit for bit: a kill may cost time, never a result.
//
// The kill schedule comes from a seeded generator, so a failure repeats with
// the same kinds, counts and offsets (the scheduler decides the rest).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apps/checkpoint.h"
#include "cli.h"
#include "core/copy.h"
#include "nn/file.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kFixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";

// A tiny SMoE run that checkpoints every step (so most of its time is spent
// writing checkpoints, and a kill at random is likely to land in one) and
// logs every step.
std::vector<std::string> train_args(const std::string& run_dir, int64_t steps) {
  const std::vector<std::pair<std::string, std::string>> flags = {
      {"--data", kFixture},    {"--run-dir", run_dir},      {"--model", "smoe"},
      {"--dim", "16"},         {"--layers", "1"},           {"--attn-heads", "2"},
      {"--seq-len", "16"},     {"--ffn-hidden", "16"},      {"--experts", "4"},
      {"--top-k", "2"},        {"--moe-every", "1"},        {"--batch", "2"},
      {"--warmup", "2"},       {"--log-every", "1"},        {"--eval-every", "0"},
      {"--eval-batches", "1"}, {"--checkpoint-every", "1"}, {"--keep-checkpoints", "2"},
      {"--seed", "5"}};
  std::vector<std::string> args = {"train", "--steps", std::to_string(steps)};
  for (const auto& [flag, value] : flags) args.insert(args.end(), {flag, value});
  return args;
}

// The binary started with fork/exec, its output in files: what a shell's
// `&` would do, but with the pid in hand to kill.
struct Child {
  pid_t pid = -1;
  Clock::time_point started;

  Child(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
    std::vector<std::string> all = {MOEGRAD_CLI_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The logs are emptied here, not in the child: a child killed before it
    // got to open them (tens of ms under ASan) would leave the last life's
    // "resumed at step" for this one's.
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE((o >= 0 && e >= 0 && in >= 0));
    started = Clock::now();
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // only async-signal-safe calls until exec
      ::dup2(in, 0);  // dup2 clears O_CLOEXEC on the copies
      ::dup2(o, 1);
      ::dup2(e, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(o);
    ::close(e);
    ::close(in);
  }
  ~Child() {  // a failed check must not leave it running
    if (!reaped) kill_and_wait();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The wait status if it has ended, else -1.
  int poll_exit() {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r != pid) return -1;
    reaped = true;
    return status;
  }
  int kill_and_wait() {
    ::kill(pid, SIGKILL);
    int status = 0;
    reaped = ::waitpid(pid, &status, 0) == pid;
    return status;
  }
  bool reaped = false;
  double ms_alive() const { return std::chrono::duration<double, std::milli>(Clock::now() - started).count(); }
};

// Files created (IN_CREATE) and renamed into place (IN_MOVED_TO) in the
// checkpoints directory, as they happen.
class Watch {
 public:
  explicit Watch(const std::string& dir) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(fd_ >= 0);
    REQUIRE(::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO) >= 0);
  }
  ~Watch() { ::close(fd_); }
  void drain() {
    std::vector<std::pair<uint32_t, std::string>> ignored;
    read_events(ignored);
  }
  // Waits up to `timeout_ms` for the n-th event matching (mask, name test);
  // false on timeout or when `child` ends first.
  template <class Match>
  bool wait_for(int n, Match match, Child& child, int timeout_ms, int* child_status) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      std::vector<std::pair<uint32_t, std::string>> events;
      read_events(events);
      for (const auto& [mask, name] : events)
        if (match(mask, name) && --n == 0) return true;
      if ((*child_status = child.poll_exit()) != -1) return false;
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, 5);
    }
    return false;
  }

 private:
  void read_events(std::vector<std::pair<uint32_t, std::string>>& out) {
    alignas(inotify_event) char buf[16384];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return;
      for (char* p = buf; p < buf + n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(p);
        out.emplace_back(e->mask, e->len ? std::string(e->name) : std::string());
        p += sizeof(inotify_event) + e->len;
      }
    }
  }
  int fd_;
};

void spin_for(std::chrono::microseconds d) {  // finer than sleeping
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

bool is_temporary(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

// The train records of a metrics log, in order, and whether its last line is
// torn (a kill mid-append; only the last line may be).
struct Metrics {
  std::vector<int64_t> steps;
  std::vector<double> losses;
  bool torn_last = false;
};

Metrics read_metrics(const fs::path& path) {
  Metrics m;
  std::ifstream in(path);
  if (!in.good()) return m;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (size_t i = 0; i < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    if (j.is_discarded()) {
      INFO("line " << i + 1 << " of " << lines.size() << ": " << lines[i]);
      REQUIRE(i + 1 == lines.size());
      m.torn_last = true;
      continue;
    }
    if (j.value("kind", "") != "train") continue;
    m.steps.push_back(j.at("step").get<int64_t>());
    m.losses.push_back(j.at("loss").get<double>());
  }
  return m;
}

void require_same_tensors(const TensorMap& a, const TensorMap& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO("tensor " << name);
    REQUIRE(b.count(name) == 1);
    REQUIRE(cast(t, DType::f64).to_vector<double>() == cast(b.at(name), DType::f64).to_vector<double>());
  }
}

int64_t step_of_sidecar(const std::string& path) {
  std::smatch m;
  std::string name = fs::path(path).filename().string();
  REQUIRE(std::regex_match(name, m, std::regex("step-([0-9]{8})\\.json")));
  return std::stoll(m[1]);
}

}  // namespace

TEST_CASE("moegrad train killed with SIGKILL again and again always resumes from an intact checkpoint", "[cli]") {
  ScratchDir area("crash"), logs("crash_logs");
  const std::string run_dir = area / "run", ref_dir = area / "reference";
  const fs::path ckpt_dir = fs::path(run_dir) / "checkpoints";
  // Far more than the kills get through (70 steps on one machine, 150 in under
  // 9 kills on a faster disk), so that every kill finds a live run.
  const int64_t kSteps = 1000;
  const int kKills = 24;
  fs::create_directories(ckpt_dir);  // for the watch; an empty run directory is a new run to train
  Watch watch(ckpt_dir.string());
  std::mt19937_64 rng(20240610);

  int kills = 0, mid_write = 0, between_files = 0, torn_lines = 0, resumes_seen = 0;
  int64_t newest = 0;  // the newest checkpoint's step after the last kill
  const char* kind_names[] = {"at a random moment", "after a checkpoint file appears", "after a sidecar is published"};
  int by_kind[3] = {0, 0, 0};
  for (int life = 0; life < kKills; ++life) {
    const bool fresh = life == 0;
    std::vector<std::string> args =
        fresh ? train_args(run_dir, kSteps) : std::vector<std::string>{"train", "--resume", "--run-dir", run_dir};
    const int kind = std::discrete_distribution<int>({4, 4, 2})(rng);
    const int nth = std::uniform_int_distribution<int>(1, 6)(rng);
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 600)(rng));
    const auto offset = std::chrono::microseconds(std::uniform_int_distribution<int>(0, kind == 1 ? 1500 : 300)(rng));
    INFO("life " << life << ": kill " << kind_names[kind] << ", n " << nth << ", delay " << delay.count()
                 << " ms, offset " << offset.count() << " us");

    watch.drain();
    Child child(args, logs / "stdout", logs / "stderr");
    int status = -1;
    // The first life must leave a checkpoint to resume from (a run killed
    // before its first has nothing to continue: test_cli_errors), so its
    // schedule starts when the first sidecar is published.
    auto published = [](uint32_t mask, const std::string& n) {
      return (mask & IN_MOVED_TO) && !is_temporary(n) && fs::path(n).extension() == ".json";
    };
    if (fresh) REQUIRE(watch.wait_for(1, published, child, 20000, &status));
    bool fired = true;
    if (kind == 0) {
      std::this_thread::sleep_for(delay);
    } else if (kind == 1) {
      fired = watch.wait_for(
          nth, [](uint32_t mask, const std::string& n) { return (mask & IN_CREATE) && is_temporary(n); }, child, 20000,
          &status);
    } else {
      fired = watch.wait_for(nth, published, child, 20000, &status);
    }
    if (fired) spin_for(offset);
    if (status == -1) status = child.poll_exit();
    if (status != -1) {  // it ended on its own: only a finished run may
      INFO("stderr: " << read_file(logs / "stderr"));
      REQUIRE(WIFEXITED(status));
      REQUIRE(WEXITSTATUS(status) == 0);
      break;
    }
    status = child.kill_and_wait();
    REQUIRE(child.reaped);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    ++kills;
    ++by_kind[kind];

    // What the kill left: partial files of this process, weights without a sidecar.
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(ckpt_dir)) names.insert(e.path().filename().string());
    const std::string mine = ".tmp-" + std::to_string(child.pid) + "-";
    bool partial = false, orphan = false;
    for (const std::string& n : names) {
      partial |= n.find(mine) != std::string::npos;
      if (!is_temporary(n) && fs::path(n).extension() == ".safetensors")
        orphan |= !names.count(fs::path(n).replace_extension(".json").string());
    }
    mid_write += partial;
    between_files += orphan;

    // Every listed checkpoint is a complete, loadable pair; never a temporary.
    std::vector<std::string> sidecars = list_checkpoints(run_dir);
    REQUIRE_FALSE(sidecars.empty());
    for (const std::string& s : sidecars) {
      INFO("listed " << s);
      REQUIRE_FALSE(is_temporary(s));
      const int64_t step = step_of_sidecar(s);
      REQUIRE(fs::exists(fs::path(s).replace_extension(".safetensors")));
      Checkpoint ck;
      REQUIRE_NOTHROW(ck = load_checkpoint(s));
      REQUIRE(ck.step == step);
    }
    Checkpoint ck = load_checkpoint(run_dir);
    REQUIRE(ck.sidecar_path == sidecars.back());
    // Rotation never deletes the last good checkpoint before the next is whole.
    REQUIRE(ck.step >= newest);

    // A resumed life that got as far as saying so started from the newest
    // checkpoint of the kill before.
    if (!fresh) {
      const std::string out = read_file(logs / "stdout");
      const size_t at = out.find("resumed at step ");
      if (at != std::string::npos) {
        ++resumes_seen;
        REQUIRE(std::stoll(out.substr(at + 16)) == newest);
      }
    }
    newest = ck.step;

    // The log holds steps 1..M, each once, M at least the checkpoint's step:
    // a resume drops the records after its checkpoint before appending.
    Metrics m = read_metrics(fs::path(run_dir) / "metrics.jsonl");
    torn_lines += m.torn_last;
    for (size_t i = 0; i < m.steps.size(); ++i) REQUIRE(m.steps[i] == int64_t(i) + 1);
    REQUIRE(int64_t(m.steps.size()) >= newest);
  }

  // Resumed to the end, the run is the uninterrupted one, bit for bit.
  CliResult last = run_cli({"train", "--resume", "--run-dir", run_dir}, logs);
  INFO(last.command << "\n" << last.out << last.err);
  REQUIRE(last.status == 0);
  REQUIRE(last.out.find("resumed at step " + std::to_string(newest) + " ") != std::string::npos);
  CliResult ref = run_cli(train_args(ref_dir, kSteps), logs);
  REQUIRE(ref.status == 0);
  Metrics crashed = read_metrics(fs::path(run_dir) / "metrics.jsonl"),
          clean = read_metrics(fs::path(ref_dir) / "metrics.jsonl");
  REQUIRE(clean.steps.size() == size_t(kSteps));
  REQUIRE(crashed.steps == clean.steps);
  REQUIRE(crashed.losses == clean.losses);
  Checkpoint a = load_checkpoint(run_dir), b = load_checkpoint(ref_dir);
  REQUIRE(a.step == kSteps);
  require_same_tensors(a.model, b.model);
  require_same_tensors(a.optimizer, b.optimizer);

  // Nothing the kills left behind survives a finished run: no temporaries,
  // no weights without a sidecar, just the kept checkpoints.
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(ckpt_dir)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"step-00000999.json", "step-00000999.safetensors", "step-00001000.json",
                                      "step-00001000.safetensors"});
  for (const auto& e : fs::directory_iterator(run_dir)) CHECK_FALSE(is_temporary(e.path().filename().string()));

  std::cout << "crash test: " << kills << " SIGKILLs survived (" << by_kind[0] << " " << kind_names[0] << ", "
            << by_kind[1] << " " << kind_names[1] << ", " << by_kind[2] << " " << kind_names[2] << "); " << mid_write
            << " left a partial temporary file, after " << between_files
            << " there were weights without their sidecar, " << torn_lines << " left a torn metrics line; "
            << resumes_seen << " resumes got far enough to report their step; resumed at step " << newest
            << " to finish" << std::endl;
  // The schedule aims at checkpoint writes: some kills must have caught one.
  CHECK(kills >= kKills * 3 / 4);
  CHECK(mid_write >= 1);
}

TEST_CASE("remove_stale_temporaries removes dead writers' temporaries only", "[cli]") {
  ScratchDir dir("stale");
  // A pid that is surely dead: a child that has exited and been reaped.
  pid_t dead = ::fork();
  REQUIRE(dead >= 0);
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);
  const std::string mine = std::to_string(::getpid()), gone = std::to_string(dead);
  const std::vector<std::string> kept = {"step-00000001.json", "config.json.tmp-" + mine + "-3", "notes.tmp-12x-1",
                                         "weights.tmp-" + gone + "-", ".tmp-" + gone + "-1"};
  const std::vector<std::string> removed = {"step-00000002.safetensors.tmp-" + gone + "-0",
                                            "metrics.jsonl.tmp-" + gone + "-17"};
  for (const auto& n : kept) write_file(dir.path / n, "x");
  for (const auto& n : removed) write_file(dir.path / n, "x");
  CHECK(remove_stale_temporaries(dir.path.string()) == removed.size());
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path)) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>(kept.begin(), kept.end()));
}
