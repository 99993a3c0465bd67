#include "apps/evaluate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "apps/model.h"
#include "core/copy.h"
#include "core/device.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/reduce.h"
#include "moe/layer.h"
#include "nn/loss.h"

namespace moegrad::app {

EvalResult evaluate(DecoderLM& model, const std::vector<std::pair<Tensor, Tensor>>& batches) {
  MOEGRAD_CHECK(!batches.empty(), "evaluate", "no batches: the validation text is shorter than one window");
  EvalMode mode(model);
  NoGradGuard no_grad;
  EvalResult r;
  double total = 0;
  for (const auto& [x, y] : batches) {
    CrossEntropyOptions ce;
    ce.reduction = Reduction::sum;
    total += cast(cross_entropy(model.forward(x), y, ce), DType::f64).item<double>();
    r.tokens += y.numel();
    std::vector<RoutingStats> now = routing_stats(model);
    if (r.layers.empty()) r.layers.resize(now.size());
    for (size_t i = 0; i < now.size(); ++i) r.layers[i].merge(now[i]);
  }
  r.loss = total / double(r.tokens);
  r.ppl = std::exp(r.loss);
  return r;
}

EvalResult evaluate_checkpoint(const Checkpoint& ck, const std::string& text_file, int64_t batches,
                               const std::string& device) {
  const RunConfig& c = ck.config;
  const Device d = usable_device(device, "eval");
  std::shared_ptr<DecoderLM> model = build_model(c, ck.tokenizer.vocab_size());
  model->load_state_dict(ck.model);
  model->to(d);
  const std::string text = read_text_file(text_file.empty() ? corpus_path(c.data, default_data_dir()) : text_file);
  std::vector<int32_t> ids = ck.tokenizer.encode(text);
  if (text_file.empty()) ids = split_tokens(ids, c.valid_fraction, c.seq_len).valid;
  std::vector<std::pair<Tensor, Tensor>> on_device;
  for (const auto& [x, y] : eval_batches(ids, c.batch, c.seq_len, batches > 0 ? batches : c.eval_batches))
    on_device.emplace_back(x.to(d), y.to(d));
  return evaluate(*model, on_device);
}

nlohmann::json layers_json(const std::vector<RoutingStats>& layers) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const RoutingStats& s = layers[i];
    int64_t choices = std::accumulate(s.routed.begin(), s.routed.end(), int64_t(0));
    double k = s.units > 0 ? double(choices) / double(s.units) : 0;
    double threshold = s.num_experts() > 0 ? 0.5 * k / double(s.num_experts()) : 0;
    out.push_back({{"layer", i},
                   {"tokens_per_expert", s.routed},
                   {"kept_per_expert", s.kept},
                   {"dropped_fraction", s.dropped_fraction()},
                   {"entropy", s.mean_entropy()},
                   {"load_imbalance", s.load_imbalance()},
                   {"activation_threshold", threshold},
                   {"activation_per_unit", expert_activation({s}, threshold, RoutingStats::Norm::per_unit)},
                   {"activation_per_token", expert_activation({s}, threshold, RoutingStats::Norm::per_token)}});
  }
  return out;
}

std::string generate(DecoderLM& model, const Tokenizer& tokenizer, const std::string& prompt,
                     const GenerateOptions& o) {
  MOEGRAD_CHECK(o.max_tokens >= 0, "generate", "max tokens must be >= 0, got ", o.max_tokens);
  MOEGRAD_CHECK(std::isfinite(o.temperature) && o.temperature >= 0, "generate", "temperature must be >= 0, got ",
                o.temperature);
  MOEGRAD_CHECK(o.top_k >= 0, "generate", "top-k must be >= 0, got ", o.top_k);
  EvalMode mode(model);
  NoGradGuard no_grad;
  std::vector<int32_t> ids = tokenizer.encode(prompt.empty() ? std::string("\n") : prompt);
  if (ids.empty()) ids.push_back(0);
  const size_t prompt_len = ids.size();
  Generator gen(o.seed);
  const int64_t V = model.config.vocab;
  for (int64_t t = 0; t < o.max_tokens; ++t) {
    size_t start = ids.size() > size_t(model.config.max_len) ? ids.size() - size_t(model.config.max_len) : 0;
    std::vector<int64_t> ctx(ids.begin() + long(start), ids.end());
    Tensor logits = model.forward(from_vector(ctx, {1, int64_t(ctx.size())})).select(1, int64_t(ctx.size()) - 1);
    std::vector<double> l = cast(logits.reshape({V}), DType::f64).to_vector<double>();
    int64_t next = int64_t(std::max_element(l.begin(), l.end()) - l.begin());
    if (o.temperature > 0) {
      // Keep the top k, softmax at the temperature, draw one.
      std::vector<int64_t> order(static_cast<size_t>(V));
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return l[size_t(a)] > l[size_t(b)]; });
      size_t keep = o.top_k > 0 ? size_t(std::min(o.top_k, V)) : size_t(V);
      std::vector<double> p(keep);
      for (size_t i = 0; i < keep; ++i) p[i] = std::exp((l[size_t(order[i])] - l[size_t(order[0])]) / o.temperature);
      double u = rand({1}, DType::f64, &gen).item<double>() * std::accumulate(p.begin(), p.end(), 0.0);
      // The first candidate whose running sum of weights passes u.
      size_t i = 0;
      double acc = p[0];
      while (acc < u && i + 1 < keep) acc += p[++i];
      next = order[i];
    }
    ids.push_back(int32_t(next));
  }
  return tokenizer.decode(std::vector<int32_t>(ids.begin() + long(prompt_len), ids.end()));
}

}  // namespace moegrad::app
