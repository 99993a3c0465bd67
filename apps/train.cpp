#include "apps/train.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "apps/checkpoint.h"
#include "apps/data.h"
#include "apps/evaluate.h"
#include "apps/model.h"
#include "core/copy.h"
#include "core/device.h"
#include "core/elementwise.h"
#include "core/graph.h"
#include "core/reduce.h"
#include "moe/layer.h"
#include "nn/file.h"
#include "nn/optim.h"
#include "nn/schedule.h"

namespace moegrad::app {

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_sigint(int) { g_stop = 1; }

// Installs the SIGINT handler for train()'s scope, restoring the old one after.
struct SigintScope {
  SigintScope() {
    g_stop = 0;
    previous = std::signal(SIGINT, on_sigint);
  }
  ~SigintScope() { std::signal(SIGINT, previous); }
  void (*previous)(int);
};

// metrics.jsonl, appended one record per line and flushed, so a killed run
// keeps every line it wrote (the reader skips a torn last line).
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path) : out_(path, std::ios::app) {
    MOEGRAD_CHECK(out_.good(), "train", "cannot open '", path, "' for writing");
  }
  void write(const nlohmann::json& record) { out_ << record.dump() << "\n" << std::flush; }

 private:
  std::ofstream out_;
};

// On resume, the records after the checkpoint's step belong to the steps
// that will be run again: drop them (atomically).
void truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in.good()) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j.value("step", int64_t(0)) > step) continue;
    } catch (const std::exception&) {
      continue;  // a torn last line of a killed run
    }
    kept += line + "\n";
  }
  write_file_atomically("train", path, kept);
}

std::string fmt(double v, int precision = 4) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}

// x * 0 is 0 for every finite x and NaN for NaN and +-Inf: the sum is 0
// exactly when every element is finite, whatever their size.
bool all_finite(const Tensor& t) { return sum(mul(t.detach(), 0.0)).item<double>() == 0; }

// Why a step must not be applied ("" when it may). The clipping pass has
// summed the squares of every gradient, and a finite norm proves every
// element finite: only a bad step pays for the search by name.
std::string nonfinite_reason(double loss, double grad_norm, const NamedTensors& params) {
  auto text = [](double v) { return std::isnan(v) ? std::string("nan") : v > 0 ? "inf" : "-inf"; };
  if (!std::isfinite(loss)) return "non-finite loss (" + text(loss) + ")";
  if (std::isfinite(grad_norm)) return "";
  NoGradGuard no_grad;
  for (const auto& [name, p] : params)
    if (p.grad().defined() && !all_finite(p.grad())) return "non-finite gradient in " + name;
  return "non-finite gradient norm (" + text(grad_norm) + "): the squares overflow, every element is finite";
}

std::string duration(double seconds) {
  int64_t s = int64_t(seconds + 0.5);
  std::ostringstream os;
  if (s >= 3600) os << s / 3600 << "h";
  os << std::setw(s >= 3600 ? 2 : 1) << std::setfill('0') << (s / 60) % 60 << "m" << std::setw(2) << s % 60 << "s";
  return os.str();
}

}  // namespace

void request_stop() { g_stop = 1; }

