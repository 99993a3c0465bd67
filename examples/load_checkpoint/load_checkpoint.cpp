// Saving a model to a safetensors checkpoint and loading it into a fresh
// model, in the layout `moegrad train` uses for its checkpoints
// (runs/NAME/checkpoints/step-N.safetensors): each weight is stored as
// "model.<parameter name>", next to the optimizer state under "optim.".
//
//   load_checkpoint         trains a tiny byte-level LM with an MH-MoE block for a
//                           few steps, saves it to moegrad_tiny_lm.safetensors in the
//                           temporary directory, loads that into a model built with
//                           other weights, checks that both give the same logits,
//                           and lets the loaded one write.
//   load_checkpoint FILE    lists the tensors and metadata of any safetensors file,
//                           such as a checkpoint of `moegrad train`.
//
// To run a `moegrad train` model, build a DecoderLM from the settings in the
// checkpoint's sidecar (step-N.json, "config") and load the "model." tensors
// as load_into() does below. Exits with status 1 if a check fails.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/elementwise.h"  // abs, add, sub
#include "core/error.h"        // moegrad::Error
#include "core/factory.h"      // from_vector
#include "core/graph.h"        // NoGradGuard
#include "core/join.h"         // cat
#include "core/reduce.h"       // amax, argmax
#include "moe/layer.h"         // moe_every, total_aux_loss
#include "moe/mhmoe.h"
#include "nn/loss.h"           // cross_entropy
#include "nn/optim.h"          // AdamW
#include "nn/safetensors.h"
#include "nn/transformer.h"    // DecoderLM

using namespace moegrad;

const std::string kText = "the cat sat on the mat. the dog sat on the log. ";
constexpr int64_t kBatch = 8, kContext = 24;
constexpr int kSteps = 60;

// A 2-block transformer whose second block's feed-forward is an MH-MoE layer.
// The weights are drawn from the default generator, seeded here, so two calls
// with different seeds give two different models of the same shape.
std::shared_ptr<DecoderLM> build_model(uint64_t seed) {
  TransformerConfig cfg;  // vocab 256: bytes
  cfg.dim = 32;
  cfg.heads = 2;
  cfg.layers = 2;
  cfg.ffn_hidden = 64;
  cfg.max_len = 32;
  MoEConfig moe;
  moe.dim = cfg.dim;
  moe.hidden = 32;
  moe.heads = 2;
  moe.num_experts = 4;
  manual_seed(seed);
  return std::make_shared<DecoderLM>(
      cfg, moe_every(2, dense_ffn(cfg), [&](int64_t) -> std::shared_ptr<FfnLayer> {
        return std::make_shared<MHMoE>(moe);
      }));
}

Tensor bytes_tensor(const std::string& s, int64_t begin, int64_t length) {
  std::vector<int64_t> ids;
  for (int64_t i = begin; i < begin + length; ++i) ids.push_back((unsigned char)s[i % s.size()]);
  return from_vector(ids, {1, length});
}

void train(DecoderLM& model) {
  AdamW opt(model.parameters(), 1e-2);
  for (int step = 0; step < kSteps; ++step) {
    // kBatch windows of the text at different offsets; targets are the next bytes.
    std::vector<Tensor> xs, ys;
    for (int64_t b = 0; b < kBatch; ++b) {
      xs.push_back(bytes_tensor(kText, step * 5 + b * 7, kContext));
      ys.push_back(bytes_tensor(kText, step * 5 + b * 7 + 1, kContext));
    }
    Tensor ce = cross_entropy(model.forward(cat(xs)), cat(ys));
    // The MoE layers' aux losses of the forward call above, so only after it.
    Tensor loss = add(ce, total_aux_loss(model));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 20 == 0 || step == kSteps - 1) std::printf("train step %2d  loss %.3f\n", step, loss.item<double>());
  }
}

// Saves as `moegrad train` does (without the optimizer state).
void save(const DecoderLM& model, const std::string& path) {
  TensorMap tensors;
  for (const auto& [name, t] : model.named_parameters()) tensors["model." + name] = t;
  save_safetensors(path, tensors, {{"format", "pt"}, {"producer", "moegrad example"}});
}

// Copies the "model." tensors of a checkpoint into `model`. strict: every
// parameter must be in the file and nothing else; shapes and dtypes must
// match. A mismatch throws moegrad::Error naming the parameter.
void load_into(DecoderLM& model, const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  std::map<std::string, Tensor> state;
  const std::string prefix = "model.";
  for (const auto& [name, t] : file.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) state[name.substr(prefix.size())] = t;
  model.load_state_dict(state, /*strict=*/true);
}

// Greedy decoding: always the most likely next byte.
std::string generate(const DecoderLM& model, std::string text, int64_t length) {
  for (int64_t i = 0; i < length; ++i) {
    const int64_t context = std::min<int64_t>(int64_t(text.size()), model.config.max_len);
    Tensor logits = model.forward(bytes_tensor(text, int64_t(text.size()) - context, context));  // [1, T, 256]
    text.push_back(char(argmax(logits.select(1, context - 1), -1).item<int64_t>()));
  }
  return text;
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return amax(abs(sub(a, b))).item<double>(); }

int list_file(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  for (const auto& [key, value] : file.metadata) std::printf("metadata %s = %s\n", key.c_str(), value.c_str());
  int64_t model_params = 0;
  for (const auto& [name, t] : file.tensors) {
    std::printf("%-48s %-4s %s\n", name.c_str(), dtype_name(t.dtype()), shape_str(t.shape()).c_str());
    if (name.compare(0, 6, "model.") == 0) model_params += t.numel();
  }
  std::printf("%zu tensors; %lld parameters under \"model.\"\n", file.tensors.size(), (long long)model_params);
  return 0;
}

int run() {
  std::shared_ptr<DecoderLM> trained = build_model(1);
  train(*trained);
  const std::string path = (std::filesystem::temp_directory_path() / "moegrad_tiny_lm.safetensors").string();
  save(*trained, path);
  std::printf("saved %s\n", path.c_str());

  std::shared_ptr<DecoderLM> loaded = build_model(2);  // other weights, until the file replaces them
  trained->eval();  // eval mode: no dropout, the MoE layers use their eval capacity
  loaded->eval();
  NoGradGuard no_grad;
  Tensor probe = bytes_tensor(kText, 0, kContext);
  const double before = max_abs_diff(trained->forward(probe), loaded->forward(probe));
  load_into(*loaded, path);
  const double after = max_abs_diff(trained->forward(probe), loaded->forward(probe));
  std::printf("largest logit difference: %.3g before loading, %.3g after\n", before, after);
  if (!(before > 0) || after != 0) {  // the file must be what made the two models agree
    std::fprintf(stderr, "load_checkpoint: the loaded model does not reproduce the saved one\n");
    return 1;
  }
  std::printf("the loaded model writes: \"%s\"\n", generate(*loaded, "the cat", 24).c_str());
  return 0;
}

int main(int argc, char** argv) {
  // moegrad reports bad input (a missing file, a corrupt checkpoint, a
  // mismatched parameter) as moegrad::Error and never aborts the program.
  try {
    return argc > 1 ? list_file(argv[1]) : run();
  } catch (const Error& e) {
    std::fprintf(stderr, "load_checkpoint: %s\n", e.what());
    return 1;
  }
}
