// Tokenizers, corpus files, the train/valid split and LM batches: see data.h.
#include "apps/data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/factory.h"

namespace moegrad::app {

namespace {

constexpr uint32_t kReplacement = 0xFFFD;
const char* const kUnk = "<unk>";

// ---- UTF-8 ----

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Reads the code point at s[i] and moves i past it. A byte that does not start
// a valid sequence (RFC 3629: no overlongs, no surrogates, nothing above
// U+10FFFF) reads as U+FFFD and moves i by one byte only.
uint32_t next_code_point(const std::string& s, size_t& i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  }
  if (len == 0 || i + len > s.size() || at(i + 1) < lo || at(i + 1) > hi) {
    ++i;
    return kReplacement;
  }
  for (size_t k = 1; k < len; ++k) {
    if (!is_continuation(at(i + k))) {
      ++i;
      return kReplacement;
    }
    cp = (cp << 6) | (at(i + k) & 0x3F);
  }
  i += len;
  return cp;
}


std::string utf8(uint32_t cp) {
  std::string s;
  append_utf8(s, cp);
  return s;
}

// ---- word splitting ----

bool is_ascii_space(uint32_t cp) { return cp == ' ' || (cp >= '\t' && cp <= '\r'); }
// Letters and digits, and any non-ASCII code point except General
// Punctuation (U+2000-U+206F: dashes, curly quotes), which Moby-Dick would
// otherwise glue to its words ("ago\u2014never").
bool is_word_char(uint32_t cp) {
  if (cp >= 0x2000 && cp <= 0x206F) return false;
  return cp >= 0x80 || (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
}

// Calls f(token) for each word-tokenizer token of text, in order. Tokens are
// re-encoded UTF-8, so an invalid byte inside a word appears as U+FFFD.
template <class F>
void for_each_word(const std::string& text, F&& f) {
  std::string word;
  size_t i = 0;
  while (i < text.size()) {
    const uint32_t cp = next_code_point(text, i);
    if (is_word_char(cp)) {
      append_utf8(word, cp);
      continue;
    }
    if (!word.empty()) {
      f(word);
      word.clear();
    }
    if (!is_ascii_space(cp)) {  // punctuation or a control character, one token each
      std::string one;
      append_utf8(one, cp);
      f(one);
    }
  }
  if (!word.empty()) f(word);
}

std::vector<std::string> word_tokens(const std::string& text) {
  std::vector<std::string> out;
  for_each_word(text, [&](const std::string& w) { out.push_back(w); });
  return out;
}

// The code points of text (invalid bytes as U+FFFD).
std::vector<uint32_t> code_points(const std::string& text) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < text.size()) out.push_back(next_code_point(text, i));
  return out;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// ---- Tokenizer ----

TokenizerKind parse_tokenizer_kind(const std::string& name) {
  if (name == "byte") return TokenizerKind::byte;
  if (name == "char") return TokenizerKind::character;
  if (name == "word") return TokenizerKind::word;
  throw Error("tokenizer: unknown kind " + quoted(name) + " (expected byte, char or word)");
}

std::string tokenizer_kind_name(TokenizerKind kind) {
  switch (kind) {
    case TokenizerKind::byte:
      return "byte";
    case TokenizerKind::character:
      return "char";
    case TokenizerKind::word:
      return "word";
  }
  throw Error("tokenizer: invalid TokenizerKind " + std::to_string(int(kind)));
}

Tokenizer::Tokenizer() = default;

Tokenizer Tokenizer::byte_level() { return Tokenizer(); }

// vocab holds every id's token; vocab[0] must be "<unk>". Checks each entry
// and throws an Error naming the entry (from_json relies on this).
Tokenizer::Tokenizer(TokenizerKind kind, std::vector<std::string> vocab) : kind_(kind), vocab_(std::move(vocab)) {
  if (kind_ == TokenizerKind::byte) {
    vocab_.clear();
    return;
  }
  const char* op = "Tokenizer::from_json";
  MOEGRAD_CHECK(!vocab_.empty() && vocab_[0] == kUnk, op, "field 'vocab': entry 0 must be \"<unk>\"");
  MOEGRAD_CHECK(vocab_.size() <= size_t(INT32_MAX), op, "field 'vocab': ", vocab_.size(), " entries exceed int32 ids");
  for (size_t id = 1; id < vocab_.size(); ++id) {
    const std::string& t = vocab_[id];
    if (kind_ == TokenizerKind::character) {
      std::vector<uint32_t> cps = code_points(t);
      MOEGRAD_CHECK(cps.size() == 1 && utf8(cps[0]) == t, op, "field 'vocab': entry ", id, " ", quoted(t),
                    " is not exactly one UTF-8 code point");
      MOEGRAD_CHECK(cp_ids_.emplace(cps[0], int32_t(id)).second, op, "field 'vocab': entry ", id, " ", quoted(t),
                    " is a duplicate");
    } else {
      std::vector<std::string> w = word_tokens(t);
      MOEGRAD_CHECK(w.size() == 1 && w[0] == t, op, "field 'vocab': entry ", id, " ", quoted(t),
                    " is not exactly one word-tokenizer token");
      MOEGRAD_CHECK(ids_.emplace(t, int32_t(id)).second, op, "field 'vocab': entry ", id, " ", quoted(t),
                    " is a duplicate");
    }
  }
}

Tokenizer Tokenizer::build(TokenizerKind kind, const std::string& text, int64_t max_vocab) {
  if (kind == TokenizerKind::byte) return byte_level();
  MOEGRAD_CHECK(max_vocab >= 2, "Tokenizer::build", "max_vocab must be >= 2 (id 0 is <unk>), got ", max_vocab);
  const size_t keep = size_t(std::min<int64_t>(max_vocab - 1, INT32_MAX - 1));
  std::vector<std::string> vocab{kUnk};
  if (kind == TokenizerKind::character) {
    std::unordered_map<uint32_t, int64_t> counts;
    size_t i = 0;
    while (i < text.size()) ++counts[next_code_point(text, i)];
    std::vector<std::pair<int64_t, uint32_t>> by_count;  // (-count, code point)
    for (auto& [cp, n] : counts) by_count.emplace_back(-n, cp);
    std::sort(by_count.begin(), by_count.end());
    if (by_count.size() > keep) by_count.resize(keep);
    std::vector<uint32_t> cps;
    for (auto& p : by_count) cps.push_back(p.second);
    std::sort(cps.begin(), cps.end());
    for (uint32_t cp : cps) vocab.push_back(utf8(cp));
  } else {
    std::unordered_map<std::string, int64_t> counts;
    for_each_word(text, [&](const std::string& w) { ++counts[w]; });
    std::vector<std::pair<int64_t, const std::string*>> by_count;
    for (auto& [w, n] : counts) by_count.emplace_back(-n, &w);
    std::sort(by_count.begin(), by_count.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : *a.second < *b.second;
    });
    if (by_count.size() > keep) by_count.resize(keep);
    for (auto& p : by_count) vocab.push_back(*p.second);
  }
  return Tokenizer(kind, std::move(vocab));
}

