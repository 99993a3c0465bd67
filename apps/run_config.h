// The settings of a training run: one struct, read from flags or from a JSON
// file, written next to the run's outputs as config.json.
//
// Every setting is listed once, in visit_fields(): its JSON key, its flag
// (the key with '-' for '_'), and its help text all come from that list, so
// flags, files and the saved config cannot drift apart.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include <set>
#include <limits>
#include <string>
#include <type_traits>

namespace moegrad::app {

struct RunConfig {
  // data
  std::string data = "moby-dick";  // a corpus name (moby-dick, sotu) or a text file's path
  std::string tokenizer = "byte";  // byte | char | word
  double valid_fraction = 0.05;
  // model
  std::string model = "mhmoe";  // dense | smoe | mhmoe | thor
  int64_t dim = 128;
  int64_t layers = 4;
  int64_t attn_heads = 4;
  int64_t seq_len = 128;
  int64_t ffn_hidden = 512;  // the dense FFN's hidden size (and SMoE/THOR experts' by default)
  double dropout = 0.0;
  // MoE layers
  int64_t experts = 8;
  int64_t top_k = 2;
  int64_t moe_every = 2;              // an MoE layer in every n-th block
  int64_t moe_heads = 4;              // MH-MoE sub-tokens per token
  int64_t expert_hidden = 0;          // 0: ffn_hidden for SMoE/THOR, parameter-matched (mhmoe_v1) for MH-MoE
  std::string gate = "linear";        // linear | xmoe
  std::string second_expert = "all";  // all | sampling | random
  bool renormalize = false;
  double capacity_factor = 1.25;  // 0 = dropless
  double eval_capacity_factor = 2.0;
  double aux_weight = 0.01;
  double z_weight = 0.0;
  bool subtoken_residual = false;
  bool mhmoe_no_head_merge = false;  // the MH-MoE ablation without multi-head and merge layers
  // THOR
  double thor_alpha = 5.0;
  std::string thor_inference = "random_sequence";  // random_token | random_sequence | fixed | ensemble
  double label_smoothing = -1;                     // -1: 0.1 for THOR (as the paper), 0 otherwise
  // training
  int64_t steps = 300;
  int64_t batch = 16;
  double lr = 2e-3;
  double min_lr = 2e-4;
  int64_t warmup = 50;
  double weight_decay = 0.1;
  double clip = 1.0;
  uint64_t seed = 1;
  int64_t log_every = 10;
  int64_t eval_every = 100;
  int64_t eval_batches = 8;
  int64_t checkpoint_every = 200;
  int64_t keep_checkpoints = 3;
  std::string nonfinite = "stop";  // stop | skip: what a NaN or Inf in the loss or a gradient does
  std::string device = "cpu";      // where the model trains: cpu | cuda[:N]; like nonfinite, not part of the model
  std::string run_dir = "runs/default";
};

// Calls f(key, field, help) for every setting, in a fixed order.
template <class C, class F>
void visit_fields(C& c, F&& f) {
  f("data", c.data,
    "corpus name (moby-dick, sotu; translate: bible) or path of a text file (translate: source<TAB>target lines)");
  f("tokenizer", c.tokenizer, "byte | char | word");
  f("valid_fraction", c.valid_fraction, "share of the corpus (its end) held out for validation");
  f("model", c.model, "dense | smoe | mhmoe | thor");
  f("dim", c.dim, "model width");
  f("layers", c.layers, "transformer blocks");
  f("attn_heads", c.attn_heads, "attention heads");
  f("seq_len", c.seq_len, "tokens per training window");
  f("ffn_hidden", c.ffn_hidden, "hidden size of the dense FFN");
  f("dropout", c.dropout, "dropout probability");
  f("experts", c.experts, "experts per MoE layer");
  f("top_k", c.top_k, "experts per token (per sub-token for MH-MoE)");
  f("moe_every", c.moe_every, "an MoE layer in every n-th block");
  f("moe_heads", c.moe_heads, "MH-MoE: sub-tokens per token");
  f("expert_hidden", c.expert_hidden, "expert FFN hidden size (0: ffn_hidden; MH-MoE: parameter-matched)");
  f("gate", c.gate, "router gate: linear | xmoe");
  f("second_expert", c.second_expert, "top-2 second-expert policy: all | sampling | random");
  f("renormalize", c.renormalize, "renormalize each token's top-k gates to sum to 1");
  f("capacity_factor", c.capacity_factor, "expert capacity factor in training (0: dropless)");
  f("eval_capacity_factor", c.eval_capacity_factor, "expert capacity factor in evaluation (0: dropless)");
  f("aux_weight", c.aux_weight, "load-balancing loss weight");
  f("z_weight", c.z_weight, "router z-loss weight");
  f("subtoken_residual", c.subtoken_residual, "MH-MoE: add each sub-token to its output (the paper's Eq. 6)");
  f("mhmoe_no_head_merge", c.mhmoe_no_head_merge,
    "MH-MoE ablation: no multi-head and merge layers (sub-tokens are slices of the token)");
  f("thor_alpha", c.thor_alpha, "THOR: weight of the consistency (symmetric KL) loss");
  f("thor_inference", c.thor_inference, "THOR at eval: random_token | random_sequence | fixed | ensemble");
  f("label_smoothing", c.label_smoothing, "label smoothing (-1: 0.1 for THOR, 0 otherwise)");
  f("steps", c.steps, "optimizer steps");
  f("batch", c.batch, "windows per step");
  f("lr", c.lr, "peak learning rate (AdamW)");
  f("min_lr", c.min_lr, "learning rate at the end of the cosine decay");
  f("warmup", c.warmup, "linear warm-up steps");
  f("weight_decay", c.weight_decay, "AdamW weight decay");
  f("clip", c.clip, "gradient-norm clipping (0: off)");
  f("seed", c.seed, "seed of weights, data windows, dropout and expert draws");
  f("log_every", c.log_every, "steps between metric lines");
  f("eval_every", c.eval_every, "steps between validations (0: only at the end)");
  f("eval_batches", c.eval_batches, "batches per validation");
  f("checkpoint_every", c.checkpoint_every, "steps between checkpoints (0: only at the end)");
  f("keep_checkpoints", c.keep_checkpoints, "checkpoints kept (the oldest are deleted)");
  f("nonfinite", c.nonfinite,
    "on a NaN/Inf loss or gradient: stop (exit with an error naming the step and parameter) | skip (drop the "
    "update, retry the step on the next batch; 10 in a row stop)");
  f("device", c.device, "where the model trains: cpu, or cuda[:N] in a CUDA build on a GPU machine");
  f("run_dir", c.run_dir, "directory of the run's outputs");
}

// visit_fields as a value, for the templates below.
inline constexpr auto kVisitFields = [](auto& c, auto&& f) { visit_fields(c, f); };

// The machinery of a settings struct whose visit(c, f) calls f(key, field,
// help) for each field (RunConfig's visit_fields; TranslateConfig has one too).

// "--" + key, with '-' for '_'.
std::string flag_of(const std::string& key);

// Sets each field whose key j holds, after checking the value's type (and for
// signed integers its range): Error "<op>: setting '<key>' has the wrong
// type: ..." otherwise. Returns every key of the struct, so the caller can
// reject the keys that are not. j must be an object.
template <class C, class Visit>
std::set<std::string> read_json_fields(const nlohmann::json& j, C& c, Visit&& visit, const char* op) {
  std::set<std::string> known;
  visit(c, [&](const char* key, auto& field, const char*) {
    known.insert(key);
    if (!j.contains(key)) return;
    using T = std::decay_t<decltype(field)>;
    const nlohmann::json& v = j.at(key);
    bool ok = std::is_same_v<T, std::string> ? v.is_string()
              : std::is_same_v<T, bool>      ? v.is_boolean()
              : std::is_floating_point_v<T>  ? v.is_number()
              : std::is_unsigned_v<T>        ? v.is_number_unsigned()
                                             : v.is_number_integer();
    MOEGRAD_CHECK(ok, op, "setting '", key, "' has the wrong type: ", v.dump());
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)  // get<T> would wrap 2^64 - 1 to -1
      MOEGRAD_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max()), op,
                    "setting '", key, "' = ", v.dump(), " is out of range");
    field = v.get<T>();
  });
  return known;
}

