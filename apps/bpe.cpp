// Byte-level BPE: chunking, learning, encode/decode, JSON: see bpe.h.
#include "apps/bpe.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include "core/error.h"
#include "nn/file.h"

namespace moegrad::app {

namespace {

constexpr size_t kMaxChunk = 256;

enum ByteClass { kLetter, kDigit, kSpace, kOther };

ByteClass byte_class(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) return kLetter;
  if (c >= '0' && c <= '9') return kDigit;
  if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') return kSpace;
  return kOther;
}

// Calls f(begin, length) for each chunk of text, in order.
template <class F>
void for_each_chunk(const std::string& text, F&& f) {
  const size_t n = text.size();
  const auto cls = [&](size_t i) { return byte_class(static_cast<unsigned char>(text[i])); };
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    size_t end;
    if (cls(i) == kSpace && !(text[i] == ' ' && i + 1 < n && cls(i + 1) != kSpace)) {
      end = i;
      while (end < n && cls(end) == kSpace) ++end;
      // Leave the run's last space to the word after it.
      if (end < n && end - start >= 2 && text[end - 1] == ' ') --end;
    } else {
      const size_t body = text[i] == ' ' ? i + 1 : i;  // a lone space joins the run after it
      const ByteClass c = cls(body);
      end = body;
      while (end < n && cls(end) == c) ++end;
    }
    end = std::min(end, start + kMaxChunk);
    f(start, end - start);
    i = end;
  }
}

uint64_t pair_key(int32_t a, int32_t b) { return uint64_t(uint32_t(a)) << 32 | uint32_t(b); }

struct Candidate {
  int64_t count;
  int32_t a, b;
};

// The heap's order: the highest count first, then the smallest (a, b).
struct CandidateOrder {
  bool operator()(const Candidate& x, const Candidate& y) const {
    if (x.count != y.count) return x.count < y.count;
    if (x.a != y.a) return x.a > y.a;
    return x.b > y.b;
  }
};

}  // namespace

std::vector<std::string> bpe_chunks(const std::string& text) {
  std::vector<std::string> out;
  for_each_chunk(text, [&](size_t begin, size_t len) { out.push_back(text.substr(begin, len)); });
  return out;
}

BpeTokenizer::BpeTokenizer() {
  bytes_.assign(size_t(base_vocab), "");
  for (int b = 0; b < 256; ++b) bytes_[size_t(first_byte_id + b)] = std::string(1, char(b));
}

void BpeTokenizer::add_merge(int32_t a, int32_t b) {
  rank_[pair_key(a, b)] = int32_t(merges_.size());
  merges_.emplace_back(a, b);
  bytes_.push_back(bytes_[size_t(a)] + bytes_[size_t(b)]);
}

