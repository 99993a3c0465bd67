// The `moegrad` command line. Subcommands so far:
//   demo   a short tour of what the toolkit computes today (the README's first command)
//   info   the build and runtime: version, BLAS kernel, threads, CUDA
// Training, evaluation and generation subcommands arrive with the model layers.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/indexing.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "core/runtime.h"

using namespace moegrad;

namespace {

// OpenBLAS chooses its kernel when it loads, before main runs, so the only way
// to give users the AVX-512 kernel by default is to set OPENBLAS_CORETYPE and
// start again. MOEGRAD_BLAS_CORE decides: unset or "auto" picks SkylakeX on
// AVX-512 CPUs even over an inherited OPENBLAS_CORETYPE (some environments
// export Haswell for every process); "keep" leaves the environment alone; any
// other value is passed to OpenBLAS as the kernel name.
void choose_blas_kernel(char** argv) {
  const char* choice = std::getenv("MOEGRAD_BLAS_CORE");
  std::string want = choice ? choice : "auto";
  if (want == "keep") return;
  if (want == "auto") {
    if (!cpu_has_avx512()) return;
    want = "SkylakeX";
  }
  const char* have = std::getenv("OPENBLAS_CORETYPE");
  if ((have && want == have) || std::getenv("MOEGRAD_REEXECUTED")) return;
  setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
  setenv("MOEGRAD_REEXECUTED", "1", 1);  // never loop, whatever OpenBLAS does with the name
  execv("/proc/self/exe", argv);
  // execv returned: keep running with the kernel already loaded.
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void print_info() {
  std::cout << "moegrad 0.1.0\n"
            << "  BLAS core:    " << blas_core_name() << " (OPENBLAS_CORETYPE="
            << (std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "unset")
            << "; MOEGRAD_BLAS_CORE=auto|keep|NAME chooses)\n"
            << "  BLAS threads: " << blas_num_threads() << "\n"
            << "  OMP threads:  " << omp_max_threads() << "\n"
            << "  CUDA:         " << cuda_device_count() << " GPU(s) visible; tensors on the GPU "
            << (cuda_is_available() ? "available" : "not in this build yet") << "\n";
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

}  // namespace

int main(int argc, char** argv) {
  choose_blas_kernel(argv);
  CLI::App app{"moegrad: mixture-of-experts training from scratch"};
  app.require_subcommand(1);

  auto* demo_cmd = app.add_subcommand("demo", "A short tour of the toolkit: tensors, routing, a GEMM");
  int64_t tokens = 4096, d_model = 512, experts = 8, k = 2;
  uint64_t seed = 0;
  demo_cmd->add_option("--tokens", tokens, "tokens to route")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  demo_cmd->add_option("--d-model", d_model, "token width")->check(CLI::Range(int64_t(1), int64_t(1) << 16));
  demo_cmd->add_option("--experts", experts, "number of experts")->check(CLI::Range(int64_t(1), int64_t(4096)));
  demo_cmd->add_option("--top-k", k, "experts per token")->check(CLI::Range(int64_t(1), int64_t(4096)));
  demo_cmd->add_option("--seed", seed, "random seed");
  auto* info_cmd = app.add_subcommand("info", "Print the build and runtime configuration");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*info_cmd) print_info();
    if (*demo_cmd) {
      if (k > experts) throw Error("demo: --top-k " + std::to_string(k) + " exceeds --experts " + std::to_string(experts));
      demo(tokens, d_model, experts, k, seed);
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