// Adds one flag per field (flag_of(key)) to cmd, writing into c; none for the keys in skip.
template <class C, class Visit>
void add_field_flags(CLI::App& cmd, C& c, Visit&& visit, const std::set<std::string>& skip = {}) {
  visit(c, [&](const char* key, auto& field, const char* help) {
    using T = std::decay_t<decltype(field)>;
    if (skip.count(key)) return;
    if constexpr (std::is_same_v<T, bool>) {
      cmd.add_flag(flag_of(key), field, help);
    } else {
      cmd.add_option(flag_of(key), field, help)->capture_default_str();
    }
  });
}

nlohmann::json to_json(const RunConfig& c);
// Overrides `base` with the keys of j; an unknown key or a value of the wrong
// type is an error naming the key.
RunConfig from_json(const nlohmann::json& j, RunConfig base = {});
// Throws moegrad::Error naming the flag and the value when settings cannot
// work together (heads not dividing dim, top_k > experts, ...) or a size
// (dim, layers, heads, seq_len, batch, experts, hidden sizes) is over 2^20.
void validate(const RunConfig& c);
// Adds one flag per setting to `cmd`, writing into c; none for the keys in skip.
void add_config_flags(CLI::App& cmd, RunConfig& c, const std::set<std::string>& skip = {});

// The label smoothing the run uses (resolving -1).
double label_smoothing_of(const RunConfig& c);

}  // namespace moegrad::app
