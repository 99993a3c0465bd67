#include "apps/model.h"

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

std::shared_ptr<DecoderLM> build_model(const RunConfig& c, int64_t vocab) {
  validate(c);
  manual_seed(c.seed);  // every Linear and Embedding initialises from the default generator
  TransformerConfig t;
  t.vocab = vocab;
  t.dim = c.dim;
  t.heads = c.attn_heads;
  t.layers = c.layers;
  t.ffn_hidden = c.ffn_hidden;
  t.max_len = c.seq_len;
  t.dropout = c.dropout;
  if (c.model == "dense") return std::make_shared<DecoderLM>(t);
  FfnFactory sparse = [&c](int64_t layer) -> std::shared_ptr<FfnLayer> {
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
  return std::make_shared<DecoderLM>(t, moe_every(c.moe_every, dense_ffn(t), sparse));
}

std::vector<Generator*> layer_generators(const DecoderLM& lm) {
  std::vector<Generator*> out;
  for (const auto& layer : moe_layers(lm)) {
    if (auto* m = dynamic_cast<MoE*>(layer.get())) out.push_back(&m->router->generator());
    if (auto* m = dynamic_cast<MHMoE*>(layer.get())) out.push_back(&m->moe->router->generator());
    if (auto* t = dynamic_cast<Thor*>(layer.get())) out.push_back(&t->generator());
  }
  return out;
}

Tensor training_loss(const DecoderLM& model, const RunConfig& c, const Tensor& x, const Tensor& y, Tensor* aux) {
  const double smoothing = label_smoothing_of(c);
  if (c.model == "thor") {
    Tensor l1 = model.forward(x), l2 = model.forward(x);
    ThorLossOptions o;
    o.alpha = c.thor_alpha;
    o.label_smoothing = smoothing;
    if (aux) *aux = Tensor();
    return div(thor_loss(l1, l2, y, o), double(y.numel()));  // token-summed, then per token
  }
  CrossEntropyOptions o;
  o.label_smoothing = smoothing;
  Tensor loss = cross_entropy(model.forward(x), y, o);
  Tensor a = total_aux_loss(model);
  if (aux) *aux = a;
  return add(loss, a);
}

}  // namespace moegrad::app
