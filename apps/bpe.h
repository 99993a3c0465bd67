// A byte-level BPE tokenizer (Sennrich et al. 2016, over bytes as in GPT-2)
// for translation: learned from the training side of a parallel corpus, both
// languages together, so source and target share one vocabulary.
//
// Ids. 0 <pad>, 1 <bos>, 2 <eos>; 3..258 the 256 byte values (byte b is id
// 3 + b); 259 + k the token made by merge k. Every byte string encodes
// (nothing is ever unknown) and decode(encode(s)) == s for every s, UTF-8 or
// not. encode never emits the special ids; decode writes nothing for them.
//
// Chunks. Before merging, text is cut into chunks and merges never cross a
// chunk boundary. A chunk is a maximal run of one class of bytes: letters
// (ASCII letters and every byte >= 0x80, so a UTF-8 letter such as "é" or "ñ"
// never splits a word), digits, whitespace (space, \t, \n, \v, \f, \r), or
// other (punctuation, controls). A single space right before a run of
// letters, digits or other bytes joins that run (" beginning"); in a longer
// run of whitespace the last space is left to the word after it. Runs longer
// than 256 bytes are cut every 256 bytes, which keeps encoding linear in the
// text whatever it holds.
//
// Learning. Chunks are counted over all texts. Each step merges the adjacent
// pair of tokens with the highest count (every adjacent position counts, so
// "aaa" holds two "a a"), summed over chunks weighted by their frequency;
// ties go to the pair with the smallest (left id, right id). A merge replaces
// the pair everywhere, left to right. Learning stops at vocab_size or when no
// pair occurs twice. Nothing depends on hash or thread order: the same texts
// and vocab_size give the same merges, on any machine.
//
//   std::vector<std::string> texts = ...;                 // train sources and targets
//   BpeTokenizer bpe = BpeTokenizer::learn(texts, 8000);
//   std::vector<int32_t> ids = bpe.encode("Y dijo Dios");  // no <bos>/<eos>: add them yourself
//   std::string back = bpe.decode(ids);                   // "Y dijo Dios"
//   bpe.save("runs/mt/bpe.json");                          // BpeTokenizer::load reads it back
//
// Everything here throws moegrad::Error on bad input; nothing exits.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace moegrad::app {

// The chunks of `text` as described above, in order; concatenated they are
// `text`. Empty text has no chunks.
std::vector<std::string> bpe_chunks(const std::string& text);

class BpeTokenizer {
 public:
  static constexpr int32_t pad_id = 0, bos_id = 1, eos_id = 2;
  static constexpr int32_t first_byte_id = 3;  // byte b is id first_byte_id + b
  static constexpr int32_t base_vocab = 259;   // specials and bytes: the first merge's id

  // The tokenizer with no merges: one token per byte.
  BpeTokenizer();

  // Learns merges from `texts` until vocab_size ids exist (or no pair occurs
  // twice, leaving it smaller). Requires base_vocab <= vocab_size <= 2^24.
  static BpeTokenizer learn(const std::vector<std::string>& texts, int64_t vocab_size);

  int64_t vocab_size() const { return base_vocab + int64_t(merges_.size()); }
  // Merge k joined tokens merges()[k].first and .second into id base_vocab + k.
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
  // The bytes id stands for ("" for the special ids). Error naming an id
  // outside [0, vocab_size).
  std::string token_bytes(int32_t id) const;

  // Ids in [first_byte_id, vocab_size); never a special id.
  std::vector<int32_t> encode(const std::string& text) const;
  // The bytes of the ids in order, special ids skipped; Error naming an id
  // outside [0, vocab_size).
  std::string decode(const std::vector<int32_t>& ids) const;

  // {"kind": "bpe", "version": 1, "special_tokens": {"pad": 0, "bos": 1,
  //  "eos": 2}, "first_byte_id": 3, "vocab_size": N, "merges": [[left, right], ...]}
  nlohmann::json to_json() const;
  // Error naming the field on anything malformed: not an object, kind not
  // "bpe", an unknown version, special tokens or first_byte_id other than
  // above, merges not an array of [int, int], a merge using a special id or an
  // id not made before it, the same pair merged twice, a vocab_size that
  // disagrees with the merges.
  static BpeTokenizer from_json(const nlohmann::json& j);

  // Writes to_json() to path atomically (a crash leaves the old file or the new one).
  void save(const std::string& path) const;
  // Error naming the path when it is missing, unreadable or not JSON, and
  // from_json's errors prefixed with it.
  static BpeTokenizer load(const std::string& path);

  bool operator==(const BpeTokenizer& o) const { return merges_ == o.merges_; }
  bool operator!=(const BpeTokenizer& o) const { return !(*this == o); }

 private:
  // Appends merge (a, b) and its token's bytes; the caller has checked it.
  void add_merge(int32_t a, int32_t b);
  void encode_chunk(const std::string& chunk, std::vector<int32_t>& out) const;

  std::vector<std::pair<int32_t, int32_t>> merges_;
  std::vector<std::string> bytes_;              // id -> bytes
  std::unordered_map<uint64_t, int32_t> rank_;  // (left << 32 | right) -> merge index
};

}  // namespace moegrad::app
