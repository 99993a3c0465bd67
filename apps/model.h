// The language model a run trains: a DecoderLM whose feed-forward slots hold
// the run's model family (dense, SMoE, MH-MoE or THOR) in every n-th block.
#pragma once

#include <memory>
#include <vector>

#include "apps/run_config.h"
#include "core/random.h"
#include "nn/transformer.h"

namespace moegrad::app {

// Built from the run's seed: the same config gives the same weights.
std::shared_ptr<DecoderLM> build_model(const RunConfig& c, int64_t vocab);

// The generators of the model's MoE layers (routers' random policies, THOR's
// expert draws), in model order: with the default generator and the data
// generator, the whole random state of a run.
std::vector<Generator*> layer_generators(const DecoderLM& lm);

}  // namespace moegrad::app
