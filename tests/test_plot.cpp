// `moegrad plot`: reading metrics.jsonl (good logs, a truncated last line,
// malformed lines named by line number, unknown kinds and fields) and drawing
// a synthetic run with gnuplot. The drawing tests skip, with a warning, where
// gnuplot is not installed (scripts/setup.sh installs gnuplot-nox).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "apps/plot.h"
#include "core/error.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) {
    const char* v = std::getenv(n.c_str());
    had = v != nullptr;
    if (had) old = v;
    setenv(n.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had)
      setenv(name.c_str(), old.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

bool gnuplot_installed() {
  const char* env = std::getenv("PATH");
  std::stringstream path(env ? env : "");
  std::string dir;
  while (std::getline(path, dir, ':'))
    if (!dir.empty() && ::access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

// The PNG signature, then the IHDR chunk: width and height, big-endian.
struct PngInfo {
  bool signature = false;
  uint32_t width = 0, height = 0;
};
PngInfo png_info(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[24] = {};
  in.read(reinterpret_cast<char*>(head), 24);
  const unsigned char want[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  PngInfo info;
  if (in.gcount() < 24) return info;
  info.signature = std::equal(head, head + 8, want) && std::equal(head + 12, head + 16, "IHDR");
  auto be32 = [&](int at) {
    return uint32_t(head[at]) << 24 | uint32_t(head[at + 1]) << 16 | uint32_t(head[at + 2]) << 8 | head[at + 3];
  };
  info.width = be32(16);
  info.height = be32(20);
  return info;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string layer_json(int layer, const std::vector<int>& counts) {
  std::string tpe;
  for (size_t i = 0; i < counts.size(); ++i) tpe += (i ? "," : "") + std::to_string(counts[i]);
  return R"({"layer":)" + std::to_string(layer) + R"(,"kind":"smoe","tokens_per_expert":[)" + tpe +
         R"(],"dropped_fraction":0.01,"entropy":1.3,"load_imbalance":1.2,)"
         R"("activation_per_unit":0.75,"activation_per_token":0.75})";
}

// 50 train steps, a validation every 10 with two SMoE layers of 4 experts (one
// drifting towards expert 0, one staying even), and an event record.
std::string synthetic_log() {
  std::ostringstream s;
  s << R"({"kind":"event","step":0,"message":"start","config":{"experts":4}})"
    << "\n";
  for (int step = 1; step <= 50; ++step) {
    double loss = 2.5 + 3.0 * std::exp(-step / 12.0) + 0.08 * std::sin(step * 1.7);
    s << R"({"kind":"train","step":)" << step << R"(,"loss":)" << loss
      << R"(,"lr":0.001,"grad_norm":0.8,"tokens_per_s":15000.0,"ms":35.2,"aux_loss":0.01})"
      << "\n";
    if (step % 10 == 0) {
      double vloss = 2.6 + 3.0 * std::exp(-step / 12.0);
      int drift = step * 3;
      s << R"({"kind":"valid","step":)" << step << R"(,"loss":)" << vloss << R"(,"ppl":)" << std::exp(vloss)
        << R"(,"layers":[)" << layer_json(1, {100 + drift, 100, 100 - drift / 2, 100 - drift / 2}) << ","
        << R"({"layer":2,"kind":"dense"},)" << layer_json(3, {90, 110, 95, 105}) << "]}\n";
    }
  }
  return s.str();
}

}  // namespace

TEST_CASE("read_metrics keeps train and valid records in order and ignores other kinds and fields", "[plot]") {
  ScratchDir dir("read_good");
  const fs::path p = dir.path / "metrics.jsonl";
  write(p, R"({"kind":"train","step":1,"loss":3.2,"lr":0.001,"future_field":[1,2]})"
           "\n\n"
           R"({"kind":"event","what":"checkpoint"})"
           "\n"
           R"({"kind":"valid","step":2,"loss":2.9,"ppl":18.2,"layers":[]})"
           "\r\n"
           R"({"note":"no kind at all"})"
           "\n"
           R"({"kind":"train","step":2,"loss":null})"
           "\n");
  MetricsLog log = read_metrics(p.string());
  REQUIRE(log.train.size() == 2);
  REQUIRE(log.valid.size() == 1);
  CHECK(log.skipped_lines == 0);
  CHECK(log.train[0]["step"] == 1);
  CHECK(log.train[0]["loss"] == 3.2);
  CHECK(log.train[0]["future_field"].size() == 2);  // unknown fields are left in place
  CHECK(log.train[1]["loss"].is_null());
  CHECK(log.valid[0]["ppl"] == 18.2);
}

TEST_CASE("read_metrics skips a truncated last line and counts it", "[plot]") {
  ScratchDir dir("read_truncated");
  const fs::path p = dir.path / "metrics.jsonl";
  write(p, R"({"kind":"train","step":1,"loss":3.2})"
           "\n"
           R"({"kind":"train","step":2,"loss":3.1})"
           "\n"
           R"({"kind":"train","step":3,"lo)");
  MetricsLog log = read_metrics(p.string());
  CHECK(log.train.size() == 2);
  CHECK(log.skipped_lines == 1);

  // Truncated and then followed by blank lines only: still the last line.
  write(p, R"({"kind":"train","step":1,"loss":3.2})"
           "\n"
           R"({"kind":"tr)"
           "\n\n");
  log = read_metrics(p.string());
  CHECK(log.train.size() == 1);
  CHECK(log.skipped_lines == 1);
}

TEST_CASE("read_metrics names the file and line of a malformed line", "[plot]") {
  ScratchDir dir("read_malformed");
  const fs::path p = dir.path / "metrics.jsonl";
  const std::string good = R"({"kind":"train","step":1,"loss":3.2})"
                           "\n";
  write(p, good + good +
               R"({"kind":"train","step":2,"loss":})"
               "\n" +
               good);
  CHECK_THROWS_WITH(read_metrics(p.string()), Contains(p.string() + ":3: not valid JSON"));

  write(p, good + "[1,2,3]\n" + good);
  CHECK_THROWS_WITH(read_metrics(p.string()), Contains(p.string() + ":2: not a JSON object"));

  write(p, good + R"({"kind":"valid","loss":2.0})"
                  "\n");
  CHECK_THROWS_WITH(read_metrics(p.string()), Contains(":2: valid record without an integer \"step\""));

  CHECK_THROWS_AS(read_metrics((dir.path / "absent.jsonl").string()), Error);
  CHECK_THROWS_WITH(read_metrics((dir.path / "absent.jsonl").string()), Contains("no such file"));
}

TEST_CASE("plot_run draws the loss and one expert-load heatmap per MoE layer", "[plot]") {
  if (!gnuplot_installed()) {
    WARN("gnuplot is not installed: skipping the drawing test (bash scripts/setup.sh installs gnuplot-nox)");
    return;
  }
  ScratchDir dir("draw");
  write(dir.path / "metrics.jsonl", synthetic_log());
  PlotResult r = plot_run(dir.path.string());
  const fs::path plots = dir.path / "plots";
  REQUIRE(r.files.size() == 3);
  CHECK(r.files[0] == (plots / "loss.png").string());
  CHECK(r.files[1] == (plots / "expert_load_layer1.png").string());
  CHECK(r.files[2] == (plots / "expert_load_layer3.png").string());
  for (const auto& f : r.files) {
    INFO(f);
    REQUIRE(fs::exists(f));
    PngInfo png = png_info(f);
    CHECK(png.signature);
    CHECK(png.width >= 800);
    CHECK(png.height >= 400);
    CHECK(fs::file_size(f) > 5000);  // axes, labels and data: more than a blank canvas
  }
  // Layer 1 drifts towards expert 0, layer 3 stays even: different pictures.
  CHECK(slurp(r.files[1]) != slurp(r.files[2]));
  // Only the PNGs are left: no temporary directory, script or data files.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(plots)) {
    INFO(e.path().string());
    CHECK(e.path().extension() == ".png");
    ++entries;
  }
  CHECK(entries == 3);

  // Plotting again replaces the files.
  CHECK(plot_run(dir.path.string()).files == r.files);
}

TEST_CASE("plot_run copes with a resumed run, NaN losses and no validations", "[plot]") {
  if (!gnuplot_installed()) {
    WARN("gnuplot is not installed: skipping the drawing test (bash scripts/setup.sh installs gnuplot-nox)");
    return;
  }
  ScratchDir dir("resumed");
  std::ostringstream s;
  for (int step = 1; step <= 30; ++step)
    s << R"({"kind":"train","step":)" << step << R"(,"loss":)" << 4.0 - step * 0.05 << "}\n";
  for (int step = 21; step <= 40; ++step)  // resumed from step 20: steps 21..30 again
    s << R"({"kind":"train","step":)" << step << R"(,"loss":)"
      << (step == 35 ? "null" : std::to_string(3.0 - step * 0.01)) << "}\n";
  s << R"({"kind":"train","step":41,"lo)";  // killed while writing
  write(dir.path / "metrics.jsonl", s.str());
  PlotResult r = plot_run(dir.path.string());
  REQUIRE(r.files.size() == 1);
  CHECK(png_info(r.files[0]).signature);
}

TEST_CASE("plot_run errors: missing run dir, missing metrics.jsonl, no train records", "[plot]") {
  ScratchDir dir("errors");
  CHECK_THROWS_WITH(plot_run((dir.path / "nope").string()), Contains("run directory") && Contains("does not exist"));
  CHECK_THROWS_WITH(plot_run(dir.path.string()), Contains("no metrics.jsonl in " + dir.path.string()));
  write(dir.path / "metrics.jsonl", R"({"kind":"valid","step":10,"loss":2.0})"
                                    "\n");
  CHECK_THROWS_WITH(plot_run(dir.path.string()), Contains("has no train records"));
  CHECK_FALSE(fs::exists(dir.path / "plots"));
}

TEST_CASE("plot_run without gnuplot on PATH says how to install it", "[plot]") {
  ScratchDir dir("no_gnuplot");
  fs::create_directories(dir.path / "empty_bin");
  write(dir.path / "metrics.jsonl", R"({"kind":"train","step":1,"loss":3.0})"
                                    "\n");
  ScopedEnv path("PATH", (dir.path / "empty_bin").string());
  CHECK_THROWS_WITH(plot_run(dir.path.string()),
                    Contains("gnuplot not found: install gnuplot-nox (bash scripts/setup.sh)"));
}

TEST_CASE("plot_run reports gnuplot's error line when gnuplot fails and cleans up", "[plot]") {
  ScratchDir dir("gnuplot_fails");
  const fs::path bin = dir.path / "bin";
  fs::create_directories(bin);
  write(bin / "gnuplot",
        "#!/bin/sh\necho '' >&2\necho 'fake gnuplot: cannot draw today' >&2\necho 'more detail' >&2\nexit 3\n");
  fs::permissions(bin / "gnuplot", fs::perms::owner_all);
  write(dir.path / "metrics.jsonl", R"({"kind":"train","step":1,"loss":3.0})"
                                    "\n");
  ScopedEnv path("PATH", bin.string());
  CHECK_THROWS_WITH(plot_run(dir.path.string()),
                    Contains("gnuplot exited with status 3: fake gnuplot: cannot draw today"));
  CHECK(fs::is_empty(dir.path / "plots"));  // the temporary directory is gone
}

TEST_CASE("plot_curves draws one line per curve into the file named, and nothing else", "[plot]") {
  ScratchDir dir("curves");
  Curve falling{"smoe", {}}, flat{"dense (ablation)", {}}, lone{"one point", {{10, 3.0}}};
  for (int64_t step = 10; step <= 200; step += 10) {
    falling.points[step] = 5.0 * std::exp(-double(step) / 80.0) + 1.0;
    flat.points[step] = 2.5;
  }
  const std::string png = (dir.path / "sub" / "loss.png").string();
  if (gnuplot_installed()) {
    plot_curves(png, "lm: training loss, mean over seeds", "train loss", {falling, flat, lone});
    PngInfo info = png_info(png);
    CHECK(info.signature);
    CHECK(info.width == 1100);
    CHECK(info.height == 650);
    const std::string two = slurp(png);
    plot_curves(png, "lm: training loss, mean over seeds", "train loss", {falling});
    CHECK(slurp(png) != two);  // replaced, and the curves are in the picture
    int entries = 0;
    for (const auto& e : fs::directory_iterator(dir.path / "sub")) {
      INFO(e.path().string());
      ++entries;
    }
    CHECK(entries == 1);  // no temporary directory left
  } else {
    WARN("gnuplot is not installed: skipping the drawing part (bash scripts/setup.sh installs gnuplot-nox)");
  }
  Curve nan_only{"broken", {{1, std::nan("")}}};
  CHECK_THROWS_WITH(plot_curves(png, "t", "y", {nan_only}), Contains("no curve") && Contains("finite point"));
  CHECK_THROWS_WITH(plot_curves(png, "t", "y", {}), Contains("no curve"));
  ScopedEnv path("PATH", (dir.path / "no_bin").string());
  CHECK_THROWS_WITH(plot_curves(png, "t", "y", {falling}), Contains("gnuplot not found"));
}
