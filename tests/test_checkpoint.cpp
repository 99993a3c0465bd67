// Checkpoints through files: a model's and its optimizer's state saved as
// safetensors, loaded into fresh objects, and training continues bit for bit
// as if it had never stopped.
#include <cstdio>

#include "core/elementwise.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

TransformerConfig small() {
  TransformerConfig c;
  c.vocab = 13;
  c.dim = 8;
  c.heads = 2;
  c.layers = 1;
  c.ffn_hidden = 16;
  c.max_len = 5;
  return c;
}

// One step on batch number `i` of a fixed, seeded stream of batches.
void train_step(DecoderLM& lm, Optimizer& opt, int i) {
  Generator gen(100 + uint64_t(i));
  Tensor x = cast(mul(rand({3, 5}, DType::f32, &gen), 12.99), DType::i64);
  Tensor loss = cross_entropy(lm.forward(x), x);
  opt.zero_grad();
  loss.backward();
  opt.step();
}

}  // namespace

TEST_CASE("model and AdamW state saved to safetensors resume training exactly", "[checkpoint]") {
  const std::string model_path = "test_checkpoint_model.safetensors", optim_path = "test_checkpoint_optim.safetensors";
  manual_seed(3);
  DecoderLM a(small());
  AdamW opt_a(a.parameters(), 1e-2);
  for (int i = 0; i < 3; ++i) train_step(a, opt_a, i);
  save_safetensors(model_path, a.state_dict(), {{"step", "3"}});
  save_safetensors(optim_path, opt_a.state_dict());
  for (int i = 3; i < 6; ++i) train_step(a, opt_a, i);  // the uninterrupted run

  manual_seed(99);  // a different init, overwritten by the load
  DecoderLM b(small());
  AdamW opt_b(b.parameters(), 1e-2);
  SafetensorsFile model = load_safetensors(model_path);
  REQUIRE(model.metadata.at("step") == "3");
  b.load_state_dict(model.tensors);
  opt_b.load_state_dict(load_safetensors(optim_path).tensors);
  for (int i = 3; i < 6; ++i) train_step(b, opt_b, i);

  auto sa = a.state_dict(), sb = b.state_dict();
  for (auto& [name, p] : sa) {
    INFO(name);
    require_close(sb.at(name), p, 0, 0);  // bit-identical on the CPU
  }
  std::remove(model_path.c_str());
  std::remove(optim_path.c_str());
}

TEST_CASE("loading a checkpoint of another shape fails cleanly and leaves the model as it was", "[checkpoint]") {
  const std::string path = "test_checkpoint_other.safetensors";
  TransformerConfig c = small();
  c.dim = 12;
  DecoderLM other(c), lm(small());
  save_safetensors(path, other.state_dict());
  auto before = lm.state_dict();
  Tensor w = before.at("head.weight").clone();
  require_error([&] { lm.load_state_dict(load_safetensors(path).tensors); }, "load_state_dict");
  require_close(lm.state_dict().at("head.weight"), w, 0, 0);
  std::remove(path.c_str());
}
