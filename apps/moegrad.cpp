// The `moegrad` command line: flag parsing and dispatch only; the work is in
// the other files of apps/ (a library the tests call too).
//   train     train a language model (dense, SMoE, MH-MoE, THOR) on a text corpus
//   eval      validation loss, perplexity and routing metrics of a checkpoint
//   generate  sample text from a checkpoint
//   translate train | eval | decode: an encoder-decoder translation model
//             (THOR's task), its BLEU, and translating stdin
//   compare   train the model families on the same data and seeds; one table
//   plot      PNG plots of a run's loss curves and expert load
//   bench     time ops, layers and training steps (JSON lines; bench/compare.sh)
//   demo      a short tour of the toolkit
//   info      the build and runtime: version, BLAS kernel, threads, CUDA
// Bad input of any kind prints one line, "moegrad: error: ...", and exits
// with status 2; Ctrl-C during training saves a checkpoint and exits with 130.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "apps/bench.h"
#include "apps/checkpoint.h"
#include "apps/compare.h"
#include "apps/data.h"
#include "apps/evaluate.h"
#include "apps/model.h"
#include "apps/plot.h"
#include "apps/run_config.h"
#include "apps/train.h"
#include "apps/translate.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "core/runtime.h"
#include "nn/file.h"

using namespace moegrad;

