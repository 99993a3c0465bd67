#include "apps/model.h"

#include <algorithm>

#include "core/elementwise.h"
#include "moe/layer.h"
#include "moe/mhmoe.h"
#include "moe/smoe.h"
#include "moe/thor.h"
#include "nn/loss.h"

namespace moegrad::app {

namespace {

// Each MoE layer draws from its own stream: layers given one seed would draw
// the same experts in lockstep.
uint64_t layer_seed(uint64_t seed, int64_t layer) { return seed * 1000003u + uint64_t(layer) + 1; }

ThorInference thor_inference(const std::string& name) {
  if (name == "random_token") return ThorInference::random_token;
  if (name == "fixed") return ThorInference::fixed;
  if (name == "ensemble") return ThorInference::ensemble;
  return ThorInference::random_sequence;
}

}  // namespace

MoEConfig moe_layer_config(const RunConfig& c, int64_t layer) {
  MoEConfig m;
  m.dim = c.dim;
  m.hidden = c.expert_hidden > 0 ? c.expert_hidden : c.ffn_hidden;
  m.num_experts = c.experts;
  m.top_k = c.top_k;
  m.gate = c.gate == "xmoe" ? GateKind::xmoe : GateKind::linear;
  m.second_expert = c.second_expert == "sampling" ? SecondExpertPolicy::sampling
                    : c.second_expert == "random" ? SecondExpertPolicy::random
                                                  : SecondExpertPolicy::all;
  m.renormalize = c.renormalize;
  m.capacity_factor = c.capacity_factor;
  m.eval_capacity_factor = c.eval_capacity_factor;
  m.balance_weight = c.aux_weight;
  m.z_weight = c.z_weight;
  m.subtoken_residual = c.subtoken_residual;
  m.head_merge = !c.mhmoe_no_head_merge;
  m.seed = layer_seed(c.seed, layer);
  if (c.model == "mhmoe") {
    if (c.expert_hidden > 0) {
      m.heads = c.moe_heads;
    } else {
      m = mhmoe_v1(m, c.moe_heads);  // as many parameters as the SMoE of ffn_hidden
    }
  }
  return m;
}

TransformerConfig transformer_config(const RunConfig& c, int64_t vocab) {
  TransformerConfig t;
  t.vocab = vocab;
  t.dim = c.dim;
  t.heads = c.attn_heads;
  t.layers = c.layers;
  t.ffn_hidden = c.ffn_hidden;
  t.max_len = c.seq_len;
  t.dropout = c.dropout;
  return t;
}

FfnFactory family_ffn(const RunConfig& c, const TransformerConfig& t, int64_t first_layer) {
  if (c.model == "dense") return dense_ffn(t);
  FfnFactory sparse = [c, first_layer](int64_t block) -> std::shared_ptr<FfnLayer> {
    const int64_t layer = first_layer + block;
    if (c.model == "thor") {
      ThorConfig th;
      th.dim = c.dim;
      th.hidden = c.expert_hidden > 0 ? c.expert_hidden : c.ffn_hidden;
      th.num_experts = c.experts;
      th.inference = thor_inference(c.thor_inference);
      th.seed = layer_seed(c.seed, layer);
      return std::make_shared<Thor>(th);
    }
    MoEConfig m = moe_layer_config(c, layer);
    if (c.model == "mhmoe") return std::make_shared<MHMoE>(m);
    return std::make_shared<MoE>(m);
  };
  return moe_every(c.moe_every, dense_ffn(t), sparse);
}

std::shared_ptr<DecoderLM> build_model(const RunConfig& c, int64_t vocab) {
  validate(c);
  manual_seed(c.seed);  // every Linear and Embedding initialises from the default generator
  TransformerConfig t = transformer_config(c, vocab);
  return std::make_shared<DecoderLM>(t, family_ffn(c, t));
}

int64_t flops_per_token(const RunConfig& c, int64_t vocab) {
  validate(c);
  const int64_t d = c.dim;
  int64_t flops = 2 * d * vocab;  // the head
  for (int64_t layer = 0; layer < c.layers; ++layer) {
    flops += 8 * d * d + 4 * c.seq_len * d;  // q, k, v, out projections; scores and their weighted sum
    const bool sparse = c.model != "dense" && is_moe_block(c.moe_every, layer);
    if (!sparse) {
      flops += dense_cost(d, c.ffn_hidden).flops;
    } else if (c.model == "thor") {
      flops += dense_cost(d, c.expert_hidden > 0 ? c.expert_hidden : c.ffn_hidden).flops;  // one expert
    } else {
      MoEConfig m = moe_layer_config(c, layer);
      flops += c.model == "mhmoe" ? mhmoe_cost(m).flops : smoe_cost(m).flops;
    }
  }
  return flops;
}

void set_thor_inference(const Module& model, const std::string& mode) {
  RunConfig probe;
  probe.thor_inference = mode;
  validate(probe);  // names the flag and the modes when mode is not one
  for (const auto& layer : moe_layers(model))
    if (auto* t = dynamic_cast<Thor*>(layer.get())) t->config.inference = thor_inference(mode);
}

std::vector<Generator*> layer_generators(const Module& lm) {
  std::vector<Generator*> out;
  for (const auto& layer : moe_layers(lm)) {
    if (auto* m = dynamic_cast<MoE*>(layer.get())) out.push_back(&m->router->generator());
    if (auto* m = dynamic_cast<MHMoE*>(layer.get())) out.push_back(&m->moe->router->generator());
    if (auto* t = dynamic_cast<Thor*>(layer.get())) out.push_back(&t->generator());
  }
  return out;
}

Tensor family_loss(const Module& model, const RunConfig& c, const std::function<Tensor()>& logits,
                   const Tensor& targets, int64_t counted, Tensor* aux) {
  const double smoothing = label_smoothing_of(c);
  if (c.model == "thor") {
    Tensor l1 = logits(), l2 = logits();
    ThorLossOptions o;
    o.alpha = c.thor_alpha;
    o.label_smoothing = smoothing;
    if (aux) *aux = Tensor();
    // thor_loss sums over the counted targets; per token, as cross_entropy's mean.
    return div(thor_loss(l1, l2, targets, o), double(std::max<int64_t>(counted, 1)));
  }
  CrossEntropyOptions o;
  o.label_smoothing = smoothing;
  Tensor loss = cross_entropy(logits(), targets, o);
  Tensor a = total_aux_loss(model);
  if (aux) *aux = a;
  return add(loss, a);
}

Tensor training_loss(const DecoderLM& model, const RunConfig& c, const Tensor& x, const Tensor& y, Tensor* aux) {
  return family_loss(model, c, [&] { return model.forward(x); }, y, y.numel(), aux);
}

}  // namespace moegrad::app