int64_t Tokenizer::vocab_size() const { return kind_ == TokenizerKind::byte ? 256 : int64_t(vocab_.size()); }

std::string Tokenizer::token(int32_t id) const {
  MOEGRAD_CHECK(id >= 0 && id < vocab_size(), "Tokenizer::token", "id ", id, " is out of range for a ",
                tokenizer_kind_name(kind_), " vocabulary of ", vocab_size());
  return kind_ == TokenizerKind::byte ? std::string(1, char(id)) : vocab_[size_t(id)];
}

std::vector<int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  if (kind_ == TokenizerKind::byte) {
    ids.reserve(text.size());
    for (char c : text) ids.push_back(int32_t(static_cast<unsigned char>(c)));
  } else if (kind_ == TokenizerKind::character) {
    ids.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      auto it = cp_ids_.find(next_code_point(text, i));
      ids.push_back(it == cp_ids_.end() ? 0 : it->second);
    }
  } else {
    for_each_word(text, [&](const std::string& w) {
      auto it = ids_.find(w);
      ids.push_back(it == ids_.end() ? 0 : it->second);
    });
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  const int64_t n = vocab_size();
  for (size_t k = 0; k < ids.size(); ++k) {
    const int32_t id = ids[k];
    MOEGRAD_CHECK(id >= 0 && id < n, "Tokenizer::decode", "id ", id, " (position ", k, ") is out of range for a ",
                  tokenizer_kind_name(kind_), " vocabulary of ", n);
    if (kind_ == TokenizerKind::byte) {
      out += char(id);
    } else if (kind_ == TokenizerKind::character) {
      if (id == 0)
        append_utf8(out, kReplacement);
      else
        out += vocab_[size_t(id)];
    } else {
      if (k > 0) out += ' ';
      out += vocab_[size_t(id)];
    }
  }
  return out;
}

