// The language model a run trains: a DecoderLM whose feed-forward slots hold
// the run's model family (dense, SMoE, MH-MoE or THOR) in every n-th block.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "apps/run_config.h"
#include "core/random.h"
#include "moe/config.h"
#include "nn/transformer.h"

namespace moegrad::app {

// Built from the run's seed: the same config gives the same weights.
std::shared_ptr<DecoderLM> build_model(const RunConfig& c, int64_t vocab);

// The run's transformer sizes (max_len = seq_len).
TransformerConfig transformer_config(const RunConfig& c, int64_t vocab);

// The feed-forward layers of the run's family: dense, or its MoE layer in
// every moe_every-th block. MoE layer i draws from a stream seeded by the run's
// seed and first_layer + i, so two stacks of one model (an encoder and a
// decoder) pass different first_layer values to avoid drawing in lockstep.
FfnFactory family_ffn(const RunConfig& c, const TransformerConfig& t, int64_t first_layer = 0);

// The config of the SMoE or MH-MoE layer in block `layer` of a validated
// smoe or mhmoe run, as build_model makes it (MH-MoE with expert_hidden 0 is
// parameter-matched: mhmoe_v1). Computes sizes only; allocates no weights.
MoEConfig moe_layer_config(const RunConfig& c, int64_t layer);

// Forward FLOPs per token of build_model's LM (a multiply-add is 2), by
// formula: attention's four projections and, with the full window of
// seq_len keys, its scores and weighted sum; each block's FFN or MoE layer at
// full capacity (moe/mhmoe.h's layer costs; THOR runs one expert); the head.
// Embeddings, norms and softmaxes are left out.
int64_t flops_per_token(const RunConfig& c, int64_t vocab);

// Sets how the model's THOR layers pick experts at inference (a
// thor_inference value; Error naming the flag otherwise).
void set_thor_inference(const Module& model, const std::string& mode);

// The generators of the model's MoE layers (routers' random policies, THOR's
// expert draws), in model order: with the default generator and the data
// generator, the whole random state of a run.
std::vector<Generator*> layer_generators(const Module& model);

// The loss a run minimises on one batch (x [B, T] token ids, y [B, T] the
// next tokens), as a 0-d tensor in the graph: cross-entropy per token plus
// the MoE layers' aux losses, or for THOR the two-pass loss (two forward
// calls, each with its own expert draws) per token. *aux, when asked for,
// receives the aux part (0 for a dense model, undefined for THOR).
Tensor training_loss(const DecoderLM& model, const RunConfig& c, const Tensor& x, const Tensor& y,
                     Tensor* aux = nullptr);

// The same loss for any model of the run's family: `logits` runs one forward
// pass of `model` (THOR calls it twice), `targets` may hold -100 for padding,
// which adds no loss; `counted` is the number of the others, which the
// caller knows on the host (counting them here would cost a device sync).
// Per counted target token.
Tensor family_loss(const Module& model, const RunConfig& c, const std::function<Tensor()>& logits,
                   const Tensor& targets, int64_t counted, Tensor* aux = nullptr);

}  // namespace moegrad::app