BpeTokenizer BpeTokenizer::learn(const std::vector<std::string>& texts, int64_t vocab_size) {
  const char* op = "BpeTokenizer::learn";
  MOEGRAD_CHECK(vocab_size >= base_vocab && vocab_size <= (int64_t(1) << 24), op, "vocab_size must be in [", base_vocab,
                ", 2^24], got ", vocab_size);
  BpeTokenizer tok;

  // Distinct chunks with their frequencies, sorted so that nothing below
  // depends on hash order.
  std::unordered_map<std::string, int64_t> chunk_counts;
  for (const std::string& text : texts)
    for_each_chunk(text, [&](size_t begin, size_t len) { ++chunk_counts[text.substr(begin, len)]; });
  std::vector<std::pair<std::string, int64_t>> chunks(chunk_counts.begin(), chunk_counts.end());
  chunk_counts.clear();
  std::sort(chunks.begin(), chunks.end());

  std::vector<std::vector<int32_t>> words(chunks.size());
  std::vector<int64_t> freq(chunks.size());
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;  // pair -> words that held it (maybe no longer)
  for (size_t w = 0; w < chunks.size(); ++w) {
    freq[w] = chunks[w].second;
    for (unsigned char c : chunks[w].first) words[w].push_back(first_byte_id + c);
    for (size_t i = 0; i + 1 < words[w].size(); ++i) {
      const uint64_t k = pair_key(words[w][i], words[w][i + 1]);
      pair_count[k] += freq[w];
      auto& list = where[k];
      if (list.empty() || list.back() != int32_t(w)) list.push_back(int32_t(w));
    }
  }
  chunks.clear();

  // A lazy max-heap: an entry may hold a count that has since gone down; it
  // is corrected when popped. Counts only go up for pairs holding the newest
  // token, and those are pushed after each merge, so every pair always has an
  // entry at least as high as its count and the first entry popped that
  // matches its count is the true maximum.
  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> heap;
  for (const auto& [k, c] : pair_count) heap.push({c, int32_t(k >> 32), int32_t(k & 0xFFFFFFFFu)});

  std::vector<uint64_t> stamp(words.size(), 0);
  std::vector<int32_t> merged;
  while (tok.vocab_size() < vocab_size && !heap.empty()) {
    const Candidate top = heap.top();
    heap.pop();
    const uint64_t key = pair_key(top.a, top.b);
    const auto it = pair_count.find(key);
    const int64_t current = it == pair_count.end() ? 0 : it->second;
    if (current != top.count) {
      if (current > 0) heap.push({current, top.a, top.b});
      continue;
    }
    if (current < 2) break;  // every other pair occurs at most once too
    const int32_t id = int32_t(tok.vocab_size());
    tok.add_merge(top.a, top.b);

    std::vector<uint64_t> fresh;  // pairs holding the new token
    const std::vector<int32_t> holders = std::move(where[key]);
    where.erase(key);
    const uint64_t this_merge = uint64_t(id);
    for (const int32_t w : holders) {
      if (stamp[size_t(w)] == this_merge) continue;
      stamp[size_t(w)] = this_merge;
      std::vector<int32_t>& word = words[size_t(w)];
      const int64_t f = freq[size_t(w)];
      merged.clear();
      bool found = false;
      for (size_t i = 0; i < word.size(); ++i) {
        if (i + 1 < word.size() && word[i] == top.a && word[i + 1] == top.b) {
          merged.push_back(id);
          ++i;
          found = true;
        } else {
          merged.push_back(word[i]);
        }
      }
      if (!found) continue;
      for (size_t i = 0; i + 1 < word.size(); ++i) pair_count[pair_key(word[i], word[i + 1])] -= f;
      for (size_t i = 0; i + 1 < merged.size(); ++i) {
        const uint64_t k = pair_key(merged[i], merged[i + 1]);
        pair_count[k] += f;
        if (merged[i] == id || merged[i + 1] == id) {
          auto& list = where[k];
          if (list.empty() || list.back() != w) list.push_back(w);
          fresh.push_back(k);
        }
      }
      word.swap(merged);
    }
    pair_count.erase(key);
    std::sort(fresh.begin(), fresh.end());
    fresh.erase(std::unique(fresh.begin(), fresh.end()), fresh.end());
    for (const uint64_t k : fresh) {
      const int64_t c = pair_count[k];
      if (c > 0) heap.push({c, int32_t(k >> 32), int32_t(k & 0xFFFFFFFFu)});
    }
  }
  return tok;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  MOEGRAD_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer::token_bytes", "id ", id, " is outside [0, ", vocab_size(),
                ")");
  return bytes_[size_t(id)];
}

void BpeTokenizer::encode_chunk(const std::string& chunk, std::vector<int32_t>& out) const {
  std::vector<int32_t> syms;
  syms.reserve(chunk.size());
  for (unsigned char c : chunk) syms.push_back(first_byte_id + c);
  // Apply the earliest-learned merge present, everywhere, until none is: the
  // order learning applied them in, since a merge can only create pairs that
  // hold its new token, and those were learned after it.
  std::vector<int32_t> next;
  while (syms.size() >= 2) {
    int32_t best = -1;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      const auto it = rank_.find(pair_key(syms[i], syms[i + 1]));
      if (it != rank_.end() && (best < 0 || it->second < best)) best = it->second;
    }
    if (best < 0) break;
    const auto [a, b] = merges_[size_t(best)];
    next.clear();
    for (size_t i = 0; i < syms.size(); ++i) {
      if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
        next.push_back(base_vocab + best);
        ++i;
      } else {
        next.push_back(syms[i]);
      }
    }
    syms.swap(next);
  }
  out.insert(out.end(), syms.begin(), syms.end());
}

std::vector<int32_t> BpeTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  for_each_chunk(text, [&](size_t begin, size_t len) { encode_chunk(text.substr(begin, len), out); });
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (const int32_t id : ids) {
    MOEGRAD_CHECK(id >= 0 && id < vocab_size(), "BpeTokenizer::decode", "id ", id, " is outside [0, ", vocab_size(),
                  ")");
    out += bytes_[size_t(id)];
  }
  return out;
}

