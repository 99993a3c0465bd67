// The multilingual corpus of the MH-MoE comparison: Debian's fortune-cookie
// files in nine languages and three scripts (`bash scripts/fetch_data.sh
// fortunes` installs the packages fortunes, fortunes-{de,es,it,ru,pl,cs,zh,br}).
//
// Layout under the root (/usr/share/games/fortunes): each of de, es, it, ru, pl
// and cs is a subdirectory of its own; the regular files directly in the root
// are English, except chinese, tang300 and song100 (zh) and brasil (pt). Only
// regular files count (the root's symlinks point into it/), never *.dat or
// *.u8 (the strfile indexes and links), and subdirectories of subdirectories
// are not read. A file is records separated by lines holding only "%".
// Records are cleaned of ANSI escape sequences (fortunes-zh colours its
// poems) and dropped when only whitespace is left.
//
// The split: record i of file F of language L has the id "L/F#i"; it is held
// out for validation when split_position(id) (apps/parallel.h) is below
// valid_fraction, so a record's side never depends on the others. The training
// mix is every language's training records ordered by that same number: a
// fixed shuffle, so any stretch of it (the end that `moegrad train` holds out
// too) mixes the languages in their proportions.
//
// On the Debian packages (fortunes 1:1.99.1-7.3 and its language packages):
// en 15,217 records, de 18,761, es 10,786, it 8,505, ru 20,893, pl 7,927,
// cs 7,383, zh 5,671 and pt 2,506; 17.2 MB in all, and with valid_fraction
// 0.05 a training mix of 16.4 MB.
//
//   std::vector<LanguageText> langs = read_fortunes();
//   MultilingualFiles f = write_multilingual_corpus(langs, "runs/ml/data", 0.05);
//   // f.train: the mix to train on; f.valid: (language, file) pairs to evaluate on
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace moegrad::app {

struct FortuneRecord {
  std::string id;    // "de/sprichworte#12"
  std::string text;  // cleaned, ending in one newline
};

struct LanguageText {
  std::string language;  // en, de, es, it, ru, pl, cs, zh, pt
  std::vector<FortuneRecord> records;
};

// The languages present under root, in the order above, each with its records
// in file-name and file order. Error naming the root, with the install
// command, when it holds none; languages whose files are missing are left out.
std::vector<LanguageText> read_fortunes(const std::string& root = "/usr/share/games/fortunes");

struct MultilingualFiles {
  std::string train;                                       // dir/train.txt
  std::vector<std::pair<std::string, std::string>> valid;  // (language, dir/valid-<language>.txt)
};

// Writes the training mix and each language's validation records (each file
// atomically; records separated by a blank line) into dir, which it creates.
// max_records > 0 keeps only each language's first max_records records
// (quick runs). Error when a language ends up with no training or no
// validation record.
MultilingualFiles write_multilingual_corpus(const std::vector<LanguageText>& languages, const std::string& dir,
                                            double valid_fraction, int64_t max_records = 0);

}  // namespace moegrad::app
