// `moegrad bench` (apps/bench.h): the JSON lines it promises, and its errors.
// Timings themselves are never asserted (a unit test is no benchmark); what is
// checked is that every case and mode is measured and that the derived
// figures follow from the measured ones.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/bench.h"
#include "cli.h"
#include "core/error.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using moegrad::testing::run_cli;
using moegrad::testing::ScratchDir;

namespace {

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

BenchCase tiny(const std::string& kind) {
  BenchCase c{"custom", kind, 64, 16, 32, 4, 2, 2, 8};
  return c;
}

}  // namespace

TEST_CASE("bench: every case gets a fwd and a fwd+bwd line with consistent figures", "[bench]") {
  BenchOptions o;
  o.repeats = 3;
  o.warmup = 1;
  for (const char* kind : {"gemm", "softmax", "layernorm", "cross_entropy", "attention", "dense", "smoe", "mhmoe", "thor"})
    o.cases.push_back(tiny(kind));
  std::ostringstream out;
  run_bench(o, out);
  std::vector<nlohmann::json> lines = json_lines(out.str());
  REQUIRE(lines.size() == 2 + 2 * o.cases.size());
  CHECK(lines[0]["bench"] == "machine");
  REQUIRE(lines[1]["bench"] == "ceiling");
  const double ceiling = lines[1]["gflops"];
  CHECK(ceiling > 0);
  for (size_t i = 0; i < o.cases.size(); ++i) {
    for (int m = 0; m < 2; ++m) {
      const nlohmann::json& j = lines[2 + 2 * i + m];
      INFO(j.dump());
      CHECK(j["kind"] == o.cases[i].kind);
      CHECK(j["mode"] == (m == 0 ? "fwd" : "fwd+bwd"));
      CHECK(j["ms"].get<double>() > 0);
      CHECK(j["ms_min"].get<double>() <= j["ms"].get<double>());
      CHECK(j["repeats"] == 3);
      if (j.contains("gflop")) {
        CHECK(j["gflops"].get<double>() == Approx(j["gflop"].get<double>() / (j["ms"].get<double>() * 1e-3)));
        CHECK(j["ceiling_fraction"].get<double>() == Approx(j["gflops"].get<double>() / ceiling));
      } else {
        CHECK(j["gbps"].get<double>() > 0);  // the memory-bound ops report bandwidth instead
      }
    }
  }
  // GEMM FLOPs: 2*M*N*K forward, three times that with the backward.
  CHECK(lines[2]["gflop"].get<double>() == Approx(2.0 * 64 * 16 * 32 / 1e9));
  CHECK(lines[3]["gflop"].get<double>() == Approx(3 * 2.0 * 64 * 16 * 32 / 1e9));
}

TEST_CASE("bench: the named cases are the BENCHMARKS.md configs", "[bench]") {
  BenchCase smoe = find_bench_case("cpu-smoe");
  CHECK(smoe.kind == "smoe");
  CHECK(smoe.tokens == 4096);
  CHECK(smoe.dim == 512);
  CHECK(smoe.hidden == 2048);
  CHECK(smoe.experts == 8);
  CHECK(smoe.top_k == 2);
  BenchCase mh = find_bench_case("gpu-mhmoe");
  CHECK(mh.tokens == 16384);
  CHECK(mh.dim == 1024);
  CHECK(mh.hidden == 1024);
  CHECK(mh.heads == 4);
  CHECK_THROWS_WITH(find_bench_case("cpu-nope"), Catch::Contains("unknown case 'cpu-nope'") && Catch::Contains("cpu-smoe"));
}

TEST_CASE("bench --train: one line per model with tokens/s from its step time", "[bench]") {
  BenchOptions o;
  o.train = true;
  o.models = {"smoe", "thor"};
  o.train_steps = 1;
  std::ostringstream out;
  run_bench(o, out);
  std::vector<nlohmann::json> lines = json_lines(out.str());
  REQUIRE(lines.size() == 3);
  for (int i = 0; i < 2; ++i) {
    const nlohmann::json& j = lines[1 + i];
    CHECK(j["bench"] == "train");
    CHECK(j["model"] == o.models[i]);
    CHECK(j["params"].get<int64_t>() > 0);
    CHECK(j["tokens_per_s"].get<double>() == Approx(16.0 * 128 / (j["ms"].get<double>() * 1e-3)));
  }
}

TEST_CASE("bench: bad options are errors naming the flag", "[bench]") {
  BenchOptions o;
  o.repeats = 0;
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("--repeats 0"));
  o = BenchOptions();
  o.mode = "sideways";
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("--mode 'sideways'"));
  o = BenchOptions();
  o.models = {"dense", "huge"};
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("unknown model 'huge'"));
  o = BenchOptions();
  o.device = "cuda:7";  // no such GPU here, with or without CUDA
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("cuda:7"));
  o = BenchOptions();
  BenchCase c = tiny("smoe");
  c.top_k = 9;
  o.cases = {c};
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("--top-k 9"));
  c = tiny("attention");
  c.seq = 7;
  o.cases = {c};
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("--seq 7"));
  c = tiny("conv");
  o.cases = {c};
  CHECK_THROWS_WITH(check_bench_options(o), Catch::Contains("unknown --kind 'conv'"));
}

TEST_CASE("moegrad bench: the command prints JSON lines, and bad input exits 2", "[cli]") {
  ScratchDir logs("bench-cli");
  auto r = run_cli({"bench", "--kind", "dense", "--tokens", "32", "--dim", "8", "--hidden", "16", "--repeats", "2",
                    "--mode", "fwd"},
                   logs);
  REQUIRE(r.status == 0);
  std::vector<nlohmann::json> lines = json_lines(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2]["case"] == "custom");
  CHECK(lines[2]["mode"] == "fwd");
  r = run_cli({"bench", "--list"}, logs);
  CHECK(r.status == 0);
  CHECK(r.out.find("cpu-mhmoe  (mhmoe)") != std::string::npos);
  r = run_cli({"bench", "cpu-bogus"}, logs);
  CHECK(r.status == 2);
  CHECK(r.err.find("moegrad: error: bench: unknown case 'cpu-bogus'") != std::string::npos);
  r = run_cli({"bench", "cpu-smoe", "--kind", "dense"}, logs);
  CHECK(r.status == 2);
  CHECK(r.err.find("not both") != std::string::npos);
}
