// Checkpoints of a run: everything needed to continue it exactly.
//
//   RUN_DIR/checkpoints/step-00000200.safetensors   model weights ("model.<name>") and
//                                                   optimizer state ("optim.<name>")
//   RUN_DIR/checkpoints/step-00000200.json          the sidecar: step, config, tokenizer,
//                                                   random state (default, data and MoE layer generators)
//
// Both files are written atomically, the tensors first: a sidecar exists only
// for complete checkpoints, so the newest sidecar names the checkpoint to
// resume from. The weights file is plain safetensors, readable by PyTorch's
// and Hugging Face's tools.
#pragma once

#include <string>
#include <vector>

#include "apps/data.h"
#include "apps/run_config.h"
#include "core/random.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/transformer.h"

namespace moegrad::app {

struct RandomState {
  Generator global;                     // default_generator(): init and dropout
  Generator data;                       // the training windows
  std::vector<uint64_t> layer_offsets;  // the MoE layers' generators (their seeds come from the config)
};

// Saves the checkpoint of `step`, then deletes all but the newest `keep`
// and what killed saves left behind (weights without a sidecar, temporaries).
// Returns the sidecar's path.
std::string save_checkpoint(const std::string& run_dir, int64_t step, const RunConfig& config,
                            const Tokenizer& tokenizer, const DecoderLM& model, const Optimizer& optimizer,
                            const RandomState& random, int64_t keep);

struct Checkpoint {
  std::string sidecar_path;
  std::string weights_file;  // as the sidecar names it, relative to the sidecar's directory
  int64_t step = 0;
  RunConfig config;
  Tokenizer tokenizer = Tokenizer::byte_level();
  RandomState random;
  TensorMap model, optimizer;  // by name, without their prefixes
};

// `path` is a run directory (its newest complete checkpoint), a checkpoints
// directory, or a sidecar (.json) or weights (.safetensors) file. Every
// failure (no checkpoint, a missing or corrupt file, a sidecar that does not
// match its weights) is a moegrad::Error naming the file.
Checkpoint load_checkpoint(const std::string& path);

// The sidecar part of load_checkpoint, from the sidecar's text: step, config
// (validated), tokenizer, random state and weights file name; the tensors stay
// empty. `sidecar_path` names the source in errors. Every failure (bad JSON, a
// missing or mistyped field, a config or tokenizer that does not validate) is
// a moegrad::Error starting "checkpoint: '<sidecar_path>'".
Checkpoint parse_sidecar(const std::string& text, const std::string& sidecar_path);

// Sidecars of complete checkpoints in run_dir, oldest first.
std::vector<std::string> list_checkpoints(const std::string& run_dir);

}  // namespace moegrad::app
