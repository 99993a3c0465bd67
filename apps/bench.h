// `moegrad bench`: how fast ops, layers and whole training steps run, as one
// JSON line per measurement. bench/compare.sh sets these lines beside the
// same measurements of PyTorch eager (bench/torch_ref.py).
//
// Method (shared/BENCHMARKS.md): inputs random normal, never zeros; each
// measurement runs `warmup` times untimed, then `repeats` times timed, and
// reports the median and the fastest in milliseconds. Useful FLOPs count the
// GEMMs only (2*M*N*K each; a backward does twice its forward), at full
// capacity. Every run first measures the GEMM ceiling of its device (a
// 2048^3 f32 matmul, best of 5) and reports each layer's achieved GFLOP/s
// as a fraction of it, since a figure only counts beside a ceiling or a peer
// measured in the same run.
//
// MoE layers run dropless (capacity factor 0) so they do exactly the work of
// the peer's plain loop over experts; the loss timed is mean(out^2) plus the
// layer's aux loss (0.01 * load balancing), backpropagated into the input and
// every weight.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace moegrad::app {

// One size to time. `kind` says what runs and how the sizes read:
//   gemm:          [tokens, dim] @ [dim, hidden]
//   softmax, layernorm: rows = tokens, each of dim
//   cross_entropy: tokens rows of dim classes
//   attention:     causal self-attention, tokens = batch * seq, dim, heads
//   dense:         FFN dim -> hidden -> dim, GELU, no bias
//   smoe, mhmoe:   MoE layer: experts, top_k, expert hidden (mhmoe: heads sub-tokens)
//   thor:          THOR layer in training: one random expert of `experts`
struct BenchCase {
  std::string name;  // "cpu-smoe", or "custom" for sizes given by flags
  std::string kind;
  int64_t tokens = 0, dim = 0, hidden = 0, experts = 0, top_k = 0, heads = 0, seq = 0;
};

// The named cases: every layer config of shared/BENCHMARKS.md, plus the ops,
// attention and THOR at the same sizes. Names start with the device kind
// they are sized for (cpu-, gpu-).
const std::vector<BenchCase>& bench_cases();
// The named case; throws moegrad::Error listing the names when unknown.
BenchCase find_bench_case(const std::string& name);

struct BenchOptions {
  std::vector<BenchCase> cases;  // empty: every named case of the device's kind
  std::string device = "cpu";
  std::string mode = "both";  // fwd | fwd+bwd | both
  int warmup = 2;
  int repeats = 5;
  // --train: tokens/s of training steps of the default LM of each model
  // family (apps/run_config.h's defaults, dropless, random tokens).
  bool train = false;
  std::vector<std::string> models = {"dense", "smoe", "mhmoe", "thor"};
  int64_t train_steps = 10;  // timed steps per model, after 2 untimed
  uint64_t seed = 0;
};

// Throws moegrad::Error naming the flag for a bad option.
void check_bench_options(const BenchOptions& o);

// Runs the benchmark and writes its JSON lines to out (one per line, flushed
// as each measurement ends).
void run_bench(const BenchOptions& o, std::ostream& out);

}  // namespace moegrad::app
