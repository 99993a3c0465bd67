// Attention, transformer blocks and the two models: gradchecks, causality,
// padding, shapes and errors.
#include "autograd/gradcheck.h"
#include "core/elementwise.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "nn/loss.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).item<double>(); }

TransformerConfig tiny_config() {
  TransformerConfig c;
  c.vocab = 11;
  c.dim = 8;
  c.heads = 2;
  c.layers = 2;
  c.ffn_hidden = 16;
  c.max_len = 6;
  c.dtype = DType::f64;
  return c;
}
}  // namespace

TEST_CASE("attention gradchecks: causal self-attention and padded cross-attention", "[nn][attention]") {
  MultiHeadAttention mha(8, 2, 0.0, true, DType::f64);
  require_gradcheck([&](const std::vector<Tensor>& in) { return mha.forward(in[0], in[0], true); }, {grad_leaf({2, 4, 8}, 1)});
  Tensor pad = from_vector<bool>({false, false, true, false, false, false, false, true}, {2, 4});
  require_gradcheck([&](const std::vector<Tensor>& in) { return mha.forward(in[0], in[1], false, pad); },
                    {grad_leaf({2, 3, 8}, 2), grad_leaf({2, 4, 8}, 3)});
}

TEST_CASE("attention with one head equals softmax(QK^T/sqrt d) V through the projections", "[nn][attention]") {
  MultiHeadAttention mha(4, 1, 0.0, false, DType::f64);
  Tensor x = random_tensor({1, 3, 4}, DType::f64, 5);
  Tensor q = matmul(x, mha.q_proj->weight.t()), k = matmul(x, mha.k_proj->weight.t()), v = matmul(x, mha.v_proj->weight.t());
  Tensor a = softmax(div(matmul(q, k.transpose(1, 2)), 2.0), -1);  // sqrt(4) = 2
  Tensor expect = matmul(matmul(a, v), mha.out_proj->weight.t());
  require_close(mha.forward(x, x), expect, 1e-12, 1e-12);
}

TEST_CASE("causal attention ignores the future, and padding masks keys", "[nn][attention]") {
  MultiHeadAttention mha(8, 2, 0.0, true, DType::f64);
  Tensor x = random_tensor({1, 5, 8}, DType::f64, 6);
  Tensor y = x.clone();
  fill_(y.narrow(1, 4, 1), 3.0);  // change only the last position
  Tensor a = mha.forward(x, x, true), b = mha.forward(y, y, true);
  REQUIRE(max_abs_diff(a.narrow(1, 0, 4), b.narrow(1, 0, 4)) == 0.0);
  REQUIRE(max_abs_diff(a.narrow(1, 4, 1), b.narrow(1, 4, 1)) > 1e-6);

  Tensor pad = from_vector<bool>({false, false, false, false, true}, {1, 5});
  Tensor c = mha.forward(x, x, false, pad), d = mha.forward(x, y, false, pad);  // y differs only at the padded key
  REQUIRE(max_abs_diff(c, d) == 0.0);
  REQUIRE(max_abs_diff(mha.forward(x, x, false), mha.forward(x, y, false)) > 1e-6);
}

TEST_CASE("attention rejects bad shapes and masks", "[nn][attention]") {
  MultiHeadAttention mha(8, 2, 0.0, true, DType::f64);
  Tensor x = random_tensor({2, 3, 8}, DType::f64);
  require_error([&] { mha.forward(x.reshape({6, 8}), x); }, "MultiHeadAttention");
  require_error([&] { mha.forward(x, x, false, zeros({2, 4}, DType::b8)); }, "key_padding_mask");
  require_error([&] { mha.forward(x, x, false, zeros({2, 3}, DType::f64)); }, "key_padding_mask");
  require_error([] { MultiHeadAttention(10, 3); }, "MultiHeadAttention");
}

TEST_CASE("DecoderLM: logits shape, causality end to end, gradients reach every parameter", "[nn][transformer]") {
  DecoderLM lm(tiny_config());
  Tensor ids = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});
  Tensor ids2 = from_vector<int64_t>({1, 2, 3, 4, 0, 6, 7, 8, 9, 10}, {2, 5});
  Tensor a = lm.forward(ids), b = lm.forward(ids2);
  REQUIRE(a.shape() == Shape{2, 5, 11});
  REQUIRE(max_abs_diff(a.narrow(1, 0, 4), b.narrow(1, 0, 4)) == 0.0);
  cross_entropy(a, ids).backward();
  for (auto& [name, p] : lm.named_parameters()) {
    INFO(name);
    REQUIRE(p.grad().defined());
  }
  require_error([&] { lm.forward(zeros({1, 7}, DType::i64)); }, "max_len");
  require_error([&] { lm.forward(full({1, 2}, 11, DType::i64)); }, "embedding");
}

TEST_CASE("a transformer block gradchecks through attention, norms and FFN", "[nn][transformer]") {
  TransformerBlock block(8, 2, std::make_shared<FeedForward>(8, 12, FfnActivation::gelu, true, DType::f64), 0.0, true,
                         DType::f64);
  require_gradcheck([&](const std::vector<Tensor>& in) { return block.forward(in[0], true, Tensor(), in[1]); },
                    {grad_leaf({1, 3, 8}, 7), grad_leaf({1, 4, 8}, 8)});
  require_error([&] { block.forward(random_tensor({1, 3, 8}, DType::f64), true); }, "memory");
}

TEST_CASE("EncoderDecoder: shapes, source padding is ignored, gradients flow to both sides", "[nn][transformer]") {
  EncoderDecoder model(tiny_config());
  Tensor src = from_vector<int64_t>({1, 2, 3, 4, 9, 6, 7, 8, 9, 10}, {2, 5});
  Tensor src2 = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {2, 5});  // differs at a padded position
  Tensor tgt = from_vector<int64_t>({3, 3, 2, 1, 1, 2}, {2, 3});
  Tensor pad = from_vector<bool>({false, false, false, false, true, false, false, false, false, false}, {2, 5});
  Tensor a = model.forward(src, tgt, pad), b = model.forward(src2, tgt, pad);
  REQUIRE(a.shape() == Shape{2, 3, 11});
  REQUIRE(max_abs_diff(a, b) < 1e-12);
  cross_entropy(a, tgt).backward();
  REQUIRE(model.encoder[0]->attn->q_proj->weight.grad().defined());
  REQUIRE(model.decoder[1]->cross->k_proj->weight.grad().defined());
}