TrainResult train(RunConfig c, bool resume, const std::string& data_dir, std::ostream& out, const TrainHooks& hooks) {
  // ---- everything that can fail on bad input, before any write ----
  Checkpoint ck;
  if (resume) {
    int64_t steps = c.steps;
    const std::string nonfinite = c.nonfinite, device = c.device;
    ck = load_checkpoint(c.run_dir);
    std::string run_dir = c.run_dir;
    c = ck.config;
    c.run_dir = run_dir;
    c.steps = std::max(c.steps, steps);  // steps <= 0: the run's own budget
    // A policy, not part of the model: a run stopped by a NaN may go on skipping.
    if (!nonfinite.empty()) c.nonfinite = nonfinite;
    if (!device.empty()) c.device = device;  // a run may move between machines
    validate(c);
  } else {
    validate(c);
    MOEGRAD_CHECK(list_checkpoints(c.run_dir).empty() && !fs::exists(fs::path(c.run_dir) / "metrics.jsonl"), "train",
                  "'", c.run_dir, "' already holds a run: continue it with --resume, or pick another --run-dir");
  }
  const Device device = usable_device(c.device, "train");
  const std::string text = read_text_file(corpus_path(c.data, data_dir));
  Tokenizer tokenizer = resume                  ? ck.tokenizer
                        : c.tokenizer == "byte" ? Tokenizer::byte_level()
                                                : Tokenizer::build(parse_tokenizer_kind(c.tokenizer), text);
  TokenSplit split = split_tokens(tokenizer.encode(text), c.valid_fraction, c.seq_len);
  std::shared_ptr<DecoderLM> model = build_model(c, tokenizer.vocab_size());
  model->to(device);  // before the optimizer, which keeps its state where the parameters are
  std::vector<Tensor> params = model->parameters();
  AdamW opt(params, c.lr, 0.9, 0.95, 1e-8, c.weight_decay);
  WarmupCosine schedule(c.lr, c.warmup, c.steps, c.min_lr);
  Generator data_gen(c.seed + 7919);
  std::vector<Generator*> layer_gens = layer_generators(*model);
  int64_t step = 0;
  if (resume) {
    model->load_state_dict(ck.model);
    opt.load_state_dict(ck.optimizer);
    MOEGRAD_CHECK(ck.random.layer_offsets.size() == layer_gens.size(), "train", "'", ck.sidecar_path, "' has ",
                  ck.random.layer_offsets.size(), " MoE layer generators; the model has ", layer_gens.size());
    default_generator() = ck.random.global;
    data_gen = ck.random.data;
    for (size_t i = 0; i < layer_gens.size(); ++i) layer_gens[i]->set_offset(ck.random.layer_offsets[i]);
    step = ck.step;
    MOEGRAD_CHECK(opt.steps() == step, "train", "'", ck.sidecar_path, "': the optimizer state is at step ", opt.steps(),
                  ", the sidecar at ", step);
  }
  std::vector<std::pair<Tensor, Tensor>> valid = eval_batches(split.valid, c.batch, c.seq_len, c.eval_batches);
  for (auto& [x, y] : valid) {
    x = x.to(device);
    y = y.to(device);
  }
  TrainResult result;
  if (step >= c.steps) {  // a finished run: nothing to train, nothing to write
    out << "moegrad train: '" << c.run_dir << "' is already at step " << step << " of " << c.steps
        << "; raise --steps to continue it" << std::endl;
    EvalResult e = evaluate(*model, valid);
    result.step = step;
    result.valid_loss = e.loss;
    result.valid_ppl = e.ppl;
    return result;
  }

  // ---- the run's files ----
  std::error_code ec;
  fs::create_directories(c.run_dir, ec);
  MOEGRAD_CHECK(!ec, "train", "cannot create '", c.run_dir, "': ", ec.message());
  remove_stale_temporaries(c.run_dir);  // of config.json and metrics.jsonl, from a killed run
  const std::string metrics_path = (fs::path(c.run_dir) / "metrics.jsonl").string();
  if (resume) truncate_metrics(metrics_path, step);
  nlohmann::json effective = to_json(c);
  write_file_atomically("train", (fs::path(c.run_dir) / "config.json").string(), effective.dump(2) + "\n");
  MetricsWriter log(metrics_path);

  const bool tty = &out == &std::cout && ::isatty(STDOUT_FILENO);
  auto snapshot = [&] {
    RandomState r{default_generator(), data_gen, {}};
    for (Generator* g : layer_gens) r.layer_offsets.push_back(g->offset());
    return r;
  };
  const NamedTensors named = model->named_parameters();
  auto last_checkpoint = [&] {
    std::vector<std::string> all = list_checkpoints(c.run_dir);
    return all.empty() ? std::string("none was saved yet") : all.back() + " is intact";
  };
  auto checkpoint = [&] {
    {
      NoGradGuard no_grad;
      for (const auto& [name, p] : named)
        MOEGRAD_CHECK(all_finite(p), "train", "step ", step, ": non-finite weights in ", name,
                      " after the update; not saved (the last checkpoint: ", last_checkpoint(), ")");
    }
    std::string path = save_checkpoint(c.run_dir, step, c, tokenizer, *model, opt, snapshot(), c.keep_checkpoints);
    log.write({{"kind", "event"}, {"step", step}, {"event", "checkpoint"}, {"path", path}});
    return path;
  };
  auto validate_now = [&] {
    EvalResult e = evaluate(*model, valid);
    result.valid_loss = e.loss;
    result.valid_ppl = e.ppl;
    nlohmann::json layers = layers_json(e.layers);
    log.write({{"kind", "valid"},
               {"step", step},
               {"loss", e.loss},
               {"ppl", e.ppl},
               {"tokens", e.tokens},
               {"layers", layers}});
    if (tty) out << "\n";
    out << "valid  step " << step << "  loss " << fmt(e.loss) << "  ppl " << fmt(e.ppl, 2);
    for (const auto& l : layers)
      out << "  | L" << l["layer"].get<int64_t>() << " act " << fmt(l["activation_per_unit"].get<double>(), 2)
          << " imb " << fmt(l["load_imbalance"].get<double>(), 2) << " drop "
          << fmt(l["dropped_fraction"].get<double>(), 3);
    out << std::endl;
  };

  out << "moegrad train: " << c.model << ", " << model->num_parameters() << " parameters, " << split.train.size()
      << " training tokens (" << tokenizer_kind_name(tokenizer.kind()) << ", vocab " << tokenizer.vocab_size() << "), "
      << c.steps << " steps of " << c.batch << "x" << c.seq_len << (resume ? ", resumed at step " : "")
      << (resume ? std::to_string(step) : "") << " -> " << c.run_dir << std::endl;

  SigintScope sigint;
  const auto t_start = std::chrono::steady_clock::now();
  const int64_t first_step = step;
  int64_t skips_in_a_row = 0;
  // Ctrl-C: a checkpoint (unless this step saved one) and out.
  auto interrupt = [&](bool saved) {
    if (tty) out << "\n";
    std::string path = saved ? list_checkpoints(c.run_dir).back() : checkpoint();
    out << "interrupted at step " << step << ": saved " << path << "; continue with --resume" << std::endl;
    result.step = step;
    result.interrupted = true;
    return result;
  };
  while (step < c.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    opt.set_lr(schedule.lr(step));
    auto [x_cpu, y_cpu] = sample_batch(split.train, c.batch, c.seq_len, data_gen);  // drawn on the CPU: one stream
    Tensor x = x_cpu.to(device), y = y_cpu.to(device);
    Tensor aux;
    Tensor loss = training_loss(*model, c, x, y, &aux);  // THOR: two passes, each with its own draws
    opt.zero_grad();
    loss.backward();
    if (hooks.after_backward) hooks.after_backward(step + 1, named);
    const double loss_v = cast(loss.detach(), DType::f64).item<double>();
    double grad_norm = clip_grad_norm(params, c.clip > 0 ? c.clip : 1e30);
    if (std::string why = nonfinite_reason(loss_v, grad_norm, named); !why.empty()) {
      // Nothing of this step is applied; with skip, the next batch retries it.
      const bool skip = c.nonfinite == "skip" && ++skips_in_a_row < kMaxSkipsInARow;
      log.write({{"kind", "event"},
                 {"step", step + 1},
                 {"event", skip ? "skipped" : "stopped"},
                 {"reason", why},
                 {"bad_in_a_row", std::max<int64_t>(skips_in_a_row, 1)}});
      MOEGRAD_CHECK(c.nonfinite == "skip", "train", "step ", step + 1, ": ", why,
                    "; stopped (--nonfinite stop) with nothing of the step applied or saved; the last checkpoint: ",
                    last_checkpoint(), ". Lower --lr or raise --warmup, or resume with --nonfinite skip");
      MOEGRAD_CHECK(skip, "train", "step ", step + 1, ": ", why, "; ", kMaxSkipsInARow,
                    " bad steps in a row, stopped (--nonfinite skip); the last checkpoint: ", last_checkpoint(),
                    ". Lower --lr or raise --warmup");
      if (tty) out << "\n";
      out << "step " << step + 1 << ": skipped, " << why << " (" << skips_in_a_row << " in a row)" << std::endl;
      if (g_stop) return interrupt(false);
      continue;
    }
    skips_in_a_row = 0;
    opt.step();
    ++step;
    if (hooks.after_step) hooks.after_step(step, loss_v);

    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (step % c.log_every == 0 || step == c.steps) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      double tok_s = double((step - first_step) * c.batch * c.seq_len) / std::max(elapsed, 1e-9);
      double eta = elapsed / double(step - first_step) * double(c.steps - step);
      nlohmann::json rec = {{"kind", "train"},        {"step", step}, {"loss", loss_v},       {"lr", opt.lr()},
                            {"grad_norm", grad_norm}, {"ms", ms},     {"tokens_per_s", tok_s}};
      if (aux.defined()) rec["aux_loss"] = cast(aux.detach(), DType::f64).item<double>();
      log.write(rec);
      std::ostringstream line;
      line << "step " << step << "/" << c.steps << "  loss " << fmt(loss_v) << "  gnorm " << fmt(grad_norm, 3)
           << "  lr " << std::scientific << std::setprecision(2) << opt.lr() << std::fixed << "  " << int64_t(tok_s)
           << " tok/s  ETA " << duration(eta);
      if (tty) {
        const int width = 24;
        int filled = int(double(width) * double(step) / double(c.steps));
        out << "\r[" << std::string(size_t(filled), '#') << std::string(size_t(width - filled), '.') << "] "
            << line.str() << "   " << std::flush;
      } else {
        out << line.str() << std::endl;
      }
    }
    if (step == c.steps) break;
    if (c.eval_every > 0 && step % c.eval_every == 0) validate_now();
    bool saved = c.checkpoint_every > 0 && step % c.checkpoint_every == 0;
    if (saved) checkpoint();
    if (g_stop) return interrupt(saved);  // after this step's validation, so a resumed run repeats nothing
  }
  validate_now();
  checkpoint();
  result.step = step;
  return result;
}

}  // namespace moegrad::app