nlohmann::json BpeTokenizer::to_json() const {
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [a, b] : merges_) merges.push_back({a, b});
  return {{"kind", "bpe"},
          {"version", 1},
          {"special_tokens", {{"pad", pad_id}, {"bos", bos_id}, {"eos", eos_id}}},
          {"first_byte_id", first_byte_id},
          {"vocab_size", vocab_size()},
          {"merges", merges}};
}

BpeTokenizer BpeTokenizer::from_json(const nlohmann::json& j) {
  const char* op = "BpeTokenizer::from_json";
  MOEGRAD_CHECK(j.is_object(), op, "expected a JSON object, got ", j.type_name());
  const auto field = [&](const char* name) -> const nlohmann::json& {
    MOEGRAD_CHECK(j.contains(name), op, "missing field '", name, "'");
    return j.at(name);
  };
  const auto integer = [&](const nlohmann::json& v, const std::string& what) {
    MOEGRAD_CHECK(v.is_number_integer(), op, what, " must be an integer, got ", v.dump());
    return v.get<int64_t>();
  };
  MOEGRAD_CHECK(field("kind") == "bpe", op, "'kind' must be \"bpe\", got ", field("kind").dump());
  MOEGRAD_CHECK(integer(field("version"), "'version'") == 1, op, "unknown 'version' ", field("version").dump(),
                " (this build reads version 1)");
  const nlohmann::json& specials = field("special_tokens");
  const nlohmann::json expected_specials = {{"pad", pad_id}, {"bos", bos_id}, {"eos", eos_id}};
  MOEGRAD_CHECK(specials == expected_specials, op, "'special_tokens' must be ", expected_specials.dump(), ", got ",
                specials.dump());
  MOEGRAD_CHECK(integer(field("first_byte_id"), "'first_byte_id'") == first_byte_id, op, "'first_byte_id' must be ",
                first_byte_id, ", got ", field("first_byte_id").dump());
  const nlohmann::json& merges = field("merges");
  MOEGRAD_CHECK(merges.is_array(), op, "'merges' must be an array, got ", merges.type_name());
  BpeTokenizer tok;
  for (size_t k = 0; k < merges.size(); ++k) {
    const nlohmann::json& m = merges[k];
    const std::string where = "merges[" + std::to_string(k) + "]";
    MOEGRAD_CHECK(m.is_array() && m.size() == 2, op, where, " must be a [left, right] pair of ids, got ", m.dump());
    const int64_t a = integer(m[0], where + "[0]"), b = integer(m[1], where + "[1]");
    for (const int64_t id : {a, b})
      MOEGRAD_CHECK(id >= first_byte_id && id < tok.vocab_size(), op, where, " uses id ", id,
                    ": a merge joins byte or earlier merge ids, in [", first_byte_id, ", ", tok.vocab_size(), ")");
    MOEGRAD_CHECK(tok.rank_.count(pair_key(int32_t(a), int32_t(b))) == 0, op, where, " merges [", a, ", ", b,
                  "] again (first at merges[", tok.rank_.at(pair_key(int32_t(a), int32_t(b))), "])");
    tok.add_merge(int32_t(a), int32_t(b));
  }
  MOEGRAD_CHECK(integer(field("vocab_size"), "'vocab_size'") == tok.vocab_size(), op, "'vocab_size' is ",
                field("vocab_size").dump(), " but ", merges.size(), " merges make ", tok.vocab_size(), " ids");
  return tok;
}

void BpeTokenizer::save(const std::string& path) const {
  write_file_atomically("BpeTokenizer::save", path, to_json().dump() + "\n");
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  const char* op = "BpeTokenizer::load";
  namespace fs = std::filesystem;
  std::error_code ec;
  MOEGRAD_CHECK(fs::is_regular_file(path, ec), op, path, ": no such file");
  std::ifstream in(path, std::ios::binary);
  MOEGRAD_CHECK(in.is_open(), op, path, ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  MOEGRAD_CHECK(!in.bad(), op, path, ": read error");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    detail::fail(op, path, ": not valid JSON: ", e.what());
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    detail::fail(op, path, ": ", e.what());
  }
}

}  // namespace moegrad::app