nlohmann::json Tokenizer::to_json() const {
  nlohmann::json j;
  j["kind"] = tokenizer_kind_name(kind_);
  j["vocab_size"] = vocab_size();
  if (kind_ != TokenizerKind::byte) j["vocab"] = vocab_;
  return j;
}

Tokenizer Tokenizer::from_json(const nlohmann::json& j) {
  const char* op = "Tokenizer::from_json";
  MOEGRAD_CHECK(j.is_object(), op, "expected a JSON object, got ", j.type_name());
  MOEGRAD_CHECK(j.contains("kind") && j["kind"].is_string(), op, "field 'kind' is missing or not a string");
  TokenizerKind kind;
  try {
    kind = parse_tokenizer_kind(j["kind"].get<std::string>());
  } catch (const Error& e) {
    throw Error(std::string(op) + ": field 'kind': " + e.what());
  }
  Tokenizer t;
  if (kind == TokenizerKind::byte) {
    MOEGRAD_CHECK(!j.contains("vocab"), op, "field 'vocab' is not allowed for a byte tokenizer");
  } else {
    MOEGRAD_CHECK(j.contains("vocab") && j["vocab"].is_array(), op, "field 'vocab' is missing or not an array");
    std::vector<std::string> vocab;
    const auto& v = j["vocab"];
    vocab.reserve(v.size());
    for (size_t id = 0; id < v.size(); ++id) {
      MOEGRAD_CHECK(v[id].is_string(), op, "field 'vocab': entry ", id, " is not a string (", v[id].type_name(), ")");
      vocab.push_back(v[id].get<std::string>());
    }
    t = Tokenizer(kind, std::move(vocab));
  }
  if (j.contains("vocab_size")) {
    const auto& n = j["vocab_size"];
    MOEGRAD_CHECK(n.is_number_integer() && n.get<int64_t>() == t.vocab_size(), op, "field 'vocab_size' ", n.dump(),
                  " disagrees with the vocabulary's ", t.vocab_size(), " entries");
  }
  return t;
}

// ---- files ----

std::string read_text_file(const std::string& path) {
  namespace fs = std::filesystem;
  const char* op = "read_text_file";
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  MOEGRAD_CHECK(fs::exists(st), op, path, ": no such file");
  MOEGRAD_CHECK(!fs::is_directory(st), op, path, " is a directory, not a text file");
  std::ifstream in(path, std::ios::binary);
  MOEGRAD_CHECK(in.is_open(), op, "cannot open ", path, " for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  MOEGRAD_CHECK(!in.bad(), op, "error while reading ", path);
  std::string text = ss.str();
  MOEGRAD_CHECK(!text.empty(), op, path, " is empty");
  return text;
}

// ---- split and batches ----

TokenSplit split_tokens(const std::vector<int32_t>& tokens, double valid_fraction, int64_t seq_len) {
  const char* op = "split_tokens";
  MOEGRAD_CHECK(std::isfinite(valid_fraction) && valid_fraction > 0 && valid_fraction < 1, op,
                "valid_fraction must be in (0, 1), got ", valid_fraction);
  MOEGRAD_CHECK(seq_len >= 1, op, "seq_len must be >= 1, got ", seq_len);
  const int64_t n = int64_t(tokens.size());
  const int64_t n_valid = int64_t(std::floor(double(n) * valid_fraction));
  const int64_t n_train = n - n_valid;
  // Compared and printed without computing seq_len + 1 in int64: seq_len can
  // be INT64_MAX, and the overflow would let the check pass.
  MOEGRAD_CHECK(n_train > seq_len && n_valid > seq_len, op, "the corpus is too small for seq_len ", seq_len, ": ", n,
                " tokens split ", n_train, " train / ", n_valid, " valid (valid_fraction ", valid_fraction,
                "), and each side needs at least seq_len + 1 = ", uint64_t(seq_len) + 1);
  TokenSplit s;
  s.train.assign(tokens.begin(), tokens.begin() + n_train);
  s.valid.assign(tokens.begin() + n_train, tokens.end());
  return s;
}

std::pair<Tensor, Tensor> sample_batch(const std::vector<int32_t>& tokens, int64_t batch, int64_t len, Generator& gen) {
  const char* op = "sample_batch";
  MOEGRAD_CHECK(batch >= 1 && len >= 1, op, "batch and len must be >= 1, got batch ", batch, ", len ", len);
  const int64_t n = int64_t(tokens.size());
  MOEGRAD_CHECK(n > len, op, n, " tokens are too few for a window of len + 1 = ", uint64_t(len) + 1);
  MOEGRAD_CHECK(batch <= INT64_MAX / len, op, "batch ", batch, " windows of len ", len, " exceed 2^63 - 1 tokens");
  const int64_t starts = n - len;  // valid starts: 0 .. n - len - 1
  const std::vector<double> u = rand({batch}, DType::f64, &gen).to_vector<double>();
  std::vector<int64_t> x(size_t(batch * len)), y(size_t(batch * len));
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t s = std::min(int64_t(u[size_t(b)] * double(starts)), starts - 1);
    for (int64_t i = 0; i < len; ++i) {
      x[size_t(b * len + i)] = tokens[size_t(s + i)];
      y[size_t(b * len + i)] = tokens[size_t(s + i + 1)];
    }
  }
  return {from_vector(x, {batch, len}), from_vector(y, {batch, len})};
}

