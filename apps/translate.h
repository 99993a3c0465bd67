// Translation, THOR's own task: `moegrad translate train|eval|decode`.
//
// The model is nn/transformer.h's EncoderDecoder with the run's family in
// every moe_every-th block of both stacks (dense, SMoE, MH-MoE or THOR; the
// Switch Transformer is smoe with top_k 1). Source and target share one
// byte-level BPE vocabulary learned from the training pairs (apps/bpe.h).
//
// Sequences. A source is its BPE ids and <eos>; the decoder reads <bos> and
// the target's ids and predicts the target's ids and <eos>. Batches are padded
// with <pad>: the encoder and cross-attention mask padded keys, and padded
// targets add no loss. Training pairs with either side over seq_len tokens
// (counting <eos>) are left out; at decoding a longer source is cut to
// seq_len, and a translation ends at seq_len tokens.
//
// Training draws `batch` pairs per step uniformly with replacement (from its
// own generator, seeded by the run's seed), and minimises per-token
// cross-entropy plus the aux losses, or THOR's two-pass loss; AdamW on the
// warm-up + cosine schedule with gradient clipping, as `moegrad train`. Every
// eval_every steps it reports the validation loss on the first eval_batches *
// batch validation pairs. At the end it saves the run and scores BLEU on
// the validation pairs (greedy).
//
// The run directory:
//   RUN_DIR/metrics.jsonl       the train and valid records, as `moegrad train`
//                               writes them (so `moegrad plot` draws the run)
//   RUN_DIR/model.safetensors   the weights
//   RUN_DIR/translate.json      config, BPE merges, step and final figures
// written at the end in that order, each atomically: translate.json exists
// only for a complete run. There is no resume (runs are minutes long).
//
// Decoding is beam search (beam 1 is greedy decoding): each step runs the
// decoder over the whole prefix (no key/value cache: simpler, and fast enough
// at these sizes), extends every live hypothesis by every token, keeps the
// 2 * beam best by summed log-probability, and moves those that end in <eos>
// to the finished list with score / length^length_penalty (fairseq's
// normalisation; length counts <eos>). A sentence is done when it has beam
// finished hypotheses or reaches the length limit (its live hypotheses then
// finish as they are); the best finished one is its translation.
//
// THOR at inference follows config.thor_inference. Every decoding step replays
// the MoE layers' random draws of the step before, so random_sequence keeps
// one expert per row (per sentence when beam is 1; per beam slot otherwise)
// for the whole translation rather than re-drawing at every step.
//
//   TranslateConfig c;  c.run.model = "thor";  c.run.run_dir = "runs/mt";
//   TranslateResult r = train_translation(c, std::cout);
//   Translator t = load_translator("runs/mt");
//   std::vector<std::string> es = t.translate({"In the beginning God created the heaven and the earth."});
#pragma once

#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/bleu.h"
#include "apps/bpe.h"
#include "apps/parallel.h"
#include "apps/run_config.h"
#include "nn/transformer.h"

namespace moegrad::app {

// The RunConfig defaults of a translation run: THOR (4 experts, alpha 5) in
// every second block of a 2 + 2 layer, 256-wide model; seq_len 128.
RunConfig translation_run_defaults();

struct TranslateConfig {
  // The corpus, model, optimizer, seed and run_dir. data is "bible"
  // (apps/parallel.h) or a file of "source<TAB>target" lines (read_tsv_pairs);
  // seq_len is the longest sentence in tokens; tokenizer and valid_fraction
  // (the LM's) are not used.
  RunConfig run = translation_run_defaults();
  int64_t bpe_vocab = 8000;
  double valid_fraction = 0.02;
  double test_fraction = 0.02;
  int64_t max_train_pairs = 0;  // 0: all; else the first n training pairs (quick runs)
  int64_t bleu_pairs = 0;       // validation pairs scored with BLEU at the end (0: all)
};

nlohmann::json to_json(const TranslateConfig& c);
// Overrides `base` with the keys of j ("run" holds a RunConfig's keys); an
// unknown key or a wrong type is an Error naming the key.
TranslateConfig translate_config_from_json(const nlohmann::json& j, TranslateConfig base = {});
// validate(run) plus: bpe_vocab in [259, 2^24], fractions
// as split_pairs takes them, max_train_pairs and bleu_pairs >= 0; Errors name the flag.
void validate(const TranslateConfig& c);
// Adds the translation flags and the run's (but the LM's --tokenizer and --valid-fraction).
void add_translate_flags(CLI::App& cmd, TranslateConfig& c);

// The corpus c.run.data names, cleaned, and split as c says.
ParallelSplit load_pairs(const TranslateConfig& c);

// Built from the run's seed: the same config gives the same weights.
std::shared_ptr<EncoderDecoder> build_translation_model(const RunConfig& c, int64_t vocab);

struct DecodeOptions {
  int64_t beam = 1;  // 1: greedy
  double length_penalty = 1.0;
  int64_t batch = 32;  // sentences decoded together
};

// A trained translation model with its vocabulary.
struct Translator {
  TranslateConfig config;
  BpeTokenizer bpe;
  std::shared_ptr<EncoderDecoder> model;
  Device device = Device::cpu();  // where the model is; batches are made there

  void to(Device device);  // moves the model

  // Target token ids (without <bos>/<eos>) of each source's ids (without <eos>).
  std::vector<std::vector<int32_t>> translate_ids(const std::vector<std::vector<int32_t>>& sources,
                                                  const DecodeOptions& options = {}) const;
  std::vector<std::string> translate(const std::vector<std::string>& sources, const DecodeOptions& options = {}) const;
  // Corpus BLEU (apps/bleu.h defaults) of translating the pairs' sources
  // against their targets; *hypotheses, when given, receives the translations.
  BleuScore bleu(const std::vector<SentencePair>& pairs, const DecodeOptions& options = {},
                 std::vector<std::string>* hypotheses = nullptr) const;
  // Mean per-token cross-entropy (nats, no label smoothing) of the targets
  // given the sources, teacher-forced, in eval mode.
  double loss(const std::vector<SentencePair>& pairs, int64_t batch) const;
};

struct TranslateResult {
  int64_t step = 0;
  int64_t train_pairs = 0;     // used for training, after leaving out the long ones
  int64_t skipped_long = 0;    // training pairs left out as longer than seq_len
  double valid_loss = 0;       // of the last validation
  double seconds = 0;          // training time (no BPE learning, no final BLEU)
  double tokens_per_s = 0;     // target tokens trained on per second
  int64_t parameters = 0;
  BleuScore valid_bleu;        // greedy, on bleu_pairs validation pairs
};

// Trains c and saves it in c.run.run_dir (which must not hold a complete run
// yet: a model.safetensors without translate.json, left by a killed save, is
// overwritten).
// Everything is checked before anything is written.
TranslateResult translate_train(const TranslateConfig& c, std::ostream& out);

// Error naming the directory when it holds no complete run or the weights do
// not match the config.
Translator load_translator(const std::string& run_dir, const std::string& device = "cpu");

}  // namespace moegrad::app
