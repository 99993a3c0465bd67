#include "apps/run_config.h"

#include <cmath>
#include <limits>
#include <set>
#include <type_traits>

#include "core/device.h"
#include "core/error.h"
#include "moe/config.h"

namespace moegrad::app {

std::string flag_of(const std::string& key) {
  std::string f = "--" + key;
  for (char& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

nlohmann::json to_json(const RunConfig& c) {
  nlohmann::json j = nlohmann::json::object();
  visit_fields(c, [&](const char* key, const auto& field, const char*) { j[key] = field; });
  return j;
}

RunConfig from_json(const nlohmann::json& j, RunConfig c) {
  MOEGRAD_CHECK(j.is_object(), "config", "expected a JSON object of settings, got ", j.type_name());
  std::set<std::string> known = read_json_fields(j, c, kVisitFields, "config");
  for (const auto& item : j.items())
    MOEGRAD_CHECK(known.count(item.key()), "config", "unknown setting '", item.key(), "'");
  return c;
}

void add_config_flags(CLI::App& cmd, RunConfig& c, const std::set<std::string>& skip) {
  add_field_flags(cmd, c, kVisitFields, skip);
}

double label_smoothing_of(const RunConfig& c) {
  if (c.label_smoothing >= 0) return c.label_smoothing;
  return c.model == "thor" ? 0.1 : 0.0;
}

void validate(const RunConfig& c) {
  auto one_of = [](const char* key, const std::string& v, std::initializer_list<const char*> options) {
    for (const char* o : options)
      if (v == o) return;
    std::string list;
    for (const char* o : options) list += std::string(list.empty() ? "" : " | ") + o;
    MOEGRAD_CHECK(false, "config", flag_of(key), " must be one of ", list, ", got '", v, "'");
  };
  auto at_least = [](const char* key, int64_t v, int64_t lo) {
    MOEGRAD_CHECK(v >= lo, "config", flag_of(key), " must be >= ", lo, ", got ", v);
  };
  // Sizes stop at 2^20, where no run this toolkit can train comes near:
  // past it their products (a batch's activations, the parameter counts
  // mhmoe_v1 matches) overflow int64 before an allocation could fail cleanly.
  constexpr int64_t kMaxSize = int64_t(1) << 20;
  auto size_in = [&](const char* key, int64_t v, int64_t lo) {
    at_least(key, v, lo);
    MOEGRAD_CHECK(v <= kMaxSize, "config", flag_of(key), " must be <= ", kMaxSize, ", got ", v);
  };
  auto in_range = [](const char* key, double v, double lo, double hi) {
    MOEGRAD_CHECK(std::isfinite(v) && v >= lo && v <= hi, "config", flag_of(key), " must be in [", lo, ", ", hi,
                  "], got ", v);
  };
  one_of("tokenizer", c.tokenizer, {"byte", "char", "word"});
  one_of("model", c.model, {"dense", "smoe", "mhmoe", "thor"});
  one_of("gate", c.gate, {"linear", "xmoe"});
  one_of("second_expert", c.second_expert, {"all", "sampling", "random"});
  one_of("thor_inference", c.thor_inference, {"random_token", "random_sequence", "fixed", "ensemble"});
  one_of("nonfinite", c.nonfinite, {"stop", "skip"});
  try {
    parse_device(c.device);  // well formed; whether this machine has it is the trainer's check (usable_device)
  } catch (const Error&) {
    MOEGRAD_CHECK(false, "config", "--device must be cpu or cuda[:N], got '", c.device, "'");
  }
  MOEGRAD_CHECK(!c.data.empty(), "config", "--data must name a corpus or a file");
  MOEGRAD_CHECK(!c.run_dir.empty(), "config", "--run-dir must not be empty");
  in_range("valid_fraction", c.valid_fraction, 1e-6, 0.5);
  size_in("dim", c.dim, 1);
  size_in("layers", c.layers, 1);
  size_in("attn_heads", c.attn_heads, 1);
  MOEGRAD_CHECK(c.dim % c.attn_heads == 0, "config", "--attn-heads ", c.attn_heads, " must divide --dim ", c.dim);
  size_in("seq_len", c.seq_len, 1);
  size_in("ffn_hidden", c.ffn_hidden, 1);
  in_range("dropout", c.dropout, 0, 0.99);
  at_least("steps", c.steps, 1);
  size_in("batch", c.batch, 1);
  in_range("lr", c.lr, 0, 10);
  in_range("min_lr", c.min_lr, 0, c.lr);
  at_least("warmup", c.warmup, 0);
  MOEGRAD_CHECK(c.warmup <= c.steps, "config", "--warmup ", c.warmup, " must not exceed --steps ", c.steps);
  in_range("weight_decay", c.weight_decay, 0, 10);
  in_range("clip", c.clip, 0, 1e9);
  at_least("log_every", c.log_every, 1);
  at_least("eval_every", c.eval_every, 0);
  at_least("eval_batches", c.eval_batches, 1);
  at_least("checkpoint_every", c.checkpoint_every, 0);
  at_least("keep_checkpoints", c.keep_checkpoints, 1);
  in_range("label_smoothing", c.label_smoothing, -1, 1);
  in_range("thor_alpha", c.thor_alpha, 0, 1e6);
  if (c.model == "dense") return;
  size_in("experts", c.experts, 1);
  at_least("moe_every", c.moe_every, 1);
  size_in("expert_hidden", c.expert_hidden, 0);
  if (c.model == "thor") return;
  MOEGRAD_CHECK(c.top_k >= 1 && c.top_k <= c.experts, "config", "--top-k ", c.top_k, " must be in [1, --experts ",
                c.experts, "]");
  MOEGRAD_CHECK(c.second_expert == "all" || c.top_k == 2, "config", "--second-expert ", c.second_expert,
                " needs --top-k 2, got ", c.top_k);
  in_range("capacity_factor", c.capacity_factor, 0, 1e6);
  in_range("eval_capacity_factor", c.eval_capacity_factor, 0, 1e6);
  in_range("aux_weight", c.aux_weight, 0, 1e6);
  in_range("z_weight", c.z_weight, 0, 1e6);
  if (c.model == "mhmoe") {
    size_in("moe_heads", c.moe_heads, 1);
    MOEGRAD_CHECK(c.dim % c.moe_heads == 0, "config", "--moe-heads ", c.moe_heads, " must divide --dim ", c.dim);
  }
}

}  // namespace moegrad::app
