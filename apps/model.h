// The language model a run trains: a DecoderLM whose feed-forward slots hold
// the run's model family (dense, SMoE, MH-MoE or THOR) in every n-th block.
#pragma once

#include <memory>
#include <vector>

#include "apps/run_config.h"
#include "core/random.h"
#include "moe/config.h"
#include "nn/transformer.h"

namespace moegrad::app {

// Built from the run's seed: the same config gives the same weights.
std::shared_ptr<DecoderLM> build_model(const RunConfig& c, int64_t vocab);

// The config of the SMoE or MH-MoE layer in block `layer` of a validated
// smoe or mhmoe run, as build_model makes it (MH-MoE with expert_hidden 0 is
// parameter-matched: mhmoe_v1). Computes sizes only; allocates no weights.
MoEConfig moe_layer_config(const RunConfig& c, int64_t layer);

// The generators of the model's MoE layers (routers' random policies, THOR's
// expert draws), in model order: with the default generator and the data
// generator, the whole random state of a run.
std::vector<Generator*> layer_generators(const DecoderLM& lm);

// The loss a run minimises on one batch (x [B, T] token ids, y [B, T] the
// next tokens), as a 0-d tensor in the graph: cross-entropy per token plus
// the MoE layers' aux losses, or for THOR the two-pass loss (two forward
// calls, each with its own expert draws) per token. *aux, when asked for,
// receives the aux part (0 for a dense model, undefined for THOR).
Tensor training_loss(const DecoderLM& model, const RunConfig& c, const Tensor& x, const Tensor& y,
                     Tensor* aux = nullptr);

}  // namespace moegrad::app
