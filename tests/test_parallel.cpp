// Parallel corpora (apps/parallel.h): cleaning (empty sides, duplicates), the
// hash split, and the Bible corpus read from two KJV-versified modules, first
// hand-built (tests/ztext.h) and then, when `scripts/fetch_data.sh bible` has
// installed them, Debian's KJV and Reina-Valera 1909 (skipped otherwise, saying so).
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "apps/parallel.h"
#include "apps/sword.h"
#include "reference.h"
#include "ztext.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

std::set<std::string> ids(const std::vector<SentencePair>& pairs) {
  std::set<std::string> out;
  for (const SentencePair& p : pairs) out.insert(p.id);
  return out;
}

// Writes a full-size KJV module whose verse entries are `verses` (by
// reference, as markup) and every other entry empty.
void write_kjv_module(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& verses) {
  std::vector<std::string> entries[2] = {std::vector<std::string>(size_t(kjv_entry_count(Testament::old_testament))),
                                         std::vector<std::string>(size_t(kjv_entry_count(Testament::new_testament)))};
  entries[0][1] = "<milestone type=\"x-importer\"/>";  // headings exist but are never paired
  entries[0][2] = "<title type=\"main\">Genesis</title>";
  for (const auto& [ref, markup] : verses) {
    const VerseEntry v = kjv_locate(ref);
    entries[v.testament == Testament::old_testament ? 0 : 1][size_t(v.index)] = markup;
  }
  write_ztext(dir, "ot", entries[0], 500);
  write_ztext(dir, "nt", entries[1], 500);
}

bool real_modules_installed() {
  for (const char* m : {"engKJV2006eb", "spaRV1909eb"})
    for (const char* f : {"ot.bzv", "nt.bzv"})
      if (!fs::exists(fs::path(sword_module_dir(m)) / f)) return false;
  return true;
}

}  // namespace

TEST_CASE("clean_pairs drops empty sides and later duplicates and keeps the order", "[parallel]") {
  const ParallelCorpus c = clean_pairs({{"a", "one", "uno"},
                                        {"b", "", "dos"},
                                        {"c", "three", ""},
                                        {"d", "one", "uno"},   // duplicate of a
                                        {"e", "one", "eins"},  // same source, other target: kept
                                        {"f", "four", "cuatro"},
                                        {"g", "four", "cuatro"}});
  CHECK(c.candidates == 7);
  CHECK(c.dropped_empty == 2);
  CHECK(c.dropped_duplicate == 2);
  REQUIRE(c.pairs.size() == 3);
  CHECK(c.pairs[0] == SentencePair{"a", "one", "uno"});
  CHECK(c.pairs[1] == SentencePair{"e", "one", "eins"});
  CHECK(c.pairs[2] == SentencePair{"f", "four", "cuatro"});
  CHECK(clean_pairs({}).pairs.empty());
  require_error([] { clean_pairs({{"a", "x", "y"}, {"a", "z", "w"}}); }, "the id 'a' appears twice");
  require_error([] { clean_pairs({{"", "x", "y"}}); }, "empty id");
}

