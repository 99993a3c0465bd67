// The byte-level BPE tokenizer (apps/bpe.h): chunking, a merge sequence
// worked out by hand, tie-breaking, determinism, exact round trips on random
// bytes and real verses, encode against a naive replay of the merges, JSON
// and its errors. The last case learns an 8k vocabulary on the real Bible
// training side when `scripts/fetch_data.sh bible` has installed it, and
// reports the time (skipped otherwise, saying so).
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>

#include "apps/bpe.h"
#include "apps/parallel.h"
#include "apps/sword.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

constexpr int32_t id_of(char c) { return BpeTokenizer::first_byte_id + int32_t(static_cast<unsigned char>(c)); }

// Encoding by replaying every merge in learned order over each chunk: slow
// and obviously right, to check encode's earliest-merge-first loop against.
std::vector<int32_t> naive_encode(const BpeTokenizer& bpe, const std::string& text) {
  std::vector<int32_t> out;
  for (const std::string& chunk : bpe_chunks(text)) {
    std::vector<int32_t> syms;
    for (char c : chunk) syms.push_back(id_of(c));
    for (size_t k = 0; k < bpe.merges().size(); ++k) {
      const auto [a, b] = bpe.merges()[k];
      std::vector<int32_t> next;
      for (size_t i = 0; i < syms.size(); ++i) {
        if (i + 1 < syms.size() && syms[i] == a && syms[i + 1] == b) {
          next.push_back(BpeTokenizer::base_vocab + int32_t(k));
          ++i;
        } else {
          next.push_back(syms[i]);
        }
      }
      syms.swap(next);
    }
    out.insert(out.end(), syms.begin(), syms.end());
  }
  return out;
}

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<int> byte(0, 255), pick(0, 3);
  const std::string common = " aeiouAE,.\n\xC3\xA1\xC3\xB1";
  std::string s(len(rng), '\0');
  for (char& c : s) c = pick(rng) == 0 ? char(byte(rng)) : common[size_t(byte(rng)) % common.size()];
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

}  // namespace

TEST_CASE("bpe chunks split words, keep a leading space and cover the text", "[bpe]") {
  using V = std::vector<std::string>;
  CHECK(bpe_chunks("In the beginning, God  said 42 times:\n\tok") ==
        V{"In", " the", " beginning", ",", " God", " ", " said", " 42", " times", ":", "\n\t", "ok"});
  // UTF-8 stays inside words, whatever the script.
  CHECK(bpe_chunks("\xC2\xBF"
                   "Con qu\xC3\xA9?") == V{"\xC2\xBF"
                                           "Con",
                                           " qu\xC3\xA9", "?"});
  CHECK(bpe_chunks("\xD7\x91 BETH.") == V{"\xD7\x91", " BETH", "."});
  CHECK(bpe_chunks("a1b") == V{"a", "1", "b"});
  CHECK(bpe_chunks("  ") == V{"  "});
  CHECK(bpe_chunks("x \n y") == V{"x", " \n", " y"});
  CHECK(bpe_chunks(" ") == V{" "});
  CHECK(bpe_chunks("").empty());
  // Long runs are cut every 256 bytes.
  const V long_run = bpe_chunks(" " + std::string(600, 'a'));
  REQUIRE(long_run.size() == 3);
  CHECK(long_run[0].size() == 256);
  CHECK(long_run[1] == std::string(256, 'a'));
  CHECK(long_run[2] == std::string(89, 'a'));
  // The chunks always concatenate back to the text.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const std::string s = random_bytes(rng, 700);
    std::string joined;
    for (const std::string& c : bpe_chunks(s)) {
      REQUIRE(!c.empty());
      joined += c;
    }
    REQUIRE(joined == s);
  }
}

