// BLEU as sacreBLEU computes it (apps/bleu.h): the 13a tokenizer rule by
// rule, statistics and scores worked out by hand, and the values sacreBLEU's
// own test suite asserts (mjpost/sacrebleu, test/test_bleu.py and
// test/test_sentence_bleu.py) and its README prints. sacreBLEU itself could
// not be run to make more: it is not packaged in Debian 12 and PyPI is out of
// reach from these machines, so every golden value below is quoted from those
// files, with its tolerance there.
#include <cmath>

#include "apps/bleu.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;

namespace {

BleuOptions with(BleuSmooth smooth, double value = -1, BleuTokenize tok = BleuTokenize::v13a, bool eff = false) {
  BleuOptions o;
  o.smooth = smooth;
  o.smooth_value = value;
  o.tokenize = tok;
  o.effective_order = eff;
  return o;
}

}  // namespace

TEST_CASE("13a tokenization splits punctuation like mteval-v13a", "[bleu]") {
  CHECK(tokenize_13a("Hello, world!") == "Hello , world !");
  CHECK(tokenize_13a("3.5 and 1,000 items.") == "3.5 and 1,000 items .");
  CHECK(tokenize_13a("It's a well-known fact") == "It's a well-known fact");  // ' and - between letters stay
  CHECK(tokenize_13a("pages 10-20") == "pages 10 - 20");                      // - after a digit splits
  CHECK(tokenize_13a("e.g. this") == "e . g . this");
  CHECK(tokenize_13a("1.5.") == "1.5 .");
  CHECK(tokenize_13a("a/b (c) [d] {e} \"f\" $5 #1 @x ~y ^z_w `q` |p; q: r? s& t* u+ <v> =") ==
        "a / b ( c ) [ d ] { e } \" f \" $ 5 # 1 @ x ~ y ^ z _ w ` q ` | p ; q : r ? s & t * u + < v > =");
  CHECK(tokenize_13a("&quot;Hi&quot; &amp; &lt;b&gt;") == "\" Hi \" & < b >");
  CHECK(tokenize_13a("&amp;lt;") == "<");  // sequential replaces, as sacreBLEU does them
  CHECK(tokenize_13a("x<skipped>y") == "xy");
  CHECK(tokenize_13a("hyphen-\nated line\nbreak") == "hyphenated line break");
  CHECK(tokenize_13a("  spaced \t out  ") == "spaced out");
  CHECK(tokenize_13a("a\xC2\xA0"
                     "b\xE3\x80\x80"
                     "c") == "a b c");  // U+00A0 and U+3000 are whitespace to Python
  CHECK(tokenize_13a("Jehov\xC3\xA1, cu\xC3\xA1nto.") == "Jehov\xC3\xA1 , cu\xC3\xA1nto .");
  CHECK(tokenize_13a("\xC2\xBF"
                     "Con qu\xC3\xA9?") ==
        "\xC2\xBF"
        "Con qu\xC3\xA9 ?");  // only ASCII punctuation splits
  CHECK(tokenize_13a("").empty());
}

TEST_CASE("bleu statistics clip by the best reference and pick the closest reference length", "[bleu]") {
  // "the" is clipped to 2 (the most any one reference holds); "the the" to 1.
  // Reference lengths 2 and 4 are both 1 away from 3: the shorter one counts.
  const BleuStats s = bleu_segment_stats("the the the", {"the cat", "the the mat on"});
  CHECK(s.correct == std::vector<int64_t>{2, 1, 0, 0});
  CHECK(s.total == std::vector<int64_t>{3, 2, 1, 0});
  CHECK(s.sys_len == 3);
  CHECK(s.ref_len == 2);
  // An empty reference is skipped; no reference at all is an error.
  CHECK(bleu_segment_stats("a b", {"", "a b c"}).ref_len == 3);
  require_error([] { bleu_segment_stats("a", {"", ""}); }, "no non-empty reference");
  // The hypothesis is right-stripped and tokenized like the references.
  const BleuStats t = bleu_segment_stats("Hello, world!  \n", {"Hello , world !"});
  CHECK(t.correct == std::vector<int64_t>{4, 3, 2, 1});
  CHECK(t.total == t.correct);
}

