// The command line's data layer: tokenizers, corpus files, the train/valid
// split and the batches a language model trains and evaluates on.
//
// A corpus is one text file (scripts/fetch_data.sh puts Moby-Dick and the State
// of the Union addresses under data/). A Tokenizer turns its text into token
// ids; split_tokens keeps the last part for validation; sample_batch draws
// random training windows from a Generator (so a checkpoint that saves the
// generator's offset resumes the same data stream); eval_batches walks the
// validation tokens in order. Example:
//
//   std::string text = read_text_file(corpus_path("moby-dick"));
//   Tokenizer tok = Tokenizer::build(TokenizerKind::character, text);
//   TokenSplit split = split_tokens(tok.encode(text), 0.1, 64);
//   Generator gen(seed);
//   auto [x, y] = sample_batch(split.train, 16, 64, gen);       // i64 [16, 64] each
//   for (auto& [vx, vy] : eval_batches(split.valid, 16, 64, 20)) ...
//   std::ofstream("tokenizer.json") << tok.to_json().dump(1);  // rebuild with from_json
//
// Everything here throws moegrad::Error on bad input; nothing exits.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace moegrad::app {

enum class TokenizerKind { byte, character, word };

// "byte" | "char" | "word"; anything else is an Error naming the value.
TokenizerKind parse_tokenizer_kind(const std::string& name);
// The inverse: "byte", "char" or "word".
std::string tokenizer_kind_name(TokenizerKind kind);

// Maps text to token ids and back. Three kinds:
//   byte  256 ids, one per byte value; every input encodes, decode is exact.
//   char  one id per Unicode code point seen in the text the tokenizer was
//         built from, sorted by code point from id 1; id 0 is <unk>. Text is
//         read as UTF-8; each byte that does not start a valid UTF-8 sequence
//         (bad lead, truncated, overlong, surrogate, > U+10FFFF) reads as
//         U+FFFD. decode writes UTF-8 and writes <unk> as U+FFFD.
//   word  words are maximal runs of ASCII letters and digits and non-ASCII
//         code points (case kept); every other non-whitespace character is a
//         token of its own; ASCII whitespace separates tokens and is dropped.
//         The vocabulary is id 0 = <unk>, then the most frequent tokens in
//         descending frequency (ties by byte order of the token). decode joins
//         tokens with single spaces and writes <unk> as "<unk>", so it is not
//         the inverse of encode.
// A default-constructed Tokenizer is byte_level().
class Tokenizer {
 public:
  Tokenizer();
  static Tokenizer byte_level();
  // Builds a char or word vocabulary from `text` (byte ignores text and
  // max_vocab). At most max_vocab ids including <unk>: when the text has more
  // distinct tokens, the max_vocab - 1 most frequent are kept (ties by code
  // point for char, by byte order for word). Requires max_vocab >= 2 for
  // char/word. Deterministic: the same text gives the same tokenizer.
  static Tokenizer build(TokenizerKind kind, const std::string& text, int64_t max_vocab = 8192);

  TokenizerKind kind() const { return kind_; }
  int64_t vocab_size() const;
  // The text of one id ("<unk>" for id 0 of char/word; the raw byte for byte).
  // Error naming the id when out of range.
  std::string token(int32_t id) const;

  // Unknown characters/words encode to 0 (<unk>) for char and word.
  std::vector<int32_t> encode(const std::string& text) const;
  // Ids outside [0, vocab_size) are an Error naming the id.
  std::string decode(const std::vector<int32_t>& ids) const;

  // {"kind": "byte", "vocab_size": 256} or
  // {"kind": "char"|"word", "vocab_size": N, "vocab": ["<unk>", token 1, ...]}:
  // every id's token string in id order, enough to rebuild exactly.
  nlohmann::json to_json() const;
  // Error on anything malformed, naming the field: not an object, a missing or
  // unknown kind, vocab missing or not an array of strings, entry 0 not
  // "<unk>", a duplicate, a char entry that is not exactly one code point, a
  // word entry that is not exactly one word-tokenizer token, a vocab_size that
  // disagrees.
  static Tokenizer from_json(const nlohmann::json& j);

  bool operator==(const Tokenizer& other) const { return kind_ == other.kind_ && vocab_ == other.vocab_; }
  bool operator!=(const Tokenizer& other) const { return !(*this == other); }

 private:
  Tokenizer(TokenizerKind kind, std::vector<std::string> vocab);

  TokenizerKind kind_ = TokenizerKind::byte;
  std::vector<std::string> vocab_;                // char/word: id -> UTF-8 token; vocab_[0] == "<unk>"
  std::unordered_map<std::string, int32_t> ids_;  // word: token -> id
  std::unordered_map<uint32_t, int32_t> cp_ids_;  // char: code point -> id
};

// The whole file as bytes. Error naming the path when it is missing, a
// directory, unreadable, or empty ("<path> is empty").
std::string read_text_file(const std::string& path);

// A deterministic split: valid is the last floor(n * valid_fraction) tokens,
// train everything before. Requires 0 < valid_fraction < 1, seq_len >= 1, and
// at least seq_len + 1 tokens on each side (else an Error saying the corpus is
// too small for seq_len).
struct TokenSplit {
  std::vector<int32_t> train, valid;
};
TokenSplit split_tokens(const std::vector<int32_t>& tokens, double valid_fraction, int64_t seq_len);

// `batch` windows of len + 1 consecutive tokens, each starting at a uniform
// random position in [0, n - len - 1], drawn with one rand({batch}, f64, &gen)
// call (so gen's offset advances by exactly `batch`). Returns inputs x and
// next-token targets y (y[b][i] == x[b][i + 1]), both i64 [batch, len] on the
// CPU. Requires batch >= 1, len >= 1 and at least len + 1 tokens.
std::pair<Tensor, Tensor> sample_batch(const std::vector<int32_t>& tokens, int64_t batch, int64_t len, Generator& gen);

// Evaluation windows in order: window w has x = tokens[w*len, w*len + len) and
// y one token later, for every w with w*len + len < n (so consecutive x windows
// tile the tokens; the last partial window is dropped). Grouped into batches of
// `batch` windows, the last batch holding what is left (it can be smaller);
// at most max_batches batches (max_batches <= 0: no limit). Each pair is
// (x, y), i64 [windows, len]. Error when not even one window fits.
std::vector<std::pair<Tensor, Tensor>> eval_batches(const std::vector<int32_t>& tokens, int64_t batch, int64_t len,
                                                    int64_t max_batches);

// Appends code point cp to out as UTF-8 (1 to 4 bytes); cp <= 0x10FFFF.
void append_utf8(std::string& out, uint32_t cp);

// Where the corpora live: $MOEGRAD_DATA_DIR when set and non-empty, else the
// build's MOEGRAD_DEFAULT_DATA_DIR (<repo>/data), else "data".
std::string default_data_dir();

// Names of the known corpora ("moby-dick", "sotu"), in order.
std::vector<std::string> corpus_names();

// A known corpus name resolves to its file in data_dir ("moby-dick" ->
// moby-dick.txt, "sotu" -> sotu.txt); a missing file is an Error naming the
// corpus and the command that fetches it ("run scripts/fetch_data.sh sotu").
// Anything else is a path, returned unchanged when it exists; when it does not
// the Error names it and lists the known names.
std::string corpus_path(const std::string& name_or_path, const std::string& data_dir = default_data_dir());

}  // namespace moegrad::app
