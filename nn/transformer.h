// Transformer models built from the layers of nn/: a pre-norm block whose
// feed-forward slot takes any FfnLayer (dense or MoE), a decoder-only
// language model, and an encoder-decoder model for translation.
//
// Pre-norm block (as GPT-2 and the MH-MoE code base; THOR's fairseq setup is
// post-norm, which this block does not offer yet):
//   x = x + SelfAttn(LN(x));  [x = x + CrossAttn(LN(x), memory)];  x = x + FFN(LN(x))
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/feedforward.h"
#include "nn/norm.h"

namespace moegrad {

class TransformerBlock : public Module {
 public:
  // cross_attention adds a cross-attention sub-layer (decoder of an encoder-decoder).
  TransformerBlock(int64_t dim, int64_t heads, std::shared_ptr<FfnLayer> ffn, double dropout = 0.0,
                   bool cross_attention = false, DType dtype = DType::f32);
  // x [B, T, dim]; memory [B, S, dim] only with cross-attention; masks as in MultiHeadAttention.
  Tensor forward(const Tensor& x, bool causal, const Tensor& self_padding = Tensor(),
                 const Tensor& memory = Tensor(), const Tensor& memory_padding = Tensor()) const;

  std::shared_ptr<LayerNorm> ln_attn, ln_cross, ln_ffn;
  std::shared_ptr<MultiHeadAttention> attn, cross;
  std::shared_ptr<FfnLayer> ffn;
  std::shared_ptr<Dropout> dropout;
};

// Builds the feed-forward layer of block `layer`: dense everywhere, or MoE in
// every n-th block, decided by the caller.
using FfnFactory = std::function<std::shared_ptr<FfnLayer>(int64_t layer)>;

struct TransformerConfig {
  int64_t vocab = 256;  // byte-level by default
  int64_t dim = 128;
  int64_t heads = 4;
  int64_t layers = 2;
  int64_t ffn_hidden = 512;
  int64_t max_len = 256;
  double dropout = 0.0;
  DType dtype = DType::f32;
};

// A dense GELU FeedForward of config.ffn_hidden for every layer.
FfnFactory dense_ffn(const TransformerConfig& config);

// Decoder-only LM: token + learned position embeddings, causal blocks, final
// LayerNorm, a linear head to vocabulary logits.
class DecoderLM : public Module {
 public:
  explicit DecoderLM(const TransformerConfig& config, FfnFactory ffn = nullptr);
  Tensor forward(const Tensor& ids) const;  // ids [B, T] (T <= max_len) -> logits [B, T, vocab]

  TransformerConfig config;
  std::shared_ptr<Embedding> tok, pos;
  std::vector<std::shared_ptr<TransformerBlock>> blocks;
  std::shared_ptr<LayerNorm> ln_final;
  std::shared_ptr<Linear> head;
};

// Encoder-decoder (the THOR paper's translation model): a shared token
// embedding for both sides, an encoder of non-causal blocks, a decoder of
// causal blocks with cross-attention to the encoder's output.
class EncoderDecoder : public Module {
 public:
  EncoderDecoder(const TransformerConfig& config, FfnFactory encoder_ffn = nullptr, FfnFactory decoder_ffn = nullptr);
  Tensor encode(const Tensor& src, const Tensor& src_padding = Tensor()) const;  // [B, S] -> [B, S, dim]
  Tensor decode(const Tensor& tgt, const Tensor& memory, const Tensor& src_padding = Tensor()) const;  // logits
  Tensor forward(const Tensor& src, const Tensor& tgt, const Tensor& src_padding = Tensor()) const;

  TransformerConfig config;
  std::shared_ptr<Embedding> tok, pos;
  std::vector<std::shared_ptr<TransformerBlock>> encoder, decoder;
  std::shared_ptr<LayerNorm> ln_encoder, ln_decoder;
  std::shared_ptr<Linear> head;
};

}  // namespace moegrad
