// `moegrad compare` (apps/compare.h) at its --quick size: the results file,
// the table, skipping what is done, clearing what a killed run left, and the
// errors; the lm suite on the Moby-Dick fixture, the translate suite on a toy TSV.
#include <filesystem>
#include <fstream>

#include "apps/compare.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> results_of(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("compare lm --quick: a line per arm and seed, one table, and done runs are not run again",
          "[compare][slow]") {
  ScratchDir dir("compare_lm");
  CompareOptions o;
  o.quick = true;
  o.seeds = 2;
  o.arms = {"dense", "mhmoe-v1"};
  o.data = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";
  o.out_dir = dir.path.string();
  std::ostringstream log;
  std::string md = run_compare(o, log);
  const std::string results = dir / "lm/results.jsonl";
  std::vector<nlohmann::json> r = results_of(results);
  REQUIRE(r.size() == 4);
  for (const auto& j : r) {
    CHECK(j["steps"] == 30);
    CHECK(std::isfinite(j["valid_loss"].get<double>()));
    CHECK(j["valid_ppl"].get<double>() == Approx(std::exp(j["valid_loss"].get<double>())));
    CHECK(j["seconds"].get<double>() > 0);
    if (j["arm"] == "dense") CHECK(!j.contains("activation_per_unit"));
    if (j["arm"] == "mhmoe-v1") {
      CHECK(j["activation_per_unit"].get<double>() > 0);
      CHECK(j["activation_per_unit"].get<double>() <= 1);
    }
  }
  // The seeds differ, and MH-MoE v1 costs more FLOPs than the dense model.
  CHECK(r[0]["valid_loss"] != r[1]["valid_loss"]);
  CHECK(r[2]["flops_per_token"].get<int64_t>() > r[0]["flops_per_token"].get<int64_t>());
  CHECK(read_file(dir / "lm/table.md") == md);
  CHECK_THAT(md, Catch::Contains("| dense |") && Catch::Contains("| mhmoe-v1 |") && Catch::Contains(" ± "));
  CHECK_THAT(md, Catch::Contains(" run s | seeds |"));
  CHECK_THAT(md, !Catch::Contains("| smoe |"));
  // The curves of both arms, where gnuplot can draw them; else a line says why.
  if (fs::exists(dir / "lm/loss.png"))
    CHECK_THAT(log.str(), Catch::Contains("plot: " + dir / "lm/loss.png"));
  else
    CHECK_THAT(log.str(), Catch::Contains("no plot (plot: gnuplot not found"));

  // Done: nothing runs again. A run killed before its line is cleared and run.
  const std::string kept = read_file(dir / "lm/dense/seed-1/train.log");
  fs::create_directories(dir / "lm/dense/seed-3");
  write_file(dir / "lm/dense/seed-3/leftover", "from a killed run");
  o.seeds = 3;
  o.arms = {"dense"};
  run_compare(o, log);
  r = results_of(results);
  REQUIRE(r.size() == 5);
  CHECK(r[4]["arm"] == "dense");
  CHECK(r[4]["seed"] == 3);
  CHECK(!fs::exists(dir / "lm/dense/seed-3/leftover"));
  CHECK(read_file(dir / "lm/dense/seed-1/train.log") == kept);

  o.arms = {"dense", "moe"};
  CHECK_THROWS_WITH(run_compare(o, log), Catch::Contains("--arms: no arm 'moe' in suite lm"));
  o.arms = {};
  o.suite = "vision";
  CHECK_THROWS_WITH(run_compare(o, log), Catch::Contains("--suite must be lm, multilingual or translate, got 'vision'"));
}

TEST_CASE("compare translate --quick: THOR's inference modes are scored", "[compare][slow]") {
  ScratchDir dir("compare_mt");
  std::string tsv;
  const char* en[] = {"one", "two", "three", "four"};
  const char* es[] = {"uno", "dos", "tres", "cuatro"};
  for (int i = 0; i < 400; ++i)
    tsv += std::string(en[i % 4]) + " " + en[(i / 4) % 4] + " " + en[(i / 16) % 4] + " " + std::to_string(i) + "\t" +
           es[i % 4] + " " + es[(i / 4) % 4] + " " + es[(i / 16) % 4] + " " + std::to_string(i) + "\n";
  write_file(dir / "toy.tsv", tsv);
  CompareOptions o;
  o.suite = "translate";
  o.quick = true;
  o.seeds = 1;
  o.arms = {"thor"};
  o.data = dir / "toy.tsv";
  o.out_dir = dir.path.string();
  std::ostringstream log;
  std::string md = run_compare(o, log);
  std::vector<nlohmann::json> r = results_of(dir / "translate/results.jsonl");
  REQUIRE(r.size() == 1);
  for (const char* key : {"test_bleu", "test_bleu_beam4", "test_bleu_random_token", "test_bleu_random_sequence",
                          "test_bleu_ensemble"}) {
    INFO(key);
    CHECK(r[0][key].get<double>() >= 0);
  }
  CHECK(r[0]["test_bleu"] == r[0]["test_bleu_random_sequence"]);  // the run's own mode
  CHECK_THAT(md, Catch::Contains("| thor |"));
  // The curves are of validation loss (the run's one valid record here), where gnuplot can draw them.
  if (fs::exists(dir / "translate/loss.png"))
    CHECK_THAT(log.str(), Catch::Contains("plot: " + dir / "translate/loss.png"));
  else
    CHECK_THAT(log.str(), Catch::Contains("no plot (plot: gnuplot not found"));
}
