// `moegrad compare`: the model families trained on the same data, steps and
// seeds, in one table. The evidence behind docs/RESULTS.md.
//
// Two suites, each a list of arms (configs that differ only where the arm says):
//   lm         a byte-level LM on one corpus: dense; SMoE (X-MoE gate, top-2);
//              MH-MoE v1 (parameter-matched, h = 4); MH-MoE v2 (FLOPs-matched,
//              h = 4); v1 without its head and merge layers (the split-only
//              ablation); and the heads sweep h = 1, 2, 8 of v1 (h = 1 is the
//              "SMoE + head/merge layers only" ablation). Reported: validation
//              loss and perplexity, expert activation per unit and per token
//              (moe/metrics.h; mean over MoE layers), tokens/s, parameters and
//              forward FLOPs per token (apps/model.h), and the run's wall
//              seconds (training and evaluation: what the suite costs).
//   multilingual  the lm suite's arms on the mix of nine languages of
//              apps/fortunes.h (--data: the fortune files' root), with each
//              language's validation loss as a column of its own.
//   translate  English -> Spanish on the Bible corpus: dense; Switch (SMoE,
//              top-1, aux 0.01); THOR (alpha 5) and THOR with alpha 0 (random
//              experts without the consistency loss), same experts. Reported:
//              validation loss, test BLEU greedy and with beam 4, and for THOR
//              test BLEU under each inference mode; target tokens/s, parameters,
//              and the run's wall seconds (training, evaluation and BLEU).
//              2000 steps of translation_run_defaults' model; BLEU on the
//              first 200 validation and test pairs (--bleu-pairs N: the first N).
//
// Every (arm, seed) runs in OUT/SUITE/ARM/seed-N and appends one JSON line to
// OUT/SUITE/results.jsonl when it is done. A second call skips what is done
// (a killed comparison continues where it stopped; a run directory without
// its line is cleared and run again), so arms and seeds can also run in
// parallel processes (--arms, --seed) into one OUT: each line is one append.
// Then the table of every line in the file is written to OUT/SUITE/table.md
// and printed: each figure as mean ± standard deviation over seeds (sample
// deviation; the mean alone with one seed; a "seeds" column counts them).
// With gnuplot installed, OUT/SUITE/loss.png draws each arm's loss, averaged
// over its seeds, against step: the training loss of the LM suites, and
// translate's validation loss (THOR's training loss sums two passes and the
// consistency term). Without gnuplot the table comes alone, with a line
// saying why.
//
// --device cuda[:N] trains and evaluates every run on that GPU.
//
// --quick shrinks every run to seconds on a CPU (a test runs it); the
// default size is what docs/RESULTS.md reports.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "apps/run_config.h"
#include "apps/translate.h"

namespace moegrad::app {

struct CompareArm {
  std::string name;  // "smoe", "mhmoe-v2", "thor-a0", ...
  std::string what;  // the table's legend
  RunConfig lm;      // the lm suite's run (seed and run_dir are set per run)
  TranslateConfig mt;  // the translate suite's
};

struct CompareOptions {
  std::string suite = "lm";       // lm | multilingual | translate
  std::vector<std::string> arms;  // empty: every arm of the suite
  int64_t seeds = 3;              // seeds 1..n
  int64_t seed = 0;               // > 0: this seed only (one process per seed runs them in parallel)
  bool table_only = false;        // run nothing: the table of what is done
  bool quick = false;
  int64_t steps = 0;         // > 0: overrides the size's steps
  std::string data;  // non-empty: overrides the suite's corpus (lm: a text; multilingual: the fortunes root;
                     // translate: bible or a TSV file)
  std::string device = "cpu";  // where every run trains and is evaluated: cpu or cuda[:N]
  int64_t bleu_pairs = 0;      // translate, > 0: BLEU on the first n validation and test pairs (else 200)
  std::string out_dir = "runs/compare";
};

// The arms of a suite at its default or quick size. Error naming an unknown suite.
std::vector<CompareArm> compare_arms(const std::string& suite, bool quick);

// Runs what is not done yet and returns the table (markdown), also written
// to OUT/SUITE/table.md and printed to out with each run's progress. Runs'
// own logs go to their directories' train.log. Errors name the flag.
std::string run_compare(const CompareOptions& options, std::ostream& out);

}  // namespace moegrad::app