namespace {

// OpenBLAS and OpenMP read their settings when they load, before main runs,
// so the only way to change them is to set the environment and start again
// (once). Two settings matter:
// - OPENBLAS_CORETYPE: MOEGRAD_BLAS_CORE decides. Unset or "auto" picks
//   SkylakeX on AVX-512 CPUs even over an inherited value (some environments
//   export Haswell for every process); "keep" leaves it alone; any other value
//   is passed to OpenBLAS as the kernel name.
// - OMP_WAIT_POLICY=PASSIVE unless set: OpenMP threads that spin between
//   loops steal the cores OpenBLAS's threads need; on a busy 2-core machine
//   training ran 3x faster with passive waiting (and no slower when idle).
void choose_runtime_env(char** argv) {
  if (std::getenv("MOEGRAD_REEXECUTED")) return;
  bool changed = false;
  const char* choice = std::getenv("MOEGRAD_BLAS_CORE");
  std::string want = choice ? choice : "auto";
  if (want == "auto") want = cpu_has_avx512() ? "SkylakeX" : "keep";
  const char* have = std::getenv("OPENBLAS_CORETYPE");
  if (want != "keep" && !(have && want == have)) {
    setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
    changed = true;
  }
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    changed = true;
  }
  if (!changed) return;
  setenv("MOEGRAD_REEXECUTED", "1", 1);  // never loop, whatever the libraries do with the values
  execv("/proc/self/exe", argv);
  // execv returned: keep running with the settings already loaded.
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void print_info() {
  std::cout << "moegrad 0.1.0\n"
            << "  BLAS core:    " << blas_core_name()
            << " (OPENBLAS_CORETYPE=" << (std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset")
            << "; MOEGRAD_BLAS_CORE=auto|keep|NAME chooses)\n"
            << "  BLAS threads: " << blas_num_threads() << "\n"
            << "  OMP threads:  " << omp_max_threads()
            << " (OMP_WAIT_POLICY=" << (std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "unset")
            << ")\n"
            << "  CUDA:         " << cuda_device_count() << " GPU(s) visible; tensors on the GPU "
            << (cuda_is_available() ? "available" : "unavailable (no GPU, or a build without CUDA)") << "\n";
}

// A toy router: what an MoE layer's first step computes, from the core ops.
void demo(int64_t tokens, int64_t d_model, int64_t experts, int64_t k, uint64_t seed) {
  print_info();
  Generator gen(seed);
  std::cout << "\n-- tensors and views --\n";
  Tensor x = arange(6, DType::f32).reshape({2, 3});
  std::cout << "x = arange(6).reshape({2,3})\n" << x << "\nx.t() (a view, no copy)\n" << x.t() << "\n";
  std::cout << "softmax(x, -1)\n" << softmax(x, -1) << "\n";

  std::cout << "\n-- routing " << tokens << " tokens of width " << d_model << " to " << experts << " experts, top-" << k
            << " --\n";
  Tensor h = randn({tokens, d_model}, DType::f32, &gen);
  Tensor gate = mul(randn({d_model, experts}, DType::f32, &gen), 1.0 / std::sqrt(double(d_model)));
  auto t0 = std::chrono::steady_clock::now();
  Tensor probs = softmax(matmul(h, gate), -1);
  auto [weights, chosen] = topk(probs, k, -1);
  Tensor load = bincount(chosen.reshape({-1}), experts);
  double ms = seconds_since(t0) * 1e3;
  std::cout << "tokens per expert: " << load << "\n"
            << "mean top-" << k << " gate weight: " << mean(weights).item<float>() << "\n"
            << "router time: " << ms << " ms\n";

  std::cout << "\n-- a GEMM at the SMoE expert size (4096x512 @ 512x2048) --\n";
  Tensor a = randn({4096, 512}, DType::f32, &gen), b = randn({512, 2048}, DType::f32, &gen);
  matmul(a, b);  // warm-up
  t0 = std::chrono::steady_clock::now();
  const int reps = 5;
  for (int i = 0; i < reps; ++i) matmul(a, b);
  double s = seconds_since(t0) / reps;
  std::cout << "sgemm: " << s * 1e3 << " ms, " << 2.0 * 4096 * 512 * 2048 / s / 1e9 << " GFLOP/s\n";
}

// A checkpoint's model with its weights, ready for eval or generate.
std::shared_ptr<DecoderLM> load_model(const app::Checkpoint& ck) {
  auto model = app::build_model(ck.config, ck.tokenizer.vocab_size());
  model->load_state_dict(ck.model);
  return model;
}

// --config FILE.json: its settings, under the flags given on the command line.
void apply_config_file(const CLI::App& cmd, const std::string& path, app::RunConfig& c) {
  std::ifstream in(path);
  MOEGRAD_CHECK(in.good(), "train", "cannot read --config '", path, "'");
  nlohmann::json file;
  try {
    file = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    MOEGRAD_CHECK(false, "train", "--config '", path, "' is not valid JSON: ", e.what());
  }
  app::from_json(file);  // unknown keys and wrong types fail here, naming the key
  nlohmann::json merged = app::to_json(c);
  for (const auto& item : file.items()) {
    std::string flag = "--" + item.key();
    for (char& ch : flag)
      if (ch == '_') ch = '-';
    if (cmd.get_option(flag)->count() == 0) merged[item.key()] = item.value();
  }
  c = app::from_json(merged);
}

}  // namespace

int main(int argc, char** argv) {
  choose_runtime_env(argv);
  CLI::App app{"moegrad: mixture-of-experts training from scratch"};
  app.require_subcommand(1);

  auto* train_cmd = app.add_subcommand("train", "Train a language model on a text corpus");
  app::RunConfig config;
  std::string config_file;
  bool resume = false;
  train_cmd->add_option("--config", config_file, "JSON file of settings (flags given override it)");
  train_cmd->add_flag("--resume", resume, "continue the run in --run-dir from its newest checkpoint");
  app::add_config_flags(*train_cmd, config);

  auto* eval_cmd = app.add_subcommand("eval", "Validation loss, perplexity and routing metrics of a checkpoint");
  std::string checkpoint, eval_data;
  int64_t eval_batches = 0;
  bool eval_json = false;
  eval_cmd->add_option("checkpoint", checkpoint, "run directory or checkpoint file")->required();
  eval_cmd->add_option("--data", eval_data, "text file to evaluate on (default: the run's validation split)");
  eval_cmd->add_option("--batches", eval_batches, "batches to evaluate (default: the run's eval_batches)");
  std::string eval_device = "cpu";
  eval_cmd->add_option("--device", eval_device, "cpu, or cuda[:N] in a CUDA build on a GPU machine")->capture_default_str();
  eval_cmd->add_flag("--json", eval_json, "print one JSON object instead of text");

  auto* gen_cmd = app.add_subcommand("generate", "Sample text from a checkpoint");
  std::string prompt;
  app::GenerateOptions gen;
  gen_cmd->add_option("checkpoint", checkpoint, "run directory or checkpoint file")->required();
  gen_cmd->add_option("--prompt", prompt, "text to continue");
  gen_cmd->add_option("--max-tokens", gen.max_tokens, "tokens to generate")->capture_default_str();
  gen_cmd->add_option("--temperature", gen.temperature, "sampling temperature (0: greedy)")->capture_default_str();
  gen_cmd->add_option("--top-k", gen.top_k, "sample among the k most likely (0: all)")->capture_default_str();
  gen_cmd->add_option("--seed", gen.seed, "sampling seed")->capture_default_str();

  auto* mt_cmd = app.add_subcommand("translate", "Train, score and run a translation model (encoder-decoder, BPE)");
  mt_cmd->require_subcommand(1);
  auto* mt_train = mt_cmd->add_subcommand("train", "Train a translation model on a parallel corpus, then score BLEU");
  app::TranslateConfig mt_config;
  app::add_translate_flags(*mt_train, mt_config);
  auto* mt_eval = mt_cmd->add_subcommand("eval", "Corpus BLEU of a translation run on its validation or test pairs");
  auto* mt_decode = mt_cmd->add_subcommand("decode", "Translate the lines of standard input, one per line");
  std::string mt_dir, mt_split = "test", mt_inference, mt_hypotheses, mt_device = "cpu";
  app::DecodeOptions mt_decoding;
  int64_t mt_limit = 0;
  bool mt_json = false;
  for (CLI::App* cmd : {mt_eval, mt_decode}) {
    cmd->add_option("run_dir", mt_dir, "directory of a `translate train` run")->required();
    cmd->add_option("--beam", mt_decoding.beam, "beam size (1: greedy)")->capture_default_str();
    cmd->add_option("--length-penalty", mt_decoding.length_penalty, "finished scores are divided by length^this")
        ->capture_default_str();
    cmd->add_option("--batch", mt_decoding.batch, "sentences decoded together")->capture_default_str();
    cmd->add_option("--device", mt_device, "cpu, or cuda[:N] in a CUDA build on a GPU machine")->capture_default_str();
    cmd->add_option("--thor-inference", mt_inference,
                    "THOR experts at inference: random_token | random_sequence | fixed | ensemble (default: the run's)");
  }
  mt_eval->add_option("--split", mt_split, "valid | test")->capture_default_str();
  mt_eval->add_option("--limit", mt_limit, "score the first n pairs only (0: all)")->capture_default_str();
  mt_eval->add_option("--hypotheses", mt_hypotheses, "also write the translations to this file, one per line");
  mt_eval->add_flag("--json", mt_json, "print one JSON object instead of text");

  auto* cmp_cmd = app.add_subcommand("compare", "Train the model families on the same data, steps and seeds; one table");
  app::CompareOptions cmp;
  cmp_cmd->add_option("--suite", cmp.suite, "lm | multilingual | translate")->capture_default_str();
  cmp_cmd->add_option("--arms", cmp.arms, "arms to run (default: all of the suite)")->delimiter(',');
  cmp_cmd->add_option("--seeds", cmp.seeds, "seeds per arm (1..n)")->capture_default_str();
  cmp_cmd->add_option("--seed", cmp.seed, "run this seed only (for parallel processes)");
  cmp_cmd->add_flag("--table", cmp.table_only, "run nothing; print the table of the runs done");
  cmp_cmd->add_flag("--quick", cmp.quick, "a size that runs in minutes on a CPU");
  cmp_cmd->add_option("--steps", cmp.steps, "steps per run (default: the size's)");
  cmp_cmd->add_option("--data", cmp.data, "corpus instead of the suite's (lm: a text; multilingual: the fortune files' root; translate: bible or a TSV file)");
  cmp_cmd->add_option("--device", cmp.device, "where the runs train: cpu, or cuda[:N] in a CUDA build on a GPU machine")->capture_default_str();
  cmp_cmd->add_option("--bleu-pairs", cmp.bleu_pairs, "translate: BLEU on the first n validation and test pairs (default: 200)");
  cmp_cmd->add_option("--out", cmp.out_dir, "directory of the runs, results.jsonl and table.md")->capture_default_str();

  auto* plot_cmd = app.add_subcommand("plot", "Write PNG plots of a run (loss curves, expert load) with gnuplot");
  std::string plot_dir;
  plot_cmd->add_option("run_dir", plot_dir, "run directory")->required();

  auto* bench_cmd = app.add_subcommand("bench", "Time ops, layers and training steps; one JSON line per measurement");
  app::BenchOptions bench;
  std::vector<std::string> bench_names;
  app::BenchCase custom{"custom", ""};
  bool bench_list = false;
  bench_cmd->add_option("cases", bench_names, "named cases to run (default: every case of the device; see --list)");
  bench_cmd->add_flag("--list", bench_list, "list the named cases and exit");
  bench_cmd->add_option("--device", bench.device, "cpu, or cuda[:N] in a CUDA build on a GPU machine")->capture_default_str();
  bench_cmd->add_option("--mode", bench.mode, "fwd | fwd+bwd | both")->capture_default_str();
  bench_cmd->add_option("--warmup", bench.warmup, "untimed runs first")->capture_default_str();
  bench_cmd->add_option("--repeats", bench.repeats, "timed runs; the median is reported")->capture_default_str();
  bench_cmd->add_option("--seed", bench.seed, "seed of the random inputs and weights")->capture_default_str();
  bench_cmd->add_option("--kind", custom.kind,
                        "time a custom size of this kind instead: gemm, softmax, layernorm, cross_entropy, attention, "
                        "dense, smoe, mhmoe, thor");
  bench_cmd->add_option("--tokens", custom.tokens, "custom: rows (tokens)");
  bench_cmd->add_option("--dim", custom.dim, "custom: model width (row length; classes for cross_entropy)");
  bench_cmd->add_option("--hidden", custom.hidden, "custom: FFN/expert hidden size (gemm: output columns)");
  bench_cmd->add_option("--experts", custom.experts, "custom: experts");
  bench_cmd->add_option("--top-k", custom.top_k, "custom: experts per token");
  bench_cmd->add_option("--heads", custom.heads, "custom: MH-MoE sub-tokens, or attention heads");
  bench_cmd->add_option("--seq", custom.seq, "custom: attention sequence length");
  bench_cmd->add_flag("--train", bench.train, "tokens/s of training steps of the default LM of each --models family");
  bench_cmd->add_option("--models", bench.models, "with --train: families to time")->delimiter(',')->capture_default_str();
  bench_cmd->add_option("--steps", bench.train_steps, "with --train: timed steps per model")->capture_default_str();

  auto* demo_cmd = app.add_subcommand("demo", "A short tour of the toolkit: tensors, routing, a GEMM");
  int64_t tokens = 4096, d_model = 512, experts = 8, k = 2;
  uint64_t seed = 0;
  demo_cmd->add_option("--tokens", tokens, "tokens to route")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  demo_cmd->add_option("--d-model", d_model, "token width")->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  demo_cmd->add_option("--experts", experts, "number of experts")->check(CLI::Range(int64_t(1), int64_t(4096)));
  demo_cmd->add_option("--top-k", k, "experts per token")->check(CLI::Range(int64_t(1), int64_t(4096)));
  demo_cmd->add_option("--seed", seed, "random seed");
  auto* info_cmd = app.add_subcommand("info", "Print the build and runtime configuration");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "moegrad: error: " << e.what() << " (see moegrad --help)\n";
    return 2;
  }
  try {
    if (*train_cmd) {
      if (!config_file.empty()) apply_config_file(*train_cmd, config_file, config);
      if (resume && train_cmd->get_option("--steps")->count() == 0) config.steps = 0;  // keep the run's budget
      if (resume && train_cmd->get_option("--nonfinite")->count() == 0) config.nonfinite.clear();  // keep the run's
      if (resume && train_cmd->get_option("--device")->count() == 0) config.device.clear();
      app::TrainResult r = app::train(config, resume, app::default_data_dir(), std::cout);
      if (r.interrupted) return 130;
      std::cout << "done: step " << r.step << ", validation loss " << r.valid_loss << ", perplexity " << r.valid_ppl
                << "\n";
    }
    if (*eval_cmd) {
      app::Checkpoint ck = app::load_checkpoint(checkpoint);
      const app::RunConfig& c = ck.config;
      app::EvalResult e = app::evaluate_checkpoint(ck, eval_data, eval_batches, eval_device);
      nlohmann::json j = {{"checkpoint", ck.sidecar_path},
                          {"step", ck.step},
                          {"loss", e.loss},
                          {"ppl", e.ppl},
                          {"tokens", e.tokens},
                          {"layers", app::layers_json(e.layers)}};
      if (eval_json) {
        std::cout << j.dump() << "\n";
      } else {
        std::cout << "checkpoint " << ck.sidecar_path << " (step " << ck.step << ", " << c.model << ")\n"
                  << "loss " << e.loss << "  perplexity " << e.ppl << "  over " << e.tokens << " tokens\n";
        for (const auto& l : j["layers"])
          std::cout << "MoE layer " << l["layer"] << ": tokens per expert " << l["tokens_per_expert"].dump()
                    << ", dropped " << l["dropped_fraction"] << ", entropy " << l["entropy"] << ", imbalance "
                    << l["load_imbalance"] << ", activation " << l["activation_per_unit"] << "\n";
      }
    }
    if (*gen_cmd) {
      app::Checkpoint ck = app::load_checkpoint(checkpoint);
      auto model = load_model(ck);
      std::cout << prompt << app::generate(*model, ck.tokenizer, prompt, gen) << "\n";
    }
    if (*mt_train) {
      app::TranslateResult r = app::translate_train(mt_config, std::cout);
      std::cout << "done: step " << r.step << ", validation loss " << r.valid_loss << ", BLEU "
                << r.valid_bleu.score << "\n";
    }
    if (*mt_eval || *mt_decode) {
      app::Translator t = app::load_translator(mt_dir, mt_device);
      if (!mt_inference.empty()) app::set_thor_inference(*t.model, mt_inference);
      if (*mt_decode) {
        std::vector<std::string> lines;
        for (std::string line; std::getline(std::cin, line);) lines.push_back(line);
        for (const std::string& out : t.translate(lines, mt_decoding)) std::cout << out << "\n";
      } else {
        MOEGRAD_CHECK(mt_split == "valid" || mt_split == "test", "translate eval", "--split must be valid or test, got '",
                      mt_split, "'");
        MOEGRAD_CHECK(mt_limit >= 0, "translate eval", "--limit must be >= 0, got ", mt_limit);
        app::ParallelSplit parts = app::load_pairs(t.config);
        std::vector<app::SentencePair>& pairs = mt_split == "valid" ? parts.valid : parts.test;
        if (mt_limit > 0 && int64_t(pairs.size()) > mt_limit) pairs.resize(size_t(mt_limit));
        std::vector<std::string> hyps;
        app::BleuScore bleu = t.bleu(pairs, mt_decoding, &hyps);
        if (!mt_hypotheses.empty()) {
          std::string text;
          for (const std::string& h : hyps) text += h + "\n";
          write_file_atomically("translate eval", mt_hypotheses, text);
        }
        if (mt_json) {
          std::cout << nlohmann::json{{"run_dir", mt_dir}, {"split", mt_split}, {"pairs", pairs.size()},
                                      {"beam", mt_decoding.beam}, {"bleu", bleu.score}, {"bp", bleu.bp},
                                      {"ratio", bleu.ratio}, {"precisions", bleu.precisions}}
                           .dump()
                    << "\n";
        } else {
          std::cout << mt_split << " (" << pairs.size() << " pairs, beam " << mt_decoding.beam << "): " << bleu.str()
                    << "\n";
        }
      }
    }
    if (*cmp_cmd) app::run_compare(cmp, std::cout);
    if (*plot_cmd) {
      for (const std::string& f : app::plot_run(plot_dir).files) std::cout << "wrote " << f << "\n";
    }
    if (*bench_cmd) {
      if (bench_list) {
        for (const app::BenchCase& c : app::bench_cases()) std::cout << c.name << "  (" << c.kind << ")\n";
        return 0;
      }
      MOEGRAD_CHECK(custom.kind.empty() || bench_names.empty(), "bench", "give named cases or --kind, not both");
      for (const std::string& name : bench_names) bench.cases.push_back(app::find_bench_case(name));
      if (!custom.kind.empty()) bench.cases.push_back(custom);
      app::run_bench(bench, std::cout);
    }
    if (*info_cmd) print_info();
    if (*demo_cmd) {
      if (k > experts)
        throw Error("demo: --top-k " + std::to_string(k) + " exceeds --experts " + std::to_string(experts));
      demo(tokens, d_model, experts, k, seed);
    }
  } catch (const std::exception& e) {
    std::cerr << "moegrad: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
