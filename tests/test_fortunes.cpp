// The multilingual corpus (apps/fortunes.h): which files are read as which
// language, the records and their cleaning, the split and the training mix,
// on a hand-built tree; then Debian's fortune files when `scripts/fetch_data.sh
// fortunes` has installed them (skipped otherwise, saying so); and the
// multilingual suite of `moegrad compare` on them.
#include <filesystem>
#include <map>
#include <set>

#include "apps/compare.h"
#include "apps/fortunes.h"
#include "apps/parallel.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

const char* kDebianRoot = "/usr/share/games/fortunes";

// Records of a written file (separated by blank lines, as write_multilingual_corpus writes them).
std::multiset<std::string> records_in(const std::string& path) {
  std::multiset<std::string> out;
  std::string text = read_file(path);
  size_t start = 0;
  for (size_t at; (at = text.find("\n\n", start)) != std::string::npos; start = at + 2)
    out.insert(text.substr(start, at + 1 - start));
  REQUIRE(start == text.size());
  return out;
}

}  // namespace

TEST_CASE("read_fortunes: languages by place, records split at %, ANSI escapes and blanks dropped", "[fortunes]") {
  ScratchDir root("fortunes");
  write_file(root / "people", "First.\n%\nSecond,\ntwo lines.\n%\n  \n%\n");
  write_file(root / "people.dat", "index, not text");
  write_file(root / "chinese", "\x1b[1;31m\xe9\x9d\x99\xe5\xa4\x9c\xe6\x80\x9d\x1b[m\n%\n");
  write_file(root / "brasil", "Ol\xc3\xa1.\r\n%\r\n");
  fs::create_directories(root.path / "de" / "off");
  write_file(root / "de/sprueche", "Eins.\n%\nZwei.\n");
  write_file(root / "de/off/rude", "Not read.\n");
  fs::create_directories(root.path / "it");
  write_file(root / "it/adams", "Uno.\n");
  fs::create_symlink(root.path / "it/adams", root.path / "adams");  // the root's links into it/ are not English

  std::vector<LanguageText> langs = read_fortunes(root.path.string());
  std::vector<std::string> order;
  std::map<std::string, std::vector<FortuneRecord>> by;
  for (const auto& l : langs) {
    order.push_back(l.language);
    by[l.language] = l.records;
  }
  CHECK(order == std::vector<std::string>{"en", "de", "it", "zh", "pt"});
  REQUIRE(by["en"].size() == 2);
  CHECK(by["en"][0].id == "en/people#0");
  CHECK(by["en"][0].text == "First.\n");
  CHECK(by["en"][1].text == "Second,\ntwo lines.\n");
  CHECK(by["zh"][0].text == "\xe9\x9d\x99\xe5\xa4\x9c\xe6\x80\x9d\n");
  CHECK(by["pt"][0].text == "Ol\xc3\xa1.\n");
  REQUIRE(by["de"].size() == 2);
  CHECK(by["de"][1].id == "de/sprueche#1");
  CHECK(by["it"].size() == 1);

  CHECK_THROWS_WITH(read_fortunes((root / "nothing")), Catch::Contains("scripts/fetch_data.sh fortunes"));
}

TEST_CASE("write_multilingual_corpus: each record once, held out by its id, the mix in a fixed order",
          "[fortunes]") {
  ScratchDir dir("fortunes_out");
  LanguageText en{"en", {}}, de{"de", {}};
  for (int i = 0; i < 200; ++i) {
    en.records.push_back({"en/f#" + std::to_string(i), "english " + std::to_string(i) + "\n"});
    de.records.push_back({"de/f#" + std::to_string(i), "deutsch " + std::to_string(i) + "\n"});
  }
  MultilingualFiles f = write_multilingual_corpus({en, de}, dir / "data", 0.1);
  REQUIRE(f.valid.size() == 2);
  CHECK(f.valid[0].first == "en");
  std::multiset<std::string> train = records_in(f.train), all = train;
  for (const auto& [language, path] : f.valid) {
    const LanguageText& l = language == "en" ? en : de;
    std::multiset<std::string> valid = records_in(path);
    CHECK(!valid.empty());
    for (const FortuneRecord& r : l.records)
      CHECK(valid.count(r.text) == (split_position(r.id) < 0.1 ? 1u : 0u));
    all.insert(valid.begin(), valid.end());
  }
  CHECK(all.size() == 400);
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == 400);
  // The mix is ordered by split_position, so both languages run through it.
  std::string text = read_file(f.train);
  size_t first_de = text.find("deutsch"), first_en = text.find("english");
  CHECK(first_de < text.size() / 4);
  CHECK(first_en < text.size() / 4);
  // Deterministic: the same records give the same files.
  MultilingualFiles again = write_multilingual_corpus({en, de}, dir / "again", 0.1);
  CHECK(read_file(again.train) == text);

  CHECK_THROWS_WITH(write_multilingual_corpus({en}, dir / "x", 0.1, 2), Catch::Contains("language en"));
  CHECK_THROWS_WITH(write_multilingual_corpus({en}, dir / "x", 0.0), Catch::Contains("valid_fraction"));
}

TEST_CASE("Debian's fortune files: nine languages, and the multilingual suite of compare on them",
          "[fortunes][slow]") {
  if (!fs::exists(std::string(kDebianRoot) + "/de")) {
    WARN("skipped: Debian's fortunes-* packages are not installed (bash scripts/fetch_data.sh fortunes)");
    return;
  }
  std::vector<LanguageText> langs = read_fortunes();
  std::set<std::string> names;
  for (const auto& l : langs) {
    names.insert(l.language);
    CHECK(l.records.size() > 100);
  }
  CHECK(names == std::set<std::string>{"en", "de", "es", "it", "ru", "pl", "cs", "zh", "pt"});

  ScratchDir dir("compare_ml");
  CompareOptions o;
  o.suite = "multilingual";
  o.quick = true;
  o.seeds = 1;
  o.arms = {"smoe"};
  o.out_dir = dir.path.string();
  std::ostringstream log;
  std::string md = run_compare(o, log);
  nlohmann::json r = nlohmann::json::parse(read_file(dir / "multilingual/results.jsonl"));
  for (const std::string& l : names) {
    INFO(l);
    CHECK(std::isfinite(r["valid_loss_" + l].get<double>()));
  }
  CHECK_THAT(md, Catch::Contains("| zh |") && Catch::Contains("| smoe |"));
}
