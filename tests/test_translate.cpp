// Translation (apps/translate.h): the TSV corpus reader, the config, the
// encoder-decoder's layer streams, beam search against a hand-written greedy
// loop and across batch sizes, and whole runs on a toy task (digits as
// English words -> the same digits as Spanish words) that a tiny model
// learns in seconds, for the dense, Switch and THOR arms.
#include <cmath>
#include <filesystem>
#include <set>

#include "apps/model.h"
#include "apps/plot.h"
#include "apps/translate.h"
#include "cli.h"
#include "core/device.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/reduce.h"
#include "moe/layer.h"
#include "moe/thor.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;

namespace {

// n pairs of 2..4 digits, "three one four" -> "tres uno cuatro", from a fixed LCG.
std::string toy_corpus(int n) {
  const char* en[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
  const char* es[] = {"cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"};
  uint64_t state = 12345;
  auto next = [&](uint64_t m) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % m;
  };
  std::string text;
  for (int i = 0; i < n; ++i) {
    const uint64_t len = 2 + next(3);
    std::string s, t;
    for (uint64_t j = 0; j < len; ++j) {
      const uint64_t d = next(10);
      s += std::string(j ? " " : "") + en[d];
      t += std::string(j ? " " : "") + es[d];
    }
    text += s + "\t" + t + "\n";
  }
  return text;
}

// A tiny run on the toy corpus in `dir`: 1 + 1 layers of width 32.
TranslateConfig toy_config(const ScratchDir& dir, const std::string& model) {
  write_file(dir / "toy.tsv", toy_corpus(800));
  TranslateConfig c;
  c.run.data = dir / "toy.tsv";
  c.run.model = model;
  c.run.dim = 32;
  c.run.layers = 1;
  c.run.attn_heads = 2;
  c.run.ffn_hidden = 64;
  c.run.seq_len = 24;
  c.run.experts = 2;
  c.run.top_k = 1;
  c.run.moe_every = 1;
  c.run.steps = 300;
  c.run.warmup = 20;
  c.run.lr = 3e-3;
  c.run.min_lr = 3e-4;
  c.run.batch = 16;
  c.run.log_every = 1000;
  c.run.eval_every = 0;
  c.run.eval_batches = 2;
  c.run.run_dir = dir / ("run_" + model);
  c.bpe_vocab = 300;
  c.valid_fraction = 0.1;
  c.test_fraction = 0.1;
  return c;
}

// The greedy translation by the definition: argmax of the next token given
// the whole prefix, until <eos> or the length limit translate_ids uses.
std::vector<int32_t> greedy_by_hand(const Translator& t, std::vector<int32_t> src) {
  NoGradGuard no_grad;
  t.model->eval();
  if (int64_t(src.size()) >= t.model->config.max_len) src.resize(size_t(t.model->config.max_len - 1));  // room for <eos>
  src.push_back(BpeTokenizer::eos_id);
  Tensor s = from_vector(std::vector<int64_t>(src.begin(), src.end()), {1, int64_t(src.size())});
  Tensor memory = t.model->encode(s);
  const int64_t limit = std::min<int64_t>(t.model->config.max_len, int64_t(src.size()) * 3 / 2 + 10);
  std::vector<int64_t> prefix{BpeTokenizer::bos_id};
  std::vector<int32_t> out;
  while (int64_t(prefix.size()) <= limit) {
    Tensor logits = t.model->decode(from_vector(prefix, {1, int64_t(prefix.size())}), memory);
    std::vector<float> last = logits.select(1, int64_t(prefix.size()) - 1).reshape({-1}).to_vector<float>();
    const int32_t next = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
    if (next == BpeTokenizer::eos_id) break;
    out.push_back(next);
    prefix.push_back(next);
  }
  return out;
}

}  // namespace

