// The command line's data layer (apps/data.h): tokenizers and their JSON,
// corpus files, the train/valid split, training and evaluation batches. Real
// text comes from tests/data/; nothing here needs the network or data/.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "apps/data.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

// Sets an environment variable for one scope, restoring the old value after.
struct ScopedEnv {
  std::string name;
  bool had;
  std::string old;
  ScopedEnv(const std::string& n, const char* value) : name(n) {
    const char* o = std::getenv(n.c_str());
    had = o != nullptr;
    if (had) old = o;
    if (value)
      setenv(n.c_str(), value, 1);
    else
      unsetenv(n.c_str());
  }
  ~ScopedEnv() {
    if (had)
      setenv(name.c_str(), old.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

std::vector<int32_t> iota_tokens(int32_t n) {
  std::vector<int32_t> t(size_t(n), 0);
  for (int32_t i = 0; i < n; ++i) t[size_t(i)] = i;
  return t;
}

std::vector<int64_t> row(const Tensor& t, int64_t r) {
  std::vector<int64_t> all = t.to_vector<int64_t>();
  const int64_t len = t.size(1);
  return std::vector<int64_t>(all.begin() + r * len, all.begin() + (r + 1) * len);
}

}  // namespace

TEST_CASE("tokenizer kind names parse and print", "[data]") {
  for (TokenizerKind k : {TokenizerKind::byte, TokenizerKind::character, TokenizerKind::word})
    REQUIRE(parse_tokenizer_kind(tokenizer_kind_name(k)) == k);
  REQUIRE(tokenizer_kind_name(TokenizerKind::character) == "char");
  require_error([] { parse_tokenizer_kind("bpe"); }, "'bpe'");
  require_error([] { parse_tokenizer_kind("character"); }, "byte, char or word");
}

TEST_CASE("byte tokenizer round-trips arbitrary bytes exactly", "[data]") {
  Tokenizer tok = Tokenizer::byte_level();
  REQUIRE(tok.kind() == TokenizerKind::byte);
  REQUIRE(tok.vocab_size() == 256);
  REQUIRE(Tokenizer() == tok);
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  std::vector<int32_t> ids = tok.encode(all);
  REQUIRE(ids == iota_tokens(256));  // id == byte value, 0 and 255 included
  REQUIRE(tok.decode(ids) == all);
  // Random bytes, invalid UTF-8 and NULs included.
  Generator gen(3);
  std::string noise;
  for (double u : rand({4096}, DType::f64, &gen).to_vector<double>()) noise += char(int(u * 256));
  REQUIRE(tok.decode(tok.encode(noise)) == noise);
  REQUIRE(Tokenizer::build(TokenizerKind::byte, "abc", 2) == tok);  // text and max_vocab do not matter
  REQUIRE(tok.token(255) == std::string(1, char(255)));
  require_error([&] { tok.decode({1, 256}); }, "id 256");
  require_error([&] { tok.decode({-1}); }, "id -1");
}

TEST_CASE("char tokenizer round-trips UTF-8 text, multi-byte code points included", "[data]") {
  const std::string text =
      "caf\xC3\xA9 \xE2\x82\xAC"
      "5 \xF0\x9F\x90\xB3 whale\n";  // café €5 🐳 whale
  Tokenizer tok = Tokenizer::build(TokenizerKind::character, text);
  REQUIRE(tok.kind() == TokenizerKind::character);
  // <unk>, then the 13 distinct code points sorted: \n ' ' 5 a c e f h l w é € 🐳
  REQUIRE(tok.vocab_size() == 14);
  REQUIRE(tok.token(0) == "<unk>");
  REQUIRE(tok.token(1) == "\n");
  REQUIRE(tok.token(2) == " ");
  REQUIRE(tok.token(11) == "\xC3\xA9");
  REQUIRE(tok.token(12) == "\xE2\x82\xAC");
  REQUIRE(tok.token(13) == "\xF0\x9F\x90\xB3");
  std::vector<int32_t> ids = tok.encode(text);
  REQUIRE(ids.size() == 16);  // one id per code point, not per byte
  REQUIRE(tok.decode(ids) == text);

  const std::string chapter = read_fixture("moby_dick_chapter_1.txt");
  Tokenizer book = Tokenizer::build(TokenizerKind::character, chapter);
  REQUIRE(book.vocab_size() < 100);
  REQUIRE(book.decode(book.encode(chapter)) == chapter);
  REQUIRE(book.encode("\xE2\x80\x94").size() == 1);  // the chapter's em dash is one token
  REQUIRE(book.encode("\xE2\x80\x94")[0] != 0);
}

TEST_CASE("char tokenizer reads invalid UTF-8 bytes as U+FFFD", "[data]") {
  Tokenizer tok = Tokenizer::build(TokenizerKind::character,
                                   "a\xFF"
                                   "b");
  REQUIRE(tok.vocab_size() == 4);  // <unk> a b U+FFFD
  REQUIRE(tok.token(3) == kReplacement);
  const int32_t fffd = 3;
  // A stray byte, an overlong NUL, a truncated 3-byte sequence, a surrogate,
  // a code point above U+10FFFF: each bad byte is one U+FFFD.
  REQUIRE(tok.encode("\x80") == std::vector<int32_t>{fffd});
  REQUIRE(tok.encode("\xC0\x80") == std::vector<int32_t>{fffd, fffd});
  REQUIRE(tok.encode("\xE2\x82"
                     "a") == std::vector<int32_t>{fffd, fffd, 1});
  REQUIRE(tok.encode("\xED\xA0\x80") == std::vector<int32_t>{fffd, fffd, fffd});
  REQUIRE(tok.encode("\xF4\x90\x80\x80") == std::vector<int32_t>{fffd, fffd, fffd, fffd});
  REQUIRE(tok.decode(tok.encode("a\xFF"
                                "b")) == "a" + kReplacement + "b");
}

TEST_CASE("char and word tokenizers map unseen tokens to unk", "[data]") {
  Tokenizer chars = Tokenizer::build(TokenizerKind::character, "abc");
  REQUIRE(chars.encode("abzc\xC3\xA9") == std::vector<int32_t>{1, 2, 0, 3, 0});
  REQUIRE(chars.decode({1, 0, 3}) == "a" + kReplacement + "c");  // <unk> decodes to U+FFFD
  REQUIRE(chars.token(0) == "<unk>");
  // "<unk>" in text is three ordinary characters, not the unknown token.
  REQUIRE(chars.encode("<unk>") == std::vector<int32_t>{0, 0, 0, 0, 0});

  Tokenizer words = Tokenizer::build(TokenizerKind::word, "the cat the dog");
  REQUIRE(words.encode("the bird") == std::vector<int32_t>{1, 0});
  REQUIRE(words.decode({1, 0}) == "the <unk>");
  require_error([&] { words.decode({4}); }, "id 4");
  require_error([&] { chars.token(-3); }, "id -3");
}

TEST_CASE("word tokenizer splits words and punctuation and round-trips them", "[data]") {
  const std::string text = "Hello, world!\n(x+y)=z's  \t na\xC3\xAFve 42nd";
  Tokenizer tok = Tokenizer::build(TokenizerKind::word, text);
  const std::string spaced = "Hello , world ! ( x + y ) = z ' s na\xC3\xAFve 42nd";
  REQUIRE(tok.decode(tok.encode(text)) == spaced);
  REQUIRE(tok.encode(text).size() == 15);
  REQUIRE(tok.decode(tok.encode(spaced)) == spaced);  // already normalized: exact
  // Non-ASCII code points belong to words, as do digits.
  REQUIRE(tok.encode("na\xC3\xAFve").size() == 1);
  REQUIRE(tok.encode("na\xC3\xAFve")[0] != 0);

  const std::string chapter = read_fixture("moby_dick_chapter_1.txt");
  Tokenizer book = Tokenizer::build(TokenizerKind::word, chapter);
  std::vector<int32_t> ids = book.encode(chapter);
  REQUIRE(std::count(ids.begin(), ids.end(), 0) == 0);  // every token of its own text is known
  REQUIRE(book.decode(book.encode("Call me Ishmael.")) == "Call me Ishmael .");
  // Decoding and encoding again is a fixed point.
  const std::string once = book.decode(ids);
  REQUIRE(book.encode(once) == ids);
}

TEST_CASE("word vocabulary is by frequency, ties by string, capped at max_vocab", "[data]") {
  const std::string text = "b a b c c c d . . .";
  Tokenizer all = Tokenizer::build(TokenizerKind::word, text);
  // counts: . 3, c 3, b 2, a 1, d 1
  REQUIRE(all.vocab_size() == 6);
  REQUIRE(all.decode({0, 1, 2, 3, 4, 5}) == "<unk> . c b a d");
  Tokenizer capped = Tokenizer::build(TokenizerKind::word, text, 3);
  REQUIRE(capped.vocab_size() == 3);
  REQUIRE(capped.decode({1, 2}) == ". c");
  REQUIRE(capped.encode("a b c") == std::vector<int32_t>{0, 0, 2});
  require_error([&] { Tokenizer::build(TokenizerKind::word, text, 1); }, "max_vocab");
}

TEST_CASE("char vocabulary keeps the most frequent code points, sorted by code point", "[data]") {
  Tokenizer tok = Tokenizer::build(TokenizerKind::character, "zzzyyyxxa", 3);
  // z and y (3 each) beat x (2) and a (1); ids then follow code point order.
  REQUIRE(tok.vocab_size() == 3);
  REQUIRE(tok.encode("xyz") == std::vector<int32_t>{0, 1, 2});
  Tokenizer ties = Tokenizer::build(TokenizerKind::character, "cba", 3);  // all once: lowest code points win
  REQUIRE(ties.decode({1, 2}) == "ab");
}

TEST_CASE("tokenizer build is deterministic", "[data]") {
  const std::string chapter = read_fixture("moby_dick_chapter_1.txt");
  for (TokenizerKind k : {TokenizerKind::byte, TokenizerKind::character, TokenizerKind::word}) {
    INFO(tokenizer_kind_name(k));
    Tokenizer a = Tokenizer::build(k, chapter, 500), b = Tokenizer::build(k, chapter, 500);
    REQUIRE(a == b);
    REQUIRE(a.to_json().dump() == b.to_json().dump());
    REQUIRE(a.encode(chapter) == b.encode(chapter));
  }
}

TEST_CASE("tokenizer JSON round-trips exactly", "[data]") {
  const std::string chapter = read_fixture("moby_dick_chapter_1.txt") + "\xFF";  // a U+FFFD too
  for (TokenizerKind k : {TokenizerKind::byte, TokenizerKind::character, TokenizerKind::word}) {
    INFO(tokenizer_kind_name(k));
    Tokenizer tok = Tokenizer::build(k, chapter, 300);
    nlohmann::json j = tok.to_json();
    REQUIRE(j["kind"] == tokenizer_kind_name(k));
    REQUIRE(j["vocab_size"] == tok.vocab_size());
    Tokenizer back = Tokenizer::from_json(nlohmann::json::parse(j.dump()));
    REQUIRE(back == tok);
    REQUIRE(back.kind() == k);
    REQUIRE(back.vocab_size() == tok.vocab_size());
    REQUIRE(back.encode(chapter) == tok.encode(chapter));
    REQUIRE(back.decode(back.encode(chapter)) == tok.decode(tok.encode(chapter)));
  }
}

TEST_CASE("malformed tokenizer JSON is an error naming the field", "[data]") {
  using nlohmann::json;
  const auto bad = [](const std::string& text, const std::string& needle) {
    INFO(text);
    require_error([&] { Tokenizer::from_json(json::parse(text)); }, needle);
  };
  bad("[1, 2]", "JSON object");
  bad("{}", "'kind'");
  bad(R"({"kind": 3})", "'kind'");
  bad(R"({"kind": "bpe", "vocab": []})", "'bpe'");
  bad(R"({"kind": "char"})", "'vocab'");
  bad(R"({"kind": "char", "vocab": "abc"})", "'vocab'");
  bad(R"({"kind": "char", "vocab": []})", "entry 0");
  bad(R"({"kind": "char", "vocab": ["a", "b"]})", "entry 0");
  bad(R"({"kind": "char", "vocab": ["<unk>", "a", 7]})", "entry 2");
  bad(R"({"kind": "char", "vocab": ["<unk>", "a", "bc"]})", "entry 2");
  bad(R"({"kind": "char", "vocab": ["<unk>", "a", ""]})", "entry 2");
  bad(R"({"kind": "char", "vocab": ["<unk>", "a", "a"]})", "duplicate");
  bad(R"({"kind": "word", "vocab": ["<unk>", "two words"]})", "entry 1");
  bad(R"({"kind": "word", "vocab": ["<unk>", "end."]})", "entry 1");
  bad(R"({"kind": "word", "vocab": ["<unk>", " "]})", "entry 1");
  bad(R"({"kind": "word", "vocab": ["<unk>", "the", "the"]})", "duplicate");
  bad(R"({"kind": "word", "vocab": ["<unk>", "the"], "vocab_size": 3})", "'vocab_size'");
  bad(R"({"kind": "byte", "vocab_size": 255})", "'vocab_size'");
  bad(R"({"kind": "byte", "vocab": ["<unk>"]})", "'vocab'");
  // A string that is not UTF-8 (only possible when built in code).
  json j = {{"kind", "char"}, {"vocab", {"<unk>", std::string("\xFF")}}};
  require_error([&] { Tokenizer::from_json(j); }, "entry 1");
  // Well-formed minimal tokenizers load.
  REQUIRE(Tokenizer::from_json(json::parse(R"({"kind": "byte"})")).vocab_size() == 256);
  REQUIRE(Tokenizer::from_json(json::parse(R"({"kind": "word", "vocab": ["<unk>", "the", ","]})")).vocab_size() == 3);
}

TEST_CASE("read_text_file reads bytes and names the path on errors", "[data]") {
  ScratchDir dir("data_read");
  const std::string bytes = std::string("a\0b\xFF\n", 5);
  write_file(dir / "bytes.txt", bytes);
  REQUIRE(read_text_file(dir / "bytes.txt") == bytes);
  REQUIRE(read_text_file(std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt") ==
          read_fixture("moby_dick_chapter_1.txt"));
  const std::string missing = dir / "missing.txt";
  require_error([&] { read_text_file(missing); }, missing);
  require_error([&] { read_text_file(missing); }, "no such file");
  require_error([&] { read_text_file(dir.path.string()); }, dir.path.string() + " is a directory");
  const std::string empty = dir / "empty.txt";
  write_file(empty, "");
  require_error([&] { read_text_file(empty); }, empty + " is empty");
}

TEST_CASE("split_tokens keeps a deterministic suffix for validation", "[data]") {
  const std::vector<int32_t> tokens = iota_tokens(1000);
  TokenSplit s = split_tokens(tokens, 0.1, 16);
  REQUIRE(s.train.size() == 900);
  REQUIRE(s.valid.size() == 100);
  REQUIRE(s.train == std::vector<int32_t>(tokens.begin(), tokens.begin() + 900));
  REQUIRE(s.valid == std::vector<int32_t>(tokens.begin() + 900, tokens.end()));
  TokenSplit again = split_tokens(tokens, 0.1, 16);
  REQUIRE(again.train == s.train);
  REQUIRE(again.valid == s.valid);
  REQUIRE(split_tokens(tokens, 0.25, 16).valid.size() == 250);
  REQUIRE(split_tokens(iota_tokens(1001), 0.1, 16).valid.size() == 100);  // floor(100.1)

  // Just enough: seq_len + 1 tokens on each side.
  TokenSplit tight = split_tokens(iota_tokens(34), 0.5, 16);
  REQUIRE(tight.train.size() == 17);
  REQUIRE(tight.valid.size() == 17);
  require_error([] { split_tokens(iota_tokens(33), 0.5, 16); }, "too small for seq_len 16");
  require_error([] { split_tokens(iota_tokens(1000), 0.01, 16); }, "too small for seq_len 16");  // 10 valid
  require_error([] { split_tokens(iota_tokens(1000), 0.99, 16); }, "too small");                 // 10 train
  require_error([] { split_tokens(iota_tokens(1000), 0.0, 16); }, "valid_fraction");
  require_error([] { split_tokens(iota_tokens(1000), 1.0, 16); }, "valid_fraction");
  require_error([] { split_tokens(iota_tokens(1000), 0.1, 0); }, "seq_len");
}

TEST_CASE("sample_batch draws shifted windows inside the tokens, reproducibly", "[data]") {
  const int64_t n = 200, batch = 8, len = 10;
  const std::vector<int32_t> tokens = iota_tokens(int32_t(n));  // token value == position
  Generator gen(42);
  auto [x, y] = sample_batch(tokens, batch, len, gen);
  REQUIRE(x.dtype() == DType::i64);
  REQUIRE(y.dtype() == DType::i64);
  REQUIRE(x.shape() == Shape{batch, len});
  REQUIRE(y.shape() == Shape{batch, len});
  REQUIRE(gen.offset() == uint64_t(batch));  // one draw per window
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> xr = row(x, b), yr = row(y, b);
    INFO("window " << b << " starts at " << xr[0]);
    REQUIRE(xr[0] >= 0);
    REQUIRE(yr.back() <= n - 1);  // the window's len + 1 tokens lie inside
    for (int64_t i = 0; i < len; ++i) {
      REQUIRE(xr[size_t(i)] == xr[0] + i);          // consecutive tokens
      REQUIRE(yr[size_t(i)] == xr[size_t(i)] + 1);  // y is x shifted by one
    }
  }

  // Same seed, same batch; the generator advances, so the next batch differs.
  Generator same(42);
  auto [x2, y2] = sample_batch(tokens, batch, len, same);
  REQUIRE(x2.to_vector<int64_t>() == x.to_vector<int64_t>());
  REQUIRE(y2.to_vector<int64_t>() == y.to_vector<int64_t>());
  auto [x3, y3] = sample_batch(tokens, batch, len, gen);
  REQUIRE(gen.offset() == uint64_t(2 * batch));
  REQUIRE(x3.to_vector<int64_t>() != x.to_vector<int64_t>());

  // Every start in [0, n - len - 1] is reachable, the last one included.
  const std::vector<int32_t> small = iota_tokens(8);
  Generator g(1);
  std::set<int64_t> starts;
  for (int k = 0; k < 20; ++k) {
    auto [sx, sy] = sample_batch(small, 16, 5, g);
    for (int64_t b = 0; b < 16; ++b) starts.insert(row(sx, b)[0]);
  }
  REQUIRE(starts == std::set<int64_t>{0, 1, 2});
  // Exactly len + 1 tokens: the only window.
  auto [ox, oy] = sample_batch(iota_tokens(6), 3, 5, g);
  REQUIRE(ox.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4});
  REQUIRE(row(oy, 2) == std::vector<int64_t>{1, 2, 3, 4, 5});
  require_error([&] { sample_batch(iota_tokens(5), 3, 5, g); }, "too few");
  require_error([&] { sample_batch(tokens, 0, 5, g); }, "batch");
}

TEST_CASE("sample_batch on real text gives the next character as target", "[data]") {
  const std::string chapter = read_fixture("moby_dick_chapter_1.txt");
  Tokenizer tok = Tokenizer::build(TokenizerKind::character, chapter);
  std::vector<int32_t> ids = tok.encode(chapter);
  Generator gen(7);
  auto [x, y] = sample_batch(ids, 4, 32, gen);
  for (int64_t b = 0; b < 4; ++b) {
    std::vector<int32_t> xs, ys;
    for (int64_t v : row(x, b)) xs.push_back(int32_t(v));
    for (int64_t v : row(y, b)) ys.push_back(int32_t(v));
    const std::string sx = tok.decode(xs), sy = tok.decode(ys);
    INFO(sx << " | " << sy);
    REQUIRE(chapter.find(sx) != std::string::npos);
    REQUIRE(tok.decode(std::vector<int32_t>(xs.begin() + 1, xs.end())) ==
            tok.decode(std::vector<int32_t>(ys.begin(), ys.end() - 1)));
  }
}

TEST_CASE("eval_batches covers the tokens in order", "[data]") {
  const int64_t len = 4;
  const std::vector<int32_t> tokens = iota_tokens(31);  // 7 windows of 4 (+1 target), 2 tokens left over
  auto batches = eval_batches(tokens, 3, len, 0);
  REQUIRE(batches.size() == 3);  // 3 + 3 + 1 windows
  REQUIRE(batches[0].first.shape() == Shape{3, len});
  REQUIRE(batches[2].first.shape() == Shape{1, len});
  std::vector<int64_t> xs, ys;
  for (auto& [x, y] : batches) {
    REQUIRE(x.dtype() == DType::i64);
    REQUIRE(y.shape() == x.shape());
    for (int64_t v : x.to_vector<int64_t>()) xs.push_back(v);
    for (int64_t v : y.to_vector<int64_t>()) ys.push_back(v);
  }
  std::vector<int64_t> want(28);
  for (int64_t i = 0; i < 28; ++i) want[size_t(i)] = i;
  REQUIRE(xs == want);  // the x windows tile tokens[0, 28)
  for (size_t i = 0; i < ys.size(); ++i) REQUIRE(ys[i] == xs[i] + 1);

  // Windows need len + 1 tokens: 29 tokens give 7 windows, 28 only 6.
  REQUIRE(eval_batches(iota_tokens(29), 7, len, 0)[0].first.size(0) == 7);
  REQUIRE(eval_batches(iota_tokens(28), 7, len, 0)[0].first.size(0) == 6);
  // max_batches caps the count and keeps the first batches.
  auto capped = eval_batches(tokens, 3, len, 2);
  REQUIRE(capped.size() == 2);
  REQUIRE(capped[1].first.to_vector<int64_t>() == batches[1].first.to_vector<int64_t>());
  REQUIRE(eval_batches(tokens, 3, len, 10).size() == 3);
  require_error([] { eval_batches(iota_tokens(4), 2, 4, 0); }, "too few");
  require_error([] { eval_batches(iota_tokens(40), 2, 0, 0); }, "len");
}

// Found by fuzz/fuzz_tokenizer under UBSan: seq_len + 1 and len + 1 overflowed
// for INT64_MAX (and the wrapped value let the size checks pass), as did
// batch * len and eval_batches' rounded-up batch count.
TEST_CASE("split_tokens, sample_batch and eval_batches take sizes up to INT64_MAX without overflow", "[data]") {
  const int64_t big = std::numeric_limits<int64_t>::max();
  const std::vector<int32_t> tokens = iota_tokens(100);
  require_error([&] { split_tokens(tokens, 0.5, big); }, "too small for seq_len 9223372036854775807");
  require_error([&] { split_tokens(tokens, 0.5, big); }, "seq_len + 1 = 9223372036854775808");
  Generator g(1);
  require_error([&] { sample_batch(tokens, 1, big, g); }, "window of len + 1 = 9223372036854775808");
  require_error([&] { sample_batch(tokens, big, 4, g); }, "batch 9223372036854775807 windows of len 4");
  REQUIRE(g.offset() == 0);  // refused before drawing
  require_error([&] { eval_batches(tokens, 1, big, 0); }, "len + 1 = 9223372036854775808");
  // A batch larger than the windows holds them all, in one batch.
  auto all = eval_batches(tokens, big, 4, 0);
  REQUIRE(all.size() == 1);
  REQUIRE(all[0].first.shape() == Shape{24, 4});
  REQUIRE(eval_batches(tokens, big, 4, big).size() == 1);
}

TEST_CASE("corpus_path resolves names in the data dir and paths as given", "[data]") {
  ScratchDir dir("data_corpus");
  const std::string data = dir.path.string();
  REQUIRE(corpus_names() == std::vector<std::string>{"moby-dick", "sotu"});
  // A named corpus that is not downloaded names itself and the fetch command.
  require_error([&] { corpus_path("sotu", data); }, "run scripts/fetch_data.sh sotu");
  require_error([&] { corpus_path("moby-dick", data); }, "'moby-dick'");
  const std::string moby = dir / "moby-dick.txt";
  write_file(moby, "Call me Ishmael.");
  REQUIRE(corpus_path("moby-dick", data) == moby);
  // Anything else is a path.
  const std::string fixture = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";
  REQUIRE(corpus_path(fixture, data) == fixture);
  require_error([&] { corpus_path("moby_dick", data); }, "'moby_dick' is neither a known corpus (moby-dick, sotu)");
  // The default data dir follows $MOEGRAD_DATA_DIR.
  {
    ScopedEnv env("MOEGRAD_DATA_DIR", data.c_str());
    REQUIRE(default_data_dir() == data);
    REQUIRE(corpus_path("moby-dick") == moby);
  }
  {
    ScopedEnv env("MOEGRAD_DATA_DIR", nullptr);
    REQUIRE(!default_data_dir().empty());
    REQUIRE(default_data_dir() != data);
  }
}