std::vector<std::pair<Tensor, Tensor>> eval_batches(const std::vector<int32_t>& tokens, int64_t batch, int64_t len,
                                                    int64_t max_batches) {
  const char* op = "eval_batches";
  MOEGRAD_CHECK(batch >= 1 && len >= 1, op, "batch and len must be >= 1, got batch ", batch, ", len ", len);
  const int64_t n = int64_t(tokens.size());
  const int64_t windows = n >= 1 ? (n - 1) / len : 0;
  MOEGRAD_CHECK(windows >= 1, op, n, " tokens are too few for one window of len + 1 = ", uint64_t(len) + 1);
  int64_t n_batches = windows / batch + (windows % batch != 0);  // (windows + batch - 1) / batch overflows
  if (max_batches > 0) n_batches = std::min(n_batches, max_batches);
  std::vector<std::pair<Tensor, Tensor>> out;
  out.reserve(size_t(n_batches));
  for (int64_t k = 0; k < n_batches; ++k) {
    const int64_t w0 = k * batch, rows = std::min(batch, windows - w0);
    std::vector<int64_t> x(size_t(rows * len)), y(size_t(rows * len));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < len; ++i) {
        const int64_t p = (w0 + r) * len + i;
        x[size_t(r * len + i)] = tokens[size_t(p)];
        y[size_t(r * len + i)] = tokens[size_t(p + 1)];
      }
    out.emplace_back(from_vector(x, {rows, len}), from_vector(y, {rows, len}));
  }
  return out;
}

// ---- corpora ----

namespace {
struct Corpus {
  const char* name;
  const char* file;
};
constexpr Corpus kCorpora[] = {{"moby-dick", "moby-dick.txt"}, {"sotu", "sotu.txt"}};
}  // namespace

std::string default_data_dir() {
  const char* env = std::getenv("MOEGRAD_DATA_DIR");
  if (env && *env) return env;
#ifdef MOEGRAD_DEFAULT_DATA_DIR
  return MOEGRAD_DEFAULT_DATA_DIR;
#else
  return "data";
#endif
}

std::vector<std::string> corpus_names() {
  std::vector<std::string> names;
  for (const Corpus& c : kCorpora) names.push_back(c.name);
  return names;
}

std::string corpus_path(const std::string& name_or_path, const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const Corpus& c : kCorpora) {
    if (name_or_path != c.name) continue;
    const std::string path = (fs::path(data_dir) / c.file).string();
    MOEGRAD_CHECK(fs::exists(path, ec), "corpus", "'", c.name, "' is not downloaded (no ", path,
                  "): run scripts/fetch_data.sh ", c.name, " (it writes to $MOEGRAD_DATA_DIR or <repo>/data)");
    return path;
  }
  if (fs::exists(name_or_path, ec)) return name_or_path;
  std::string names;
  for (const Corpus& c : kCorpora) names += (names.empty() ? "" : ", ") + std::string(c.name);
  throw Error("corpus: " + quoted(name_or_path) + " is neither a known corpus (" + names + ") nor an existing file");
}

}  // namespace moegrad::app
