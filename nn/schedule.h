// Learning-rate schedules: pure functions of the step number, so a resumed
// run (which restores Optimizer::steps()) gets exactly the same rates.
// Steps count from 0: lr(0) is the rate of the first optimizer step.
//
//   WarmupCosine schedule(/*peak_lr=*/6e-4, /*warmup_steps=*/700, /*total_steps=*/19073, /*min_lr=*/6e-5);
//   opt.set_lr(schedule.lr(opt.steps()));  // before each opt.step()
#pragma once

#include <cstdint>

namespace moegrad {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The learning rate of step `step` (>= 0; a negative step throws).
  virtual double lr(int64_t step) const = 0;
};

// lr(step) = lr for every step. Requires lr >= 0.
class ConstantLr : public LrSchedule {
 public:
  explicit ConstantLr(double lr);
  double lr(int64_t step) const override;

 private:
  double lr_;
};

// Linear warmup, then cosine decay to min_lr, as llm.c's train_gpt2:
//   step < warmup:          lr = peak * (step + 1) / warmup
//   warmup <= step < total: r = (step - warmup) / (total - warmup)
//                           lr = min_lr + 0.5 * (1 + cos(pi * r)) * (peak - min_lr)
//   step >= total:          lr = min_lr
// So lr(warmup - 1) = lr(warmup) = peak and lr(total) = min_lr; warmup = 0
// starts at peak. Requires 0 <= min_lr <= peak and 0 <= warmup <= total.
class WarmupCosine : public LrSchedule {
 public:
  WarmupCosine(double peak_lr, int64_t warmup_steps, int64_t total_steps, double min_lr = 0);
  double lr(int64_t step) const override;

 private:
  double peak_, min_;
  int64_t warmup_, total_;
};

// Linear warmup, then decay with the inverse square root of the step, as
// fairseq's inverse_sqrt:
//   step < warmup:  lr = peak * (step + 1) / warmup
//   step >= warmup: lr = peak * sqrt(warmup) / sqrt(step)
// so lr(warmup - 1) = lr(warmup) = peak and lr(4 * warmup) = peak / 2.
// Differs from fairseq only in the warmup, which starts at peak / warmup
// (fairseq starts at 0) like WarmupCosine. Requires peak >= 0, warmup >= 1.
class InverseSqrt : public LrSchedule {
 public:
  InverseSqrt(double peak_lr, int64_t warmup_steps);
  double lr(int64_t step) const override;

 private:
  double peak_;
  int64_t warmup_;
};

}  // namespace moegrad
