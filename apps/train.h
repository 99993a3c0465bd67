// `moegrad train`: the training loop of a run.
//
// Each step draws `batch` random windows of the training text, runs the
// model (twice for THOR, whose loss compares the two passes), adds the MoE
// layers' aux losses, clips the gradient norm and takes an AdamW step on a
// warm-up + cosine schedule. Every log_every steps a line goes to the
// terminal and a record to RUN_DIR/metrics.jsonl; every eval_every steps the
// validation loss, perplexity and routing metrics; every checkpoint_every
// steps (and at the end, and on Ctrl-C) a checkpoint (apps/checkpoint.h).
//
// Resuming loads the newest checkpoint and continues exactly: on the CPU the
// continued run's losses are bit for bit those of an uninterrupted run.
//
// c.device (--device cuda[:N]) trains on a GPU: the model and the optimizer's
// state live there, and each batch is drawn on the CPU (one data stream on
// every device) and copied over. Checkpoints hold CPU tensors, so a run can
// resume on another device.
//
// A NaN or Inf in the loss or in any gradient is caught after backward, before
// the update (a finite gradient norm proves every element finite, so only a
// bad step pays for the search that names the parameter). With nonfinite
// "stop" train() throws "step N: non-finite gradient in <name>" (or "...
// loss") having applied and saved nothing; with "skip" the update is dropped,
// an event goes to metrics.jsonl and the step is retried on the next batch,
// until kMaxSkipsInARow bad steps in a row stop the run the same way. A
// checkpoint is never written from non-finite weights.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>

#include "apps/run_config.h"
#include "nn/module.h"

namespace moegrad::app {

struct TrainResult {
  int64_t step = 0;          // steps done in all (counting a resumed run's earlier ones)
  bool interrupted = false;  // stopped by Ctrl-C (SIGINT) after saving a checkpoint
  double valid_loss = 0;     // of the last validation
  double valid_ppl = 0;
};

struct TrainHooks {
  // Called after every optimizer step with its number (1-based) and loss.
  std::function<void(int64_t step, double loss)> after_step;
  // Called after every backward pass, before its gradients are checked,
  // clipped and applied, with the number the step will have and the model's
  // parameters (grad() set): tests inject non-finite gradients here.
  std::function<void(int64_t step, const NamedTensors& params)> after_backward;
};

// With nonfinite "skip", this many bad steps in a row stop the run.
constexpr int64_t kMaxSkipsInARow = 10;

// Trains c (or, with resume, continues the run in c.run_dir with its saved
// settings; c.steps may raise the step budget, and 0 keeps the run's;
// c.nonfinite and c.device replace the run's, and "" keeps them). A
// resumed run that has already done its steps is left as it is. data_dir is where named
// corpora live. Everything is checked before anything is written: a bad
// setting, a missing corpus, a run directory that already holds a run
// (without resume) or a corrupt checkpoint throws moegrad::Error and leaves
// the files as they were.
TrainResult train(RunConfig c, bool resume, const std::string& data_dir, std::ostream& out,
                  const TrainHooks& hooks = {});

// Asks a running train() to save a checkpoint and stop after the current
// step: what SIGINT does.
void request_stop();

}  // namespace moegrad::app
