#include "apps/fortunes.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/parallel.h"
#include "core/error.h"
#include "nn/file.h"

namespace moegrad::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "fortunes";

// ESC [ parameters, then one final byte in @..~ (ECMA-48 CSI), or ESC and one byte.
std::string strip_ansi(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\x1b') {
      out += s[i];
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '[') {
      size_t j = i + 2;
      while (j < s.size() && !(s[j] >= '@' && s[j] <= '~')) ++j;
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

// The regular files of dir that hold records, sorted by name.
std::vector<fs::path> record_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (e.is_symlink(ec) || !e.is_regular_file(ec) || ext == ".dat" || ext == ".u8") continue;
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void read_records(const fs::path& file, const std::string& language, std::vector<FortuneRecord>& out) {
  std::ifstream in(file, std::ios::binary);
  MOEGRAD_CHECK(in.good(), kOp, "cannot read '", file.string(), "'");
  const std::string name = file.filename().string();
  std::string line, record;
  int64_t index = 0;
  auto finish = [&] {
    std::string text = strip_ansi(record);
    record.clear();
    if (blank(text)) return;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    out.push_back({language + "/" + name + "#" + std::to_string(index++), text + "\n"});
  };
  while (std::getline(in, line)) {
    if (line == "%" || line == "%\r") {
      finish();
    } else {
      record += line + "\n";
    }
  }
  finish();
}

void write_records(const std::string& path, const std::vector<const FortuneRecord*>& records) {
  std::string text;
  for (const FortuneRecord* r : records) text += r->text + "\n";
  write_file_atomically(kOp, path, text);
}

}  // namespace

std::vector<LanguageText> read_fortunes(const std::string& root_in) {
  const fs::path root(root_in);
  const std::set<std::string> zh = {"chinese", "tang300", "song100"}, pt = {"brasil"};
  std::vector<LanguageText> out;
  auto add = [&](const std::string& language, const std::vector<fs::path>& files) {
    LanguageText t{language, {}};
    for (const fs::path& f : files) read_records(f, language, t.records);
    if (!t.records.empty()) out.push_back(std::move(t));
  };
  std::vector<fs::path> en, zh_files, pt_files;
  for (const fs::path& f : record_files(root)) {
    const std::string name = f.filename().string();
    (zh.count(name) ? zh_files : pt.count(name) ? pt_files : en).push_back(f);
  }
  add("en", en);
  for (const char* language : {"de", "es", "it", "ru", "pl", "cs"}) add(language, record_files(root / language));
  add("zh", zh_files);
  add("pt", pt_files);
  MOEGRAD_CHECK(!out.empty(), kOp, "no fortune files under '", root_in,
                "': run `bash scripts/fetch_data.sh fortunes` (Debian's fortunes and fortunes-* packages)");
  return out;
}

MultilingualFiles write_multilingual_corpus(const std::vector<LanguageText>& languages, const std::string& dir,
                                            double valid_fraction, int64_t max_records) {
  MOEGRAD_CHECK(std::isfinite(valid_fraction) && valid_fraction > 0 && valid_fraction < 1, kOp,
                "valid_fraction must be in (0, 1), got ", valid_fraction);
  MOEGRAD_CHECK(max_records >= 0, kOp, "max_records must be >= 0, got ", max_records);
  std::error_code ec;
  fs::create_directories(dir, ec);
  MOEGRAD_CHECK(!ec, kOp, "cannot create '", dir, "': ", ec.message());
  MultilingualFiles files;
  files.train = (fs::path(dir) / "train.txt").string();
  std::vector<std::pair<double, const FortuneRecord*>> train;
  for (const LanguageText& l : languages) {
    std::vector<const FortuneRecord*> valid;
    int64_t n_train = 0;
    const size_t n = max_records > 0 ? std::min(l.records.size(), size_t(max_records)) : l.records.size();
    for (size_t i = 0; i < n; ++i) {
      const double u = split_position(l.records[i].id);
      if (u < valid_fraction) {
        valid.push_back(&l.records[i]);
      } else {
        train.push_back({u, &l.records[i]});
        ++n_train;
      }
    }
    MOEGRAD_CHECK(n_train > 0 && !valid.empty(), kOp, "language ", l.language, ": ", n_train, " training and ",
                  valid.size(), " validation records; both must be non-empty (raise the records or valid_fraction)");
    const std::string path = (fs::path(dir) / ("valid-" + l.language + ".txt")).string();
    write_records(path, valid);
    files.valid.push_back({l.language, path});
  }
  std::sort(train.begin(), train.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second->id < b.second->id);
  });
  std::vector<const FortuneRecord*> mix;
  for (const auto& [u, r] : train) mix.push_back(r);
  write_records(files.train, mix);
  return files;
}

}  // namespace moegrad::app
