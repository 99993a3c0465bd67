// Trains a small MLP to tell two interleaved spirals apart: the pieces of
// every training loop (a Module, a loss, backward, an optimizer) with nothing
// else around them. Exits with status 1 if the loss did not fall below
// kTargetLoss, so CI can run it as a check of an installed moegrad.
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/elementwise.h"  // tanh, eq
#include "core/factory.h"      // from_vector, rand, randn
#include "core/graph.h"        // NoGradGuard
#include "core/reduce.h"       // argmax, sum
#include "nn/linear.h"
#include "nn/loss.h"           // cross_entropy
#include "nn/optim.h"          // AdamW

using namespace moegrad;

constexpr int kSteps = 400;
constexpr double kTargetLoss = 0.1;  // this run ends near 0.03
constexpr double kPi = 3.14159265358979323846;

// register_module names each layer, so parameters() and state_dict() (for
// optimizers and checkpoints) see the whole model.
struct Mlp : Module {
  std::shared_ptr<Linear> fc1, fc2, fc3;
  explicit Mlp(int64_t hidden)
      : fc1(register_module("fc1", std::make_shared<Linear>(2, hidden))),
        fc2(register_module("fc2", std::make_shared<Linear>(hidden, hidden))),
        fc3(register_module("fc3", std::make_shared<Linear>(hidden, 2))) {}

  // x [N, 2] -> logits [N, 2]
  Tensor forward(const Tensor& x) const { return fc3->forward(tanh(fc2->forward(tanh(fc1->forward(x))))); }
};

struct Dataset {
  Tensor x;  // f32 [2n, 2]: points
  Tensor y;  // i64 [2n]: which spiral, 0 or 1
};

// Spiral c is r = t, angle = 3 pi t + c pi for t in [0, 1), with a little
// noise. The random draws come from a seeded moegrad Generator, so every run
// sees the same points.
Dataset two_spirals(int64_t n) {
  Generator gen(7);
  std::vector<float> t = rand({2 * n}, DType::f32, &gen).to_vector<float>();
  std::vector<float> noise = randn({2 * n, 2}, DType::f32, &gen).to_vector<float>();
  std::vector<float> points(4 * n);
  std::vector<int64_t> labels(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i) {
    const int64_t c = i % 2;
    const double angle = 3 * kPi * t[i] + c * kPi;
    points[2 * i] = float(t[i] * std::cos(angle) + 0.02 * noise[2 * i]);
    points[2 * i + 1] = float(t[i] * std::sin(angle) + 0.02 * noise[2 * i + 1]);
    labels[i] = c;
  }
  return {from_vector(points, {2 * n, 2}), from_vector(labels)};
}

int main() {
  manual_seed(0);  // the default generator draws the initial weights
  Dataset data = two_spirals(200);
  Mlp model(64);
  AdamW opt(model.parameters(), /*lr=*/1e-2, 0.9, 0.999, 1e-8, /*weight_decay=*/0);

  double first = 0, last = 0;
  for (int step = 0; step < kSteps; ++step) {
    Tensor loss = cross_entropy(model.forward(data.x), data.y);  // 0-d
    opt.zero_grad();
    loss.backward();
    opt.step();
    last = loss.item<double>();
    if (step == 0) first = last;
    if (step % 50 == 0 || step == kSteps - 1) std::printf("step %3d  loss %.4f\n", step, last);
  }

  // Evaluation needs no graph.
  NoGradGuard no_grad;
  Tensor predicted = argmax(model.forward(data.x), 1);  // i64 [2n]
  const int64_t correct = sum(eq(predicted, data.y)).item<int64_t>();
  std::printf("loss %.4f -> %.4f, accuracy %lld/%lld\n", first, last, (long long)correct,
              (long long)data.y.numel());
  if (!(last < kTargetLoss)) {  // also catches NaN
    std::fprintf(stderr, "mlp: the loss did not fall below %g\n", kTargetLoss);
    return 1;
  }
  return 0;
}
