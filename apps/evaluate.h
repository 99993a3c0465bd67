// Validation and sampling of a trained language model.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/data.h"
#include "moe/metrics.h"
#include "nn/transformer.h"

namespace moegrad::app {

// Puts a model in eval mode for a scope, then back as it was.
struct EvalMode {
  explicit EvalMode(Module& m) : m(m), was(m.is_training()) { m.eval(); }
  ~EvalMode() { m.train(was); }
  Module& m;
  bool was;
};

struct EvalResult {
  double loss = 0;  // mean next-token cross-entropy (nats), no label smoothing
  double ppl = 0;   // exp(loss)
  int64_t tokens = 0;
  std::vector<RoutingStats> layers;  // per MoE layer, merged over the batches
};

// Runs the model in eval mode without a graph over (x, y) batches; restores
// the model's training mode afterwards.
EvalResult evaluate(DecoderLM& model, const std::vector<std::pair<Tensor, Tensor>>& batches);

// evaluate() of a checkpoint's model: on text_file when given, else on the
// validation split of its run's corpus (from the default data directory);
// `batches` of them (0: the run's eval_batches), on `device` (cpu | cuda[:N];
// an Error naming it when this machine has no such device).
EvalResult evaluate_checkpoint(const Checkpoint& ck, const std::string& text_file = "", int64_t batches = 0,
                               const std::string& device = "cpu");

// Per-layer routing figures as JSON: tokens per expert, dropped fraction,
// entropy, load imbalance, and expert activation with the threshold half the
// uniform share (k / E / 2 of units; the per-token form is the same count
// over tokens, see moe/metrics.h).
nlohmann::json layers_json(const std::vector<RoutingStats>& layers);

struct GenerateOptions {
  int64_t max_tokens = 200;
  double temperature = 0.8;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  uint64_t seed = 1;
};
// The prompt's continuation (without the prompt), sampled token by token
// from the last max_len tokens of context.
std::string generate(DecoderLM& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& options);

}  // namespace moegrad::app