TEST_CASE("corpus bleu matches scores worked out by hand", "[bleu]") {
  // Identical text scores 100.
  CHECK(corpus_bleu({"The cat sat on the mat."}, {"The cat sat on the mat."}).score == Approx(100.0));
  // 1-grams 5/6 (one "the" too many), 2-grams 3/5, 3-grams 2/4, 4-grams 1/3, equal lengths.
  const BleuScore s = corpus_bleu({"the cat sat on the mat"}, {"the cat sat on a mat"});
  CHECK(s.score == Approx(100 * std::pow(5.0 / 6 * 3.0 / 5 * 2.0 / 4 * 1.0 / 3, 0.25)).epsilon(1e-12));
  CHECK(s.score == Approx(53.7284965911771).epsilon(1e-12));
  CHECK(s.counts == std::vector<int64_t>{5, 3, 2, 1});
  CHECK(s.totals == std::vector<int64_t>{6, 5, 4, 3});
  CHECK(s.bp == 1.0);
  CHECK(s.precisions[0] == Approx(100.0 * 5 / 6));
  CHECK(s.str() == "BLEU = 53.73 83.3/60.0/50.0/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)");
  // The corpus sums statistics before scoring (it does not average sentence scores):
  // adding "hello there" (2/2, 1/1, 0/0, 0/0) gives 7/8, 4/6, 2/4, 1/3.
  const BleuScore two = corpus_bleu({"the cat sat on the mat", "hello there"}, {"the cat sat on a mat", "hello there"});
  CHECK(two.score == Approx(100 * std::pow(7.0 / 8 * 4.0 / 6 * 2.0 / 4 * 1.0 / 3, 0.25)).epsilon(1e-12));
  // Too short: 1-grams 2/2, 2-grams 1/1, no 3-grams at all, so the score is 0
  // without effective order; with it, BP = exp(1 - 6/2) times 100.
  CHECK(corpus_bleu({"the cat"}, {"the cat sat on the mat"}).score == 0.0);
  const BleuScore eff =
      corpus_bleu({"the cat"}, {"the cat sat on the mat"}, with(BleuSmooth::exp, -1, BleuTokenize::v13a, true));
  CHECK(eff.bp == Approx(std::exp(-2.0)));
  CHECK(eff.score == Approx(100 * std::exp(-2.0)).epsilon(1e-12));
  // exp smoothing: 3-grams 0/2 and 4-grams 0/1 become 100/(2*2) and 100/(4*1).
  const BleuScore smoothed = corpus_bleu({"a b c d"}, {"a b x d"});
  CHECK(smoothed.precisions[2] == Approx(25.0));
  CHECK(smoothed.precisions[3] == Approx(25.0));
  CHECK(smoothed.score == Approx(100 * std::pow(0.75 * (1.0 / 3) * 0.25 * 0.25, 0.25)).epsilon(1e-12));
  CHECK(corpus_bleu({"a b c d"}, {"a b x d"}, with(BleuSmooth::none)).score == 0.0);
  // floor: p_n = 100 * 0.1 / total_n for an order with no match.
  CHECK(corpus_bleu({"a b c d"}, {"a b x d"}, with(BleuSmooth::floor)).score ==
        Approx(100 * std::pow(0.75 * (1.0 / 3) * (0.1 / 2) * (0.1 / 1), 0.25)).epsilon(1e-12));
  // add-k (k = 1) for orders 2..4: (1+1)/(3+1), (0+1)/(2+1), (0+1)/(1+1).
  CHECK(corpus_bleu({"a b c d"}, {"a b x d"}, with(BleuSmooth::add_k)).score ==
        Approx(100 * std::pow(0.75 * (2.0 / 4) * (1.0 / 3) * (1.0 / 2), 0.25)).epsilon(1e-12));
  // Brevity: 4 hypothesis tokens against 5 reference tokens.
  const BleuScore brief = corpus_bleu({"a b c d"}, {"a b c d e"});
  CHECK(brief.bp == Approx(std::exp(1 - 5.0 / 4)));
  CHECK(brief.score == Approx(100 * std::exp(1 - 5.0 / 4)).epsilon(1e-12));
  CHECK(brief.ratio == Approx(0.8));
  // Longer than the reference: no penalty.
  CHECK(corpus_bleu({"a b c d e f"}, {"a b c d e"}).bp == 1.0);
  // 13a matters: punctuation glued to words matches once split.
  CHECK(corpus_bleu({"Hello, world!"}, {"Hello , world !"}).score == Approx(100.0));
  CHECK(corpus_bleu({"Hello, world!"}, {"Hello , world !"}, with(BleuSmooth::exp, -1, BleuTokenize::none)).score < 1.0);
  // No match of any order scores 0, whatever the smoothing; so does an empty corpus.
  CHECK(corpus_bleu({"x y z w"}, {"a b c d"}).score == 0.0);
  CHECK(corpus_bleu({}, {}).score == 0.0);
  require_error([] { corpus_bleu({"a", "b"}, {"a"}); }, "2 hypotheses but reference stream 0 has 1 segments");
  require_error([] { corpus_bleu({"a", "b"}, {"a", ""}); }, "segment 1");
}