TEST_CASE("bpe learns the merge sequence worked out by hand", "[bpe]") {
  // Chunks: "the" x2, " cat", " hat", "that". Pair counts: (a,t) 3, (t,h) 3,
  // (h,e) 2, (h,a) 2, others 1. (a,t) and (t,h) tie at 3: the smaller left id
  // wins ('a' = 100 < 't' = 119), so merge 0 is "at" (259). Then (t,h) is
  // still 3 (the, the, that) and (h,at) is 2 (hat, that): merge 1 is "th"
  // (260). Now (th,e) is 2 and (h,at) 1 (only " hat" keeps h before at):
  // merge 2 is "the" (261). Every pair left occurs once: learning stops at 262.
  const BpeTokenizer bpe = BpeTokenizer::learn({"the cat", "the hat", "that"}, 1000);
  using M = std::vector<std::pair<int32_t, int32_t>>;
  CHECK(bpe.merges() == M{{id_of('a'), id_of('t')}, {id_of('t'), id_of('h')}, {260, id_of('e')}});
  CHECK(bpe.vocab_size() == 262);
  CHECK(bpe.token_bytes(259) == "at");
  CHECK(bpe.token_bytes(260) == "th");
  CHECK(bpe.token_bytes(261) == "the");
  CHECK(bpe.token_bytes(BpeTokenizer::bos_id).empty());
  CHECK(bpe.token_bytes(id_of('Z')) == "Z");
  CHECK(bpe.encode("the that hat") == std::vector<int32_t>{261, id_of(' '), 260, 259, id_of(' '), id_of('h'), 259});
  // vocab_size caps the merges.
  CHECK(BpeTokenizer::learn({"the cat", "the hat", "that"}, 260).merges() == M{{id_of('a'), id_of('t')}});
  CHECK(BpeTokenizer::learn({"the cat"}, 259).vocab_size() == 259);
  CHECK(BpeTokenizer::learn({}, 1000).vocab_size() == 259);

  // Overlapping pairs all count: "aaaa" holds three (a,a) and "aaa" two. After
  // merging, "aaaa" is [aa, aa] and "aaa" is [aa, a]: each pair occurs once, so stop.
  const BpeTokenizer overlap = BpeTokenizer::learn({"aaaa", "aaa"}, 1000);
  CHECK(overlap.merges() == M{{id_of('a'), id_of('a')}});
  CHECK(overlap.encode("aaaaa") == std::vector<int32_t>{259, 259, id_of('a')});

  // The count decides before the ids: (c,d) occurs 3 times, (a,b) twice.
  CHECK(BpeTokenizer::learn({"cd", "cd", "cd", "ab", "ab"}, 260).merges() == M{{id_of('c'), id_of('d')}});
  CHECK(BpeTokenizer::learn({"cd", "cd", "ab", "ab"}, 261).merges() ==
        M{{id_of('a'), id_of('b')}, {id_of('c'), id_of('d')}});
  // Merges never cross chunks: "a b" has no (a,b) pair, " b" has (' ', b).
  CHECK(BpeTokenizer::learn({"a b", "a b"}, 1000).merges() == M{{id_of(' '), id_of('b')}});
  require_error([] { BpeTokenizer::learn({"x"}, 258); }, "vocab_size must be in");
}

TEST_CASE("bpe encode and decode round-trip any bytes and match a naive replay of the merges", "[bpe]") {
  const std::string chapter = read_fixture("moby_dick_chapter_1.txt");
  std::vector<std::string> texts = lines_of(chapter);
  texts.push_back(
      "EN el principio cri\xC3\xB3 Dios los cielos y la tierra. \xC2\xBF"
      "Con qu\xC3\xA9?");
  const BpeTokenizer bpe = BpeTokenizer::learn(texts, 800);
  CHECK(bpe.vocab_size() == 800);
  // Learned merges compress the text they came from.
  const std::vector<int32_t> ids = bpe.encode(chapter);
  CHECK(double(ids.size()) < 0.4 * double(chapter.size()));
  CHECK(bpe.decode(ids) == chapter);
  CHECK(ids == naive_encode(bpe, chapter));
  for (int32_t id : ids) REQUIRE((id >= BpeTokenizer::first_byte_id && id < bpe.vocab_size()));

  std::mt19937 rng(2024);
  for (int trial = 0; trial < 400; ++trial) {
    const std::string s = random_bytes(rng, trial < 380 ? 200 : 3000);
    const std::vector<int32_t> enc = bpe.encode(s);
    REQUIRE(bpe.decode(enc) == s);
    if (trial < 100) REQUIRE(enc == naive_encode(bpe, s));
  }
  const std::string every_byte = [] {
    std::string s;
    for (int b = 0; b < 256; ++b) s += char(b);
    return s;
  }();
  CHECK(bpe.decode(bpe.encode(every_byte)) == every_byte);
  CHECK(bpe.encode("").empty());
  CHECK(bpe.decode({}).empty());
  // Special ids decode to nothing; ids outside the vocabulary are errors.
  std::vector<int32_t> framed = {BpeTokenizer::bos_id};
  const std::vector<int32_t> body = bpe.encode("Call me Ishmael.");
  framed.insert(framed.end(), body.begin(), body.end());
  framed.push_back(BpeTokenizer::eos_id);
  framed.push_back(BpeTokenizer::pad_id);
  CHECK(bpe.decode(framed) == "Call me Ishmael.");
  require_error([&] { bpe.decode({5, 800}); }, "id 800 is outside [0, 800)");
  require_error([&] { bpe.decode({-1}); }, "id -1");
  require_error([&] { bpe.token_bytes(900); }, "id 900");
}

TEST_CASE("bpe learning is deterministic and ignores the order of the texts", "[bpe]") {
  std::vector<std::string> texts = lines_of(read_fixture("moby_dick_chapter_1.txt"));
  const BpeTokenizer a = BpeTokenizer::learn(texts, 600);
  const BpeTokenizer b = BpeTokenizer::learn(texts, 600);
  CHECK(a == b);
  std::reverse(texts.begin(), texts.end());
  std::mt19937 rng(3);
  std::shuffle(texts.begin(), texts.end(), rng);
  CHECK(BpeTokenizer::learn(texts, 600) == a);
  // A smaller vocabulary is a prefix of a larger one.
  const BpeTokenizer small = BpeTokenizer::learn(texts, 400);
  REQUIRE(small.merges().size() == 141);
  CHECK(std::equal(small.merges().begin(), small.merges().end(), a.merges().begin()));
}