TEST_CASE("split_pairs hashes ids into disjoint parts independent of order", "[parallel]") {
  std::vector<SentencePair> pairs;
  for (int i = 0; i < 20000; ++i) pairs.push_back({"id" + std::to_string(i), "s" + std::to_string(i), "t"});
  const ParallelSplit s = split_pairs(pairs, 0.1, 0.05);
  CHECK(s.train.size() + s.valid.size() + s.test.size() == pairs.size());
  // Roughly the fractions asked for (binomial: 5 standard deviations).
  CHECK(std::abs(double(s.valid.size()) - 2000) < 5 * std::sqrt(20000 * 0.1 * 0.9));
  CHECK(std::abs(double(s.test.size()) - 1000) < 5 * std::sqrt(20000 * 0.05 * 0.95));
  const std::set<std::string> tr = ids(s.train), va = ids(s.valid), te = ids(s.test);
  for (const std::string& id : va) CHECK((tr.count(id) == 0 && te.count(id) == 0));
  for (const std::string& id : te) CHECK(tr.count(id) == 0);
  for (const SentencePair& p : s.test) CHECK(split_position(p.id) < 0.05);
  for (const SentencePair& p : s.valid) CHECK((split_position(p.id) >= 0.05 && split_position(p.id) < 0.15));
  // Each part keeps the input order.
  for (size_t i = 1; i < s.train.size(); ++i)
    REQUIRE(std::stoi(s.train[i].id.substr(2)) > std::stoi(s.train[i - 1].id.substr(2)));
  // The same ids land in the same parts whatever the order and whatever else is there.
  std::vector<SentencePair> reversed(pairs.rbegin(), pairs.rend());
  reversed.resize(5000);
  const ParallelSplit r = split_pairs(reversed, 0.1, 0.05);
  for (const SentencePair& p : r.valid) CHECK(va.count(p.id) == 1);
  for (const SentencePair& p : r.test) CHECK(te.count(p.id) == 1);
  // Growing a fraction only moves pairs out of train.
  const ParallelSplit wider = split_pairs(pairs, 0.1, 0.08);
  for (const std::string& id : te) CHECK(ids(wider.test).count(id) == 1);
  // Fixed values: the split must not change between versions (FNV-1a + splitmix64 of the id).
  CHECK(split_position("John.3.16") == Approx(0.6704282803840582).epsilon(1e-15));
  CHECK(split_pairs(pairs, 0, 0).train.size() == pairs.size());
  require_error([&] { split_pairs(pairs, 0.6, 0.4); }, "must be below 1");
  require_error([&] { split_pairs(pairs, -0.1, 0.1); }, "valid_fraction");
  require_error([&] { split_pairs(pairs, 0.1, std::nan("")); }, "test_fraction");
}

TEST_CASE("read_bible_pairs pairs verses by index from two hand-built KJV modules", "[parallel]") {
  ScratchDir dir("bible_built");
  write_kjv_module(dir.path / "en", {{"Gen.1.1", "In the <w lemma=\"strong:H7225\">beginning</w>."},
                                     {"Gen.1.2", "And the earth.<note>a footnote</note>"},
                                     {"Gen.1.3", "Only in English."},
                                     {"Exod.3.14", "I AM THAT I AM"},
                                     {"Ps.119.176", "last of the psalm"},
                                     {"John.3.16", "<q who=\"Jesus\">\xC2\xB6 For God so loved</q>"},
                                     {"John.11.35", "Jesus wept."},
                                     {"Rev.22.21", "The grace. Amen."},
                                     {"Rev.22.20", "The grace. Amen."}});
  write_kjv_module(dir.path / "es", {{"Gen.1.1", "EN el <w>principio</w>."},
                                     {"Gen.1.2", "Y la tierra."},
                                     {"Exod.3.14", "YO SOY EL QUE SOY"},
                                     {"Ps.119.176", "fin"},
                                     {"John.3.16", "Porque de tal manera"},
                                     {"John.11.35", "Y llor\xC3\xB3 Jes\xC3\xBAs."},
                                     {"Rev.22.21", "La gracia. Am\xC3\xA9n."},
                                     {"Rev.22.20", "La gracia. Am\xC3\xA9n."},
                                     {"Rev.22.19", "Only in Spanish."}});
  const ParallelCorpus c = read_bible_pairs((dir.path / "en").string(), (dir.path / "es").string());
  CHECK(c.candidates == 31102);
  CHECK(c.dropped_duplicate == 1);  // Rev.22.21 repeats Rev.22.20
  CHECK(c.dropped_empty == 31102 - 8);
  REQUIRE(c.pairs.size() == 7);
  CHECK(c.pairs[0] == SentencePair{"Gen.1.1", "In the beginning.", "EN el principio."});
  CHECK(c.pairs[1] == SentencePair{"Gen.1.2", "And the earth.", "Y la tierra."});
  CHECK(c.pairs[2] == SentencePair{"Exod.3.14", "I AM THAT I AM", "YO SOY EL QUE SOY"});
  CHECK(c.pairs[3] == SentencePair{"Ps.119.176", "last of the psalm", "fin"});
  CHECK(c.pairs[4] == SentencePair{"John.3.16", "For God so loved", "Porque de tal manera"});
  CHECK(c.pairs[5] == SentencePair{"John.11.35", "Jesus wept.", "Y llor\xC3\xB3 Jes\xC3\xBAs."});
  CHECK(c.pairs[6] == SentencePair{"Rev.22.20", "The grace. Amen.", "La gracia. Am\xC3\xA9n."});
}

