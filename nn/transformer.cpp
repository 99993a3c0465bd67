#include "nn/transformer.h"

#include <cmath>

#include "core/elementwise.h"
#include "core/factory.h"

namespace moegrad {

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, std::shared_ptr<FfnLayer> f, double p,
                                   bool cross_attention, DType dtype) {
  ln_attn = register_module("ln_attn", std::make_shared<LayerNorm>(dim, 1e-5, true, dtype));
  attn = register_module("attn", std::make_shared<MultiHeadAttention>(dim, heads, p, true, dtype));
  if (cross_attention) {
    ln_cross = register_module("ln_cross", std::make_shared<LayerNorm>(dim, 1e-5, true, dtype));
    cross = register_module("cross", std::make_shared<MultiHeadAttention>(dim, heads, p, true, dtype));
  }
  ln_ffn = register_module("ln_ffn", std::make_shared<LayerNorm>(dim, 1e-5, true, dtype));
  MOEGRAD_CHECK(f != nullptr, "TransformerBlock", "needs a feed-forward layer");
  ffn = register_module("ffn", std::move(f));
  dropout = register_module("dropout", std::make_shared<Dropout>(p));
}

Tensor TransformerBlock::forward(const Tensor& x, bool causal, const Tensor& self_padding, const Tensor& memory,
                                 const Tensor& memory_padding) const {
  Tensor h = ln_attn->forward(x);
  Tensor y = add(x, dropout->forward(attn->forward(h, h, causal, self_padding)));
  if (cross) {
    MOEGRAD_CHECK(memory.defined(), "TransformerBlock", "a block with cross-attention needs the encoder's memory");
    y = add(y, dropout->forward(cross->forward(ln_cross->forward(y), memory, false, memory_padding)));
  }
  return add(y, dropout->forward(ffn->forward(ln_ffn->forward(y))));
}

FfnFactory dense_ffn(const TransformerConfig& c) {
  return [c](int64_t) { return std::make_shared<FeedForward>(c.dim, c.ffn_hidden, FfnActivation::gelu, true, c.dtype); };
}

namespace {
void check_config(const char* op, const TransformerConfig& c) {
  MOEGRAD_CHECK(c.vocab > 0 && c.dim > 0 && c.heads > 0 && c.layers >= 0 && c.ffn_hidden > 0 && c.max_len > 0, op,
                "invalid config: vocab=", c.vocab, " dim=", c.dim, " heads=", c.heads, " layers=", c.layers,
                " ffn_hidden=", c.ffn_hidden, " max_len=", c.max_len);
}

// Token embeddings plus learned positions 0..T-1.
Tensor embed(const Embedding& tok, const Embedding& pos, const Tensor& ids, int64_t max_len, const char* op) {
  MOEGRAD_CHECK(ids.dim() == 2, op, "ids must be [B, T], got ", shape_str(ids.shape()));
  MOEGRAD_CHECK(ids.size(1) <= max_len, op, "sequence length ", ids.size(1), " exceeds max_len ", max_len);
  Tensor positions = arange(ids.size(1), DType::i64, ids.device());
  return add(tok.forward(ids), pos.forward(positions));
}

}  // namespace

DecoderLM::DecoderLM(const TransformerConfig& c, FfnFactory ffn) : config(c) {
  check_config("DecoderLM", c);
  if (!ffn) ffn = dense_ffn(c);
  tok = register_module("tok", std::make_shared<Embedding>(c.vocab, c.dim, c.dtype));
  pos = register_module("pos", std::make_shared<Embedding>(c.max_len, c.dim, c.dtype));
  for (int64_t i = 0; i < c.layers; ++i)
    blocks.push_back(register_module("block" + std::to_string(i),
                                     std::make_shared<TransformerBlock>(c.dim, c.heads, ffn(i), c.dropout, false, c.dtype)));
  ln_final = register_module("ln_final", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
  head = register_module("head", std::make_shared<Linear>(c.dim, c.vocab, false, c.dtype));
}

Tensor DecoderLM::forward(const Tensor& ids) const {
  Tensor x = embed(*tok, *pos, ids, config.max_len, "DecoderLM");
  for (const auto& b : blocks) x = b->forward(x, /*causal=*/true);
  return head->forward(ln_final->forward(x));
}

EncoderDecoder::EncoderDecoder(const TransformerConfig& c, FfnFactory enc_ffn, FfnFactory dec_ffn) : config(c) {
  check_config("EncoderDecoder", c);
  if (!enc_ffn) enc_ffn = dense_ffn(c);
  if (!dec_ffn) dec_ffn = dense_ffn(c);
  tok = register_module("tok", std::make_shared<Embedding>(c.vocab, c.dim, c.dtype));
  pos = register_module("pos", std::make_shared<Embedding>(c.max_len, c.dim, c.dtype));
  for (int64_t i = 0; i < c.layers; ++i)
    encoder.push_back(register_module("enc" + std::to_string(i),
                                      std::make_shared<TransformerBlock>(c.dim, c.heads, enc_ffn(i), c.dropout, false, c.dtype)));
  for (int64_t i = 0; i < c.layers; ++i)
    decoder.push_back(register_module("dec" + std::to_string(i),
                                      std::make_shared<TransformerBlock>(c.dim, c.heads, dec_ffn(i), c.dropout, true, c.dtype)));
  ln_encoder = register_module("ln_encoder", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
  ln_decoder = register_module("ln_decoder", std::make_shared<LayerNorm>(c.dim, 1e-5, true, c.dtype));
  head = register_module("head", std::make_shared<Linear>(c.dim, c.vocab, false, c.dtype));
}

Tensor EncoderDecoder::encode(const Tensor& src, const Tensor& src_padding) const {
  Tensor x = embed(*tok, *pos, src, config.max_len, "EncoderDecoder");
  for (const auto& b : encoder) x = b->forward(x, /*causal=*/false, src_padding);
  return ln_encoder->forward(x);
}

Tensor EncoderDecoder::decode(const Tensor& tgt, const Tensor& memory, const Tensor& src_padding) const {
  Tensor x = embed(*tok, *pos, tgt, config.max_len, "EncoderDecoder");
  for (const auto& b : decoder) x = b->forward(x, /*causal=*/true, Tensor(), memory, src_padding);
  return head->forward(ln_decoder->forward(x));
}

Tensor EncoderDecoder::forward(const Tensor& src, const Tensor& tgt, const Tensor& src_padding) const {
  return decode(tgt, encode(src, src_padding), src_padding);
}

}  // namespace moegrad