TEST_CASE("read_tsv_pairs: ids by line, CRLF, empty lines, cleaning and a line without a tab", "[translate]") {
  ScratchDir dir("tsv");
  write_file(dir / "a.tsv", "one\tuno\r\n\ntwo\tdos\none\tuno\nthree\t\nx\ty\tz\n");
  ParallelCorpus c = read_tsv_pairs(dir / "a.tsv");
  REQUIRE(c.pairs.size() == 3);
  CHECK(c.pairs[0] == SentencePair{"line 1", "one", "uno"});
  CHECK(c.pairs[1] == SentencePair{"line 3", "two", "dos"});
  CHECK(c.pairs[2] == SentencePair{"line 6", "x", "y\tz"});  // the first tab splits
  CHECK(c.dropped_duplicate == 1);
  CHECK(c.dropped_empty == 1);
  write_file(dir / "b.tsv", "one\tuno\nno tab here\n");
  CHECK_THROWS_WITH(read_tsv_pairs(dir / "b.tsv"), Catch::Contains("line 2 has no tab"));
  CHECK_THROWS_WITH(read_tsv_pairs(dir / "missing.tsv"), Catch::Contains("cannot read"));
}

TEST_CASE("TranslateConfig: JSON round trip, unknown keys and bad values name the flag", "[translate]") {
  TranslateConfig c;
  c.bpe_vocab = 1234;
  c.run.model = "smoe";
  c.run.dim = 64;
  TranslateConfig back = translate_config_from_json(to_json(c));
  CHECK(to_json(back) == to_json(c));
  CHECK(back.bpe_vocab == 1234);
  CHECK(back.run.dim == 64);
  CHECK_THROWS_WITH(translate_config_from_json({{"bpe_vocabs", 3}}), Catch::Contains("unknown config key 'bpe_vocabs'"));
  CHECK_THROWS_WITH(translate_config_from_json({{"bpe_vocab", "many"}}), Catch::Contains("'bpe_vocab'"));
  // A run saved before the device moved into "run" kept it at the top; it still loads.
  CHECK(translate_config_from_json({{"device", "cuda:1"}, {"bpe_vocab", 500}}).run.device == "cuda:1");
  CHECK(translate_config_from_json({{"device", "cuda:1"}, {"run", {{"device", "cpu"}}}}).run.device == "cpu");
  CHECK_THROWS_WITH(translate_config_from_json({{"device", 3}}), Catch::Contains("setting 'device' has the wrong type: 3"));
  c.bpe_vocab = 100;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("--bpe-vocab") && Catch::Contains("100"));
  c.bpe_vocab = 1000;
  c.valid_fraction = 0.6;
  c.test_fraction = 0.5;
  CHECK_THROWS_WITH(validate(c), Catch::Contains("--valid-fraction + --test-fraction"));
  c.test_fraction = 0.1;
  c.run.device = "gpu";
  CHECK_THROWS_WITH(validate(c), Catch::Contains("--device") && Catch::Contains("'gpu'"));
  // A well-formed device this machine lacks passes validate (a run trained on
  // a GPU must load anywhere) and stops training before anything is read.
  c.run.device = "cuda:7";
  CHECK_NOTHROW(validate(c));
  std::ostringstream sink;
  CHECK_THROWS_WITH(translate_train(c, sink), Catch::Contains("--device cuda:7"));
}

TEST_CASE("build_translation_model: THOR in every second block of both stacks, each with its own stream",
          "[translate]") {
  RunConfig c = translation_run_defaults();
  c.dim = 16;
  c.ffn_hidden = 16;
  c.attn_heads = 2;
  c.layers = 4;
  auto m = build_translation_model(c, 300);
  std::vector<std::shared_ptr<MoeLayer>> layers = moe_layers(*m);
  REQUIRE(layers.size() == 4);  // blocks 1 and 3 of the encoder, then of the decoder
  CHECK(dynamic_cast<Thor*>(m->encoder[1]->ffn.get()) != nullptr);
  CHECK(dynamic_cast<Thor*>(m->encoder[0]->ffn.get()) == nullptr);
  CHECK(dynamic_cast<Thor*>(m->decoder[3]->ffn.get()) != nullptr);
  std::set<uint64_t> seeds;
  for (Generator* g : layer_generators(*m)) seeds.insert(g->seed());
  CHECK(seeds.size() == 4);
  // The same config gives the same weights.
  auto again = build_translation_model(c, 300);
  CHECK(values(m->tok->weight) == values(again->tok->weight));
}

