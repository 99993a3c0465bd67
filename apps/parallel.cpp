// Sentence pairs, the Bible corpus and the hash split: see parallel.h.
#include "apps/parallel.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include "apps/sword.h"
#include "core/error.h"

namespace moegrad::app {

namespace {

// 64-bit FNV-1a followed by splitmix64's finalizer: FNV alone leaves the top
// bits of short, similar keys ("Gen.1.1", "Gen.1.2", ...) poorly mixed, and
// the split reads the top bits.
uint64_t id_hash(const std::string& id) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

struct PairHash {
  size_t operator()(const std::pair<std::string, std::string>& p) const {
    return std::hash<std::string>()(p.first) * 31 + std::hash<std::string>()(p.second);
  }
};

std::vector<std::string> read_testament_checked(const std::string& dir, Testament t) {
  const char* op = "read_bible_pairs";
  namespace fs = std::filesystem;
  std::error_code ec;
  MOEGRAD_CHECK(fs::is_directory(dir, ec), op, "no SWORD module at ", dir,
                " (run scripts/fetch_data.sh bible to install the default ones)");
  std::vector<std::string> entries = read_ztext_testament(dir, t);
  MOEGRAD_CHECK(int64_t(entries.size()) == kjv_entry_count(t), op, dir, "/", testament_stem(t), ".bzv has ",
                entries.size(), " entries but a KJV-versified testament has ", kjv_entry_count(t),
                ": the module is not in KJV versification, so its verses cannot be paired by index");
  return entries;
}

}  // namespace

ParallelCorpus clean_pairs(std::vector<SentencePair> pairs) {
  const char* op = "clean_pairs";
  ParallelCorpus c;
  c.candidates = int64_t(pairs.size());
  std::unordered_set<std::string> ids;
  std::unordered_set<std::pair<std::string, std::string>, PairHash> seen;
  for (SentencePair& p : pairs) {
    MOEGRAD_CHECK(!p.id.empty(), op, "a pair has an empty id");
    MOEGRAD_CHECK(ids.insert(p.id).second, op, "the id '", p.id, "' appears twice");
    if (p.source.empty() || p.target.empty()) {
      ++c.dropped_empty;
      continue;
    }
    if (!seen.insert({p.source, p.target}).second) {
      ++c.dropped_duplicate;
      continue;
    }
    c.pairs.push_back(std::move(p));
  }
  return c;
}

ParallelCorpus read_bible_pairs(const std::string& source_dir, const std::string& target_dir) {
  const std::vector<std::string> src[2] = {read_testament_checked(source_dir, Testament::old_testament),
                                           read_testament_checked(source_dir, Testament::new_testament)};
  const std::vector<std::string> tgt[2] = {read_testament_checked(target_dir, Testament::old_testament),
                                           read_testament_checked(target_dir, Testament::new_testament)};
  std::vector<SentencePair> pairs;
  pairs.reserve(kjv_verses().size());
  for (const VerseEntry& v : kjv_verses()) {
    const int t = v.testament == Testament::old_testament ? 0 : 1;
    pairs.push_back({v.ref, osis_to_text(src[t][size_t(v.index)]), osis_to_text(tgt[t][size_t(v.index)])});
  }
  return clean_pairs(std::move(pairs));
}

ParallelCorpus read_bible_pairs() {
  return read_bible_pairs(sword_module_dir("engKJV2006eb"), sword_module_dir("spaRV1909eb"));
}

ParallelCorpus read_tsv_pairs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MOEGRAD_CHECK(in.good(), "read_tsv_pairs", "cannot read '", path, "'");
  std::vector<SentencePair> pairs;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const size_t tab = line.find('\t');
    MOEGRAD_CHECK(tab != std::string::npos, "read_tsv_pairs", "'", path, "' line ", n,
                  " has no tab between source and target");
    pairs.push_back({"line " + std::to_string(n), line.substr(0, tab), line.substr(tab + 1)});
  }
  MOEGRAD_CHECK(!in.bad(), "read_tsv_pairs", "cannot read '", path, "'");
  return clean_pairs(std::move(pairs));
}

double split_position(const std::string& id) { return double(id_hash(id) >> 11) * 0x1.0p-53; }

ParallelSplit split_pairs(const std::vector<SentencePair>& pairs, double valid_fraction, double test_fraction) {
  const char* op = "split_pairs";
  MOEGRAD_CHECK(std::isfinite(valid_fraction) && valid_fraction >= 0 && valid_fraction < 1, op,
                "valid_fraction must be in [0, 1), got ", valid_fraction);
  MOEGRAD_CHECK(std::isfinite(test_fraction) && test_fraction >= 0 && test_fraction < 1, op,
                "test_fraction must be in [0, 1), got ", test_fraction);
  MOEGRAD_CHECK(valid_fraction + test_fraction < 1, op, "valid_fraction + test_fraction must be below 1, got ",
                valid_fraction + test_fraction);
  ParallelSplit s;
  for (const SentencePair& p : pairs) {
    const double u = split_position(p.id);
    if (u < test_fraction)
      s.test.push_back(p);
    else if (u < test_fraction + valid_fraction)
      s.valid.push_back(p);
    else
      s.train.push_back(p);
  }
  return s;
}

}  // namespace moegrad::app