TEST_CASE("read_bible_pairs refuses missing modules and other versifications", "[parallel]") {
  ScratchDir dir("bible_bad");
  require_error([&] { read_bible_pairs((dir.path / "nowhere").string(), (dir.path / "nowhere").string()); },
                "scripts/fetch_data.sh bible");
  // The 3 John fixture is a real module with 18 nt entries and no ot: not KJV-shaped.
  const std::string fixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/sword/engKJV2006eb-3john";
  write_kjv_module(dir.path / "full", {{"Gen.1.1", "x"}});
  require_error([&] { read_bible_pairs((dir.path / "full").string(), fixture); }, "ot.bzs: no such file");
  fs::create_directories(dir.path / "short");
  for (const char* f : {"nt.bzs", "nt.bzv", "nt.bzz"}) fs::copy_file(fs::path(fixture) / f, dir.path / "short" / f);
  write_ztext(dir.path / "short", "ot", std::vector<std::string>(size_t(kjv_entry_count(Testament::old_testament))));
  require_error([&] { read_bible_pairs((dir.path / "full").string(), (dir.path / "short").string()); },
                "not in KJV versification");
}

TEST_CASE("real modules: the KJV and RV1909 pair into about 31k verses and split 29.7k/0.6k/0.6k", "[parallel]") {
  if (!real_modules_installed()) {
    WARN(
        "the SWORD modules engKJV2006eb and spaRV1909eb are not installed: skipping the test on the real Bibles "
        "(bash scripts/fetch_data.sh bible installs them)");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const ParallelCorpus c = read_bible_pairs();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ParallelSplit s = split_pairs(c.pairs);
  size_t en_chars = 0, es_chars = 0;
  for (const SentencePair& p : c.pairs) en_chars += p.source.size(), es_chars += p.target.size();
  std::cout << "bible: " << c.candidates << " verses, " << c.dropped_empty << " with an empty side, "
            << c.dropped_duplicate << " duplicates, " << c.pairs.size() << " pairs (" << en_chars << " / " << es_chars
            << " bytes) in " << seconds << " s; split " << s.train.size() << " train / " << s.valid.size()
            << " valid / " << s.test.size() << " test\n";
  CHECK(c.candidates == 31102);
  CHECK(c.dropped_empty == 18);
  CHECK(c.dropped_duplicate == 165);
  CHECK(c.pairs.size() == 30919);
  CHECK(s.train.size() == 29706);
  CHECK(s.valid.size() == 588);
  CHECK(s.test.size() == 625);
  CHECK(c.pairs.front() == SentencePair{"Gen.1.1", "In the beginning God created the heaven and the earth.",
                                        "EN el principio cri\xC3\xB3 Dios los cielos y la tierra."});
  CHECK(c.pairs.back().id == "Rev.22.21");
  for (const SentencePair& p : c.pairs) {
    INFO(p.id);
    REQUIRE(p.source.find('<') == std::string::npos);
    REQUIRE(p.target.find('<') == std::string::npos);
    REQUIRE(p.source.find("\xC2\xB6") == std::string::npos);
  }
}