TEST_CASE("translate: beam 1 is the greedy loop, and batches and beams do not mix sentences", "[translate]") {
  ScratchDir dir("mt_decode");
  TranslateConfig c = toy_config(dir, "dense");
  // An untrained model's translations are arbitrary but fixed: they exercise the search.
  Translator t{c, BpeTokenizer::learn({"three one four", "tres uno cuatro", "nine nueve"}, 280),
               build_translation_model(c.run, 280)};
  std::vector<std::vector<int32_t>> sources;
  for (const char* s : {"three one", "four four four four nine", "one", "nine three one four two two"})
    sources.push_back(t.bpe.encode(s));
  DecodeOptions greedy;
  greedy.batch = 3;  // sentences of different lengths share a padded batch
  std::vector<std::vector<int32_t>> got = t.translate_ids(sources, greedy);
  for (size_t i = 0; i < sources.size(); ++i) CHECK(got[i] == greedy_by_hand(t, sources[i]));

  DecodeOptions beam;
  beam.beam = 4;
  beam.batch = 1;
  std::vector<std::vector<int32_t>> alone = t.translate_ids(sources, beam);
  beam.batch = 4;
  CHECK(t.translate_ids(sources, beam) == alone);
  for (const auto& ids : alone)
    for (int32_t id : ids) CHECK((id >= BpeTokenizer::first_byte_id && id < 280));

  // More slots than candidates: at the first step only slot 0 lives, with V continuations.
  beam.beam = 300;
  std::vector<std::vector<int32_t>> wide = t.translate_ids({sources[2]}, beam);
  REQUIRE(wide.size() == 1);
  for (int32_t id : wide[0]) CHECK((id >= BpeTokenizer::first_byte_id && id < 280));

  beam.beam = 0;
  CHECK_THROWS_WITH(t.translate_ids(sources, beam), Catch::Contains("--beam"));
}

TEST_CASE("translate_train: dense, Switch and THOR learn the toy task, and a saved run reloads", "[translate][slow]") {
  ScratchDir dir("mt_train");
  std::ostringstream log;
  for (const std::string model : {"dense", "smoe", "thor"}) {
    TranslateConfig c = toy_config(dir, model);
    TranslateResult r = translate_train(c, log);
    INFO(model << ": " << log.str());
    CHECK(r.step == 300);
    CHECK(r.skipped_long == 0);
    CHECK(std::isfinite(r.valid_loss));
    // Untrained, BLEU is about 0; a model that learned the digit map scores high.
    CHECK(r.valid_bleu.score > 50);
    // The records `moegrad plot` reads: here only the last step's (log_every is past the run).
    MetricsLog m = read_metrics((std::filesystem::path(c.run.run_dir) / "metrics.jsonl").string());
    REQUIRE(m.train.size() == 1);
    REQUIRE(m.valid.size() == 1);
    CHECK(m.train[0]["step"] == 300);
    CHECK(std::isfinite(m.train[0]["loss"].get<double>()));
    CHECK(m.valid[0]["step"] == 300);
    CHECK(m.valid[0]["loss"].get<double>() == r.valid_loss);

    Translator back = load_translator(c.run.run_dir);
    CHECK(back.bpe.vocab_size() == 300);
    CHECK(to_json(back.config) == to_json(c));
    ParallelSplit parts = load_pairs(back.config);
    if (model == "dense") {  // nothing random at inference: the reloaded model scores the same
      CHECK(back.bleu(parts.valid).score == Approx(r.valid_bleu.score).margin(1e-9));
      CHECK(back.translate({"three one four"})[0] == "tres uno cuatro");
    }
    if (model == "thor") {
      set_thor_inference(*back.model, "ensemble");
      CHECK(back.bleu(parts.valid).score > 50);
    }
    CHECK_THROWS_WITH(translate_train(c, log), Catch::Contains("already holds a translation run"));
  }
}