TEST_CASE("corpus bleu reproduces sacreBLEU's own test values", "[bleu]") {
  // test/test_bleu.py, test_corpus_bleu_cases: the README example, two reference streams.
  const std::vector<std::string> hyps = {"The dog bit the man.", "It wasn't surprising.",
                                         "The man had just bitten him."};
  const std::vector<std::vector<std::string>> refs = {
      {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
      {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};
  const BleuScore def = corpus_bleu_multi(hyps, refs);
  CHECK(std::abs(def.score - 48.530827) < 1e-6);
  // sacreBLEU's README prints this corpus's score so (signature
  // nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp).
  CHECK(def.str() == "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
  CHECK(std::abs(corpus_bleu_multi(hyps, refs, with(BleuSmooth::none)).score - 48.530827) < 1e-6);
  CHECK(std::abs(corpus_bleu_multi(hyps, refs, with(BleuSmooth::exp, -1, BleuTokenize::none)).score - 49.1919566) <
        1e-6);
  CHECK(corpus_bleu_multi({"", "", ""}, refs).score == 0.0);  // empty hypotheses count, and score nothing

  // test_raw_bleu_cases: raw_corpus_bleu is tokenize none, floor 0.01, effective order.
  CHECK(corpus_bleu({"this is a fest"}, {"this is a test"}, with(BleuSmooth::floor, 0.01, BleuTokenize::none, true))
            .score == Approx(100 * 0.223606797749979).epsilon(1e-10));
  // test_scoring: BLEU of given statistics.
  BleuStats st;
  st.correct = {9, 7, 5, 3};
  st.total = {10, 8, 6, 4};
  st.sys_len = st.ref_len = 11;
  CHECK(bleu_from_stats(st).score == Approx(83.75922397).epsilon(1e-9));
}

TEST_CASE("sentence bleu reproduces sacreBLEU's sentence-level test values", "[bleu]") {
  // test/test_sentence_bleu.py (sacreBLEU issue #98), effective order on, EPSILON 1e-3.
  const std::string ref = "produc\xC5\xA3ia de zah\xC4\x83r brut se exprim\xC4\x83 \xC3\xAEn zah\xC4\x83r alb;";
  const std::string sys =
      "Produc\xC8\x9Bia de zah\xC4\x83r prim\xC4\x83 va fi exprimat\xC4\x83 \xC3\xAEn ceea ce "
      "prive\xC8\x99te zah\xC4\x83rul alb;";
  const auto score = [&](BleuSmooth smooth, double value, BleuTokenize tok) {
    return sentence_bleu(sys, {ref}, with(smooth, value, tok, true)).score;
  };
  CHECK(std::abs(score(BleuSmooth::exp, -1, BleuTokenize::v13a) - 8.493) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::none, -1, BleuTokenize::v13a) - 0.0) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::floor, -1, BleuTokenize::v13a) - 4.51688) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::floor, 0.1, BleuTokenize::v13a) - 4.51688) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::floor, 0.5, BleuTokenize::v13a) - 10.10) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::add_k, -1, BleuTokenize::v13a) - 14.882) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::add_k, 1, BleuTokenize::v13a) - 14.882) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::add_k, 2, BleuTokenize::v13a) - 21.389) < 1e-3);
  CHECK(std::abs(score(BleuSmooth::exp, -1, BleuTokenize::none) - 7.347) < 1e-3);
  // Issue #141: no match at all is 0 under every smoothing.
  for (BleuSmooth sm : {BleuSmooth::exp, BleuSmooth::none, BleuSmooth::floor, BleuSmooth::add_k})
    CHECK(sentence_bleu("this is a cat", {"okay thanks"}, with(sm, -1, BleuTokenize::v13a, true)).score == 0.0);
}
