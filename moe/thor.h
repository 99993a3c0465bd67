// THOR: Transformer witH StOchastic ExpeRts (Zuo et al. 2021, arXiv 2110.04260).
//
// E expert FFNs and no router, so no aux loss. In training, each forward
// call draws ONE expert uniformly at random and every token of the batch
// uses it (as the released code does). A training step runs the model twice,
// each pass with its own draws (and dropout), and adds a consistency loss so
// the experts learn to agree (thor_loss):
//
//   loss = CE(p1) + CE(p2) + alpha * (KL(p1 || p2) + KL(p2 || p1)) / 2
//
// summed over the non-pad tokens, gradients through both passes. At
// inference, ThorInference picks the experts. Experts reuse the MoE
// machinery: a choice of experts is a dispatch plan with gates of 1 (1/E
// when ensembling), so every mode is one grouped GEMM.
#pragma once

#include <memory>

#include "core/random.h"
#include "moe/experts.h"
#include "moe/layer.h"

namespace moegrad {

enum class ThorInference {
  random_token,     // each token draws its own expert
  random_sequence,  // each sequence (row of dim 0) draws one expert: the released script's choice
  fixed,            // every token uses ThorConfig::fixed_expert
  ensemble,         // the average of all experts' outputs
};

struct ThorConfig {
  int64_t dim = 128;
  int64_t hidden = 512;
  int64_t num_experts = 2;
  FfnActivation activation = FfnActivation::gelu;
  bool bias = true;  // fairseq's FFN, as in the released code
  ThorInference inference = ThorInference::random_sequence;
  int64_t fixed_expert = 0;
  DType dtype = DType::f32;
  uint64_t seed = 0;  // the layer's expert draws; give each layer its own
};

class Thor : public MoeLayer {
 public:
  explicit Thor(const ThorConfig& config);
  // [..., dim] -> [..., dim]. random_sequence treats dim 0 as the batch of
  // sequences (a 2-D input is one token per sequence).
  Tensor forward(const Tensor& x) const override;
  // The expert ids of the last call, one per token (i64 [N, k]; k = E when ensembling).
  const Tensor& last_experts() const { return experts_; }
  Generator& generator() const { return gen_; }  // its offset is the layer's RNG state

  ThorConfig config;
  std::shared_ptr<Experts> experts;

 private:
  mutable Generator gen_;
  mutable Tensor experts_;
};

struct ThorLossOptions {
  double alpha = 5.0;            // weight of the consistency term
  double label_smoothing = 0.1;  // of both cross-entropies
  int64_t ignore_index = -100;   // pad targets: no CE and no KL
};

// The THOR training loss of two passes' logits [..., C] against targets [...]
// (see the top of this file): token-summed, a 0-d tensor.
Tensor thor_loss(const Tensor& logits1, const Tensor& logits2, const Tensor& targets,
                 const ThorLossOptions& options = {});

}  // namespace moegrad