TEST_CASE("bpe saves and loads JSON and names what is wrong with a bad file", "[bpe]") {
  const BpeTokenizer bpe = BpeTokenizer::learn(lines_of(read_fixture("moby_dick_chapter_1.txt")), 400);
  const nlohmann::json j = bpe.to_json();
  CHECK(j["kind"] == "bpe");
  CHECK(j["vocab_size"] == 400);
  CHECK(j["merges"].size() == 141);
  CHECK(BpeTokenizer::from_json(j) == bpe);
  CHECK(BpeTokenizer::from_json(BpeTokenizer().to_json()) == BpeTokenizer());

  ScratchDir dir("bpe_json");
  bpe.save(dir / "bpe.json");
  const BpeTokenizer loaded = BpeTokenizer::load(dir / "bpe.json");
  CHECK(loaded == bpe);
  CHECK(loaded.encode("It is a way I have") == bpe.encode("It is a way I have"));

  const auto bad = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& needle) {
    nlohmann::json k = j;
    edit(k);
    require_error([&] { BpeTokenizer::from_json(k); }, needle);
  };
  bad([](nlohmann::json& k) { k = nlohmann::json::array(); }, "expected a JSON object");
  bad([](nlohmann::json& k) { k.erase("merges"); }, "missing field 'merges'");
  bad([](nlohmann::json& k) { k["kind"] = "wordpiece"; }, "'kind' must be \"bpe\"");
  bad([](nlohmann::json& k) { k["version"] = 2; }, "unknown 'version' 2");
  bad([](nlohmann::json& k) { k["version"] = "1"; }, "'version' must be an integer");
  bad([](nlohmann::json& k) { k["special_tokens"]["eos"] = 5; }, "'special_tokens' must be");
  bad([](nlohmann::json& k) { k["first_byte_id"] = 0; }, "'first_byte_id' must be 3");
  bad([](nlohmann::json& k) { k["merges"] = "none"; }, "'merges' must be an array");
  bad([](nlohmann::json& k) { k["merges"][3] = {1, 2, 3}; }, "merges[3] must be a [left, right] pair");
  bad([](nlohmann::json& k) { k["merges"][3] = {"a", 7}; }, "merges[3][0] must be an integer");
  bad([](nlohmann::json& k) { k["merges"][0] = {BpeTokenizer::eos_id, 100}; }, "merges[0] uses id 2");
  bad([](nlohmann::json& k) { k["merges"][0] = {259, 100}; }, "merges[0] uses id 259");
  bad([](nlohmann::json& k) { k["merges"][5] = k["merges"][2]; }, "merges[5] merges");
  bad([](nlohmann::json& k) { k["vocab_size"] = 401; }, "'vocab_size' is 401 but 141 merges make 400 ids");

  write_file(dir / "broken.json", "{\"kind\": \"bpe\", \"merges\": [[1, ");
  require_error([&] { BpeTokenizer::load(dir / "broken.json"); }, "broken.json: not valid JSON");
  write_file(dir / "wrong.json", "{\"kind\": \"char\"}");
  require_error([&] { BpeTokenizer::load(dir / "wrong.json"); }, "wrong.json: BpeTokenizer::from_json");
  require_error([&] { BpeTokenizer::load(dir / "missing.json"); }, "missing.json: no such file");
}

TEST_CASE("real modules: an 8k BPE learned on the Bible training side round-trips every verse", "[bpe]") {
  bool installed = true;
  for (const char* m : {"engKJV2006eb", "spaRV1909eb"})
    installed = installed && fs::exists(fs::path(sword_module_dir(m)) / "ot.bzv");
  if (!installed) {
    WARN(
        "the SWORD modules engKJV2006eb and spaRV1909eb are not installed: skipping BPE learning on the real Bibles "
        "(bash scripts/fetch_data.sh bible installs them)");
    return;
  }
  const ParallelSplit split = split_pairs(read_bible_pairs().pairs);
  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const SentencePair& p : split.train) {
    texts.push_back(p.source);
    texts.push_back(p.target);
    bytes += p.source.size() + p.target.size();
  }
  const auto t0 = std::chrono::steady_clock::now();
  const BpeTokenizer bpe = BpeTokenizer::learn(texts, 8000);
  const double learn_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  size_t tokens = 0;
  const auto t1 = std::chrono::steady_clock::now();
  for (const std::vector<SentencePair>* part : {&split.train, &split.valid, &split.test})
    for (const SentencePair& p : *part) {
      const std::vector<int32_t> s = bpe.encode(p.source), t = bpe.encode(p.target);
      REQUIRE(bpe.decode(s) == p.source);
      REQUIRE(bpe.decode(t) == p.target);
      tokens += s.size() + t.size();
    }
  const double encode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::cout << "bpe: learned " << bpe.vocab_size() << " ids from " << texts.size() << " texts (" << bytes
            << " bytes) in " << learn_s << " s; encoded and decoded all "
            << 2 * (split.train.size() + split.valid.size() + split.test.size()) << " sides in " << encode_s << " s, "
            << tokens << " tokens\n";
  CHECK(bpe.vocab_size() == 8000);
  CHECK(learn_s < 60);
}
