// Parallel corpora for translation: sentence pairs, their cleaning, and the
// deterministic train/valid/test split; and the default corpus, the King James
// Bible paired verse by verse with the Reina-Valera 1909 (English -> Spanish).
//
// The Bible corpus. Debian's sword-text-kjv (module engKJV2006eb) and
// sword-text-sparv (spaRV1909eb), both public domain and both in KJV
// versification, so verse i of one is verse i of the other
// (`bash scripts/fetch_data.sh bible` installs them). read_bible_pairs reads
// every verse of both (apps/sword.h), turns its markup into text
// (osis_to_text), and keeps the pair when both sides are non-empty; the first
// of exactly equal (English, Spanish) pairs is kept and later ones dropped.
// On the Debian modules (KJV 14.3-1, RV1909 2.60-1): 31,102 verses, 18 dropped
// because the Spanish verse is empty (places where the RV1909 numbers verses
// differently: Job 38-40, Num 12:16, Jonah 1:17, ...; the verses next to them
// pair imperfectly), 165 duplicates dropped ("And the word of the LORD came
// unto me, saying," ...), 30,919 pairs kept: 4.11 MB of English and 3.90 MB
// of Spanish UTF-8. Reading and pairing them takes about 0.6 s. Titles inside
// a verse stay, as the RV1909 has them in its verse text too: psalm titles
// ("A Psalm of David, ..." / "Salmo de David, ..."), Psalm 119's letters
// ("\u05D1 BETH." / "BETH") and the epistles' closing notes ("Written to the
// Romans from Corinthus, ..." / "Fu\u00E9 escrita de Corinto ..."); book and
// chapter headings are not verses and are never paired.
//
// The split. Each pair's id (the verse reference, "John.3.16") is hashed with
// 64-bit FNV-1a followed by splitmix64's finalizer; u = the hash's top 53
// bits / 2^53 is a uniform number in [0, 1) fixed by the id alone. A pair is
// test when u < test_fraction, valid when u < test_fraction +
// valid_fraction, else train. So the split needs no seed, does not depend on
// the order or on which other pairs exist, and changing a fraction moves only
// the pairs near the boundary. With the defaults (2% valid, 2% test) the
// Bible corpus splits 29,706 train / 588 valid / 625 test. Duplicates are
// dropped before the split, so no pair is in two parts.
//
//   ParallelCorpus bible = read_bible_pairs();            // the installed modules
//   ParallelSplit parts = split_pairs(bible.pairs);       // 0.02 valid, 0.02 test
//   for (const SentencePair& p : parts.train) ... p.source (English), p.target (Spanish)
//
// Everything here throws moegrad::Error on bad input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moegrad::app {

struct SentencePair {
  std::string id;      // unique within a corpus; the split hashes it ("John.3.16" for the Bible)
  std::string source;  // UTF-8
  std::string target;  // UTF-8
  bool operator==(const SentencePair& o) const { return id == o.id && source == o.source && target == o.target; }
};

struct ParallelCorpus {
  std::vector<SentencePair> pairs;  // in input order (canonical verse order for the Bible)
  int64_t candidates = 0;           // pairs offered before cleaning
  int64_t dropped_empty = 0;        // with an empty source or target
  int64_t dropped_duplicate = 0;    // equal in source and target to an earlier kept pair
};

// Drops the pairs whose source or target is empty, then every pair whose
// (source, target) equals an earlier kept pair's; keeps the rest in order.
// Requires every id to be non-empty and distinct (Error naming the id).
ParallelCorpus clean_pairs(std::vector<SentencePair> pairs);

// The verse-aligned corpus of two KJV-versified zText modules: for every
// verse of kjv_verses(), id = its reference, source = osis_to_text of the
// entry in source_dir, target = the same in target_dir; then clean_pairs.
// Requires both testaments in both directories with exactly
// kjv_entry_count(t) entries each (an Error says a module is missing, with
// the command that installs the default ones, or that it is not in KJV
// versification); any error of read_ztext_testament passes through.
ParallelCorpus read_bible_pairs(const std::string& source_dir, const std::string& target_dir);
// The default pair: sword_module_dir("engKJV2006eb") -> sword_module_dir("spaRV1909eb").
ParallelCorpus read_bible_pairs();

// A parallel corpus from a text file of one pair per line, "source<TAB>target"
// (the first tab splits; a trailing \r is dropped; empty lines are skipped),
// then clean_pairs. A pair's id is "line N" (1-based), so the split of a line
// does not depend on the lines around it. Error naming the path when it cannot
// be read, and naming the line when it has no tab.
ParallelCorpus read_tsv_pairs(const std::string& path);

struct ParallelSplit {
  std::vector<SentencePair> train, valid, test;  // each in the input's order
};

// The hash split described above. Requires valid_fraction and test_fraction
// in [0, 1) with a sum below 1. Every pair lands in exactly one part.
ParallelSplit split_pairs(const std::vector<SentencePair>& pairs, double valid_fraction = 0.02,
                          double test_fraction = 0.02);

// The number in [0, 1) that decides where the pair with this id goes.
double split_position(const std::string& id);

}  // namespace moegrad::app