TEST_CASE("moegrad translate: eval and decode from the command line, and their errors", "[translate][cli][slow]") {
  ScratchDir dir("mt_cli"), logs("mt_cli_logs");
  TranslateConfig c = toy_config(dir, "dense");
  c.run.steps = 40;
  std::ostringstream log;
  translate_train(c, log);
  CliResult e = run_cli({"translate", "eval", c.run.run_dir, "--split", "valid", "--beam", "3", "--json"}, logs);
  REQUIRE(e.status == 0);
  nlohmann::json j = nlohmann::json::parse(e.out);
  CHECK(j["beam"] == 3);
  CHECK(j["pairs"].get<int64_t>() == int64_t(load_pairs(c).valid.size()));
  CHECK(j["bleu"].get<double>() >= 0);

  const std::string translated = logs / "decoded";
  REQUIRE(shell("printf 'three one\\nnine\\n' | " + quote(MOEGRAD_CLI_PATH) + " translate decode " +
                quote(c.run.run_dir) + " --beam 2 > " + quote(translated)) == 0);
  Translator t = load_translator(c.run.run_dir);
  DecodeOptions two;
  two.beam = 2;
  std::vector<std::string> expected = t.translate({"three one", "nine"}, two);
  CHECK(read_file(translated) == expected[0] + "\n" + expected[1] + "\n");

  CHECK(run_cli({"translate", "eval", c.run.run_dir, "--split", "train"}, logs).err ==
        "moegrad: error: translate eval: --split must be valid or test, got 'train'\n");
  CHECK_THAT(run_cli({"translate", "eval", c.run.run_dir, "--thor-inference", "vote"}, logs).err,
             Catch::Contains("--thor-inference") && Catch::Contains("'vote'"));
  CHECK_THAT(run_cli({"translate", "eval", dir / "nothing"}, logs).err, Catch::Contains("no translation run in"));
  // Killed between its two writes, a run leaves weights without translate.json: the next one may go ahead.
  std::filesystem::remove(std::filesystem::path(c.run.run_dir) / "translate.json");
  translate_train(c, log);
  CHECK(load_translator(c.run.run_dir).translate({"three one"}) == t.translate({"three one"}));

  CliResult bad = run_cli({"translate", "train", "--data", dir / "toy.tsv", "--bpe-vocab", "12"}, logs);
  CHECK(bad.status == 2);
  CHECK_THAT(bad.err, Catch::Contains("--bpe-vocab must be in [259"));
}

TEST_CASE("translate on the GPU: decoding matches the CPU, and the toy task trains", "[translate][cuda]") {
  if (!cuda_is_available()) {
    WARN("skipped: no CUDA backend in this build or no GPU visible");
    return;
  }
  ScratchDir dir("mt_gpu");
  TranslateConfig c = toy_config(dir, "thor");
  Translator t{c, BpeTokenizer::learn({"three one four", "tres uno cuatro", "nine nueve"}, 280),
               build_translation_model(c.run, 280)};
  set_thor_inference(*t.model, "ensemble");  // nothing random: both devices compute the same function
  std::vector<std::vector<int32_t>> sources;
  for (const char* s : {"three one", "four four four four nine", "one"}) sources.push_back(t.bpe.encode(s));
  DecodeOptions beam;
  beam.beam = 3;
  std::vector<std::vector<int32_t>> on_cpu = t.translate_ids(sources, beam);
  t.to(Device::cuda(0));
  CHECK(t.translate_ids(sources, beam) == on_cpu);

  c.run.device = "cuda";
  TranslateResult r = translate_train(c, std::cout);
  CHECK(r.valid_bleu.score > 50);
  CHECK(load_translator(c.run.run_dir, "cuda").bleu(load_pairs(c).valid).score > 50);
}
