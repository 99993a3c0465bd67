// BLEU (Papineni et al. 2002) computed the way sacreBLEU computes it, so that
// moegrad's translation scores compare with published ones.
//
// The defaults are sacreBLEU's (BLEU-4, uniform weights, brevity penalty, its
// "13a" tokenization, 'exp' smoothing, effective order off, case kept). Each
// segment is right-stripped of whitespace and tokenized; its n-grams (n = 1..4)
// are clipped by the largest count of that n-gram in any one of its
// references; the reference length is the one closest to the hypothesis
// length (ties: the shorter). Summed over the corpus:
//   BP = exp(1 - ref_len / sys_len) when sys_len < ref_len (0 when sys_len = 0), else 1
//   p_n = 100 * correct_n / total_n
//   BLEU = BP * exp(mean over n of log p_n), on a 0..100 scale
// with these degenerate cases: no matched n-gram of any order gives 0; an
// order with total_n = 0 ends the orders considered and its p_n stays 0, which
// makes the score 0 unless effective_order; and smoothing decides an order
// with total_n > 0 but correct_n = 0:
//   exp    (the default) the k-th such order gets p_n = 100 / (2^k * total_n)
//          (mteval-v13a's smoothing: it only ever matters when some order has
//          no match at all, so on a real test set corpus BLEU is unsmoothed);
//   none   p_n = 0, so BLEU = 0;
//   floor  p_n = 100 * smooth_value / total_n (smooth_value default 0.1);
//   add_k  for n >= 2, correct_n and total_n both get + smooth_value (default 1).
// effective_order averages over the orders up to the last one with
// total_n > 0 only (sacreBLEU recommends it for sentence-level BLEU).
//
// 13a tokenization (mteval-v13a.pl, as sacreBLEU does it): remove
// "<skipped>", join "-\n" line breaks, turn "\n" into a space, decode
// &quot; &amp; &lt; &gt; (in that order); then put spaces around every ASCII
// punctuation mark except . , ' and -; split . and , from a neighbour that is
// not an ASCII digit (so "3.5" and "1,000" stay whole); split - after a digit;
// then split on whitespace (Python's notion of it, so U+00A0, U+3000 and the
// like separate tokens too). "tokenize none" only splits on whitespace.
//
//   BleuScore s = corpus_bleu(hypotheses, references);   // one reference per hypothesis
//   std::cout << s.str() << "\n";
//   // sacreBLEU README's example (corpus_bleu_multi, two reference streams) prints
//   // BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moegrad::app {

enum class BleuTokenize { v13a, none };
enum class BleuSmooth { exp, none, floor, add_k };

struct BleuOptions {
  BleuTokenize tokenize = BleuTokenize::v13a;
  BleuSmooth smooth = BleuSmooth::exp;
  double smooth_value = -1;  // < 0: the method's default (floor 0.1, add_k 1)
  bool effective_order = false;
  int max_order = 4;
};

// A segment's (or a corpus's: they add) sufficient statistics.
struct BleuStats {
  int64_t sys_len = 0, ref_len = 0;
  std::vector<int64_t> correct, total;  // index n - 1 for n-grams of order n
};

struct BleuScore {
  double score = 0;                // 0..100
  std::vector<double> precisions;  // p_n, 0..100, after smoothing
  double bp = 0;                   // brevity penalty
  double ratio = 0;                // sys_len / ref_len (0 when ref_len is 0)
  int64_t sys_len = 0, ref_len = 0;
  std::vector<int64_t> counts, totals;  // correct_n and total_n before any add_k
  // "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
  std::string str() const;
};

// The 13a tokenization of one line, tokens joined by single spaces.
std::string tokenize_13a(const std::string& line);

// The statistics of one hypothesis against its references. References that
// are "" are skipped (a segment may have fewer); Error when none is left, or
// when max_order < 1.
BleuStats bleu_segment_stats(const std::string& hypothesis, const std::vector<std::string>& references,
                             const BleuOptions& options = {});

// The score of summed statistics, as described above. Requires
// correct.size() == total.size() == max_order.
BleuScore bleu_from_stats(const BleuStats& stats, const BleuOptions& options = {});

// Corpus BLEU with one reference per hypothesis. Requires equal sizes (Error
// naming both) and a non-empty reference for each; an empty hypothesis counts
// (it scores nothing). No hypotheses at all score 0.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& options = {});

// Corpus BLEU with several reference streams, as sacreBLEU takes them:
// reference_streams[r][i] is reference r of hypothesis i ("" when hypothesis
// i has fewer references). Requires every stream as long as hypotheses.
BleuScore corpus_bleu_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& reference_streams,
                            const BleuOptions& options = {});

// BLEU of one sentence: bleu_from_stats(bleu_segment_stats(...)). Pass
// effective_order = true for the usual sentence-level score.
BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                        const BleuOptions& options = {});

}  // namespace moegrad::app
