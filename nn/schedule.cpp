// Learning-rate schedules: the formulas of nn/schedule.h, one function each.
#include "nn/schedule.h"

#include <cmath>

#include "core/error.h"

namespace moegrad {

namespace {
constexpr double kPi = 3.14159265358979323846;

void check_step(const char* name, int64_t step) {
  MOEGRAD_CHECK(step >= 0, name, "step must be >= 0, got ", step);
}
}  // namespace

ConstantLr::ConstantLr(double lr) : lr_(lr) {
  MOEGRAD_CHECK(lr >= 0 && std::isfinite(lr), "ConstantLr", "lr must be >= 0 and finite, got ", lr);
}

double ConstantLr::lr(int64_t step) const {
  check_step("ConstantLr", step);
  return lr_;
}

WarmupCosine::WarmupCosine(double peak_lr, int64_t warmup_steps, int64_t total_steps, double min_lr)
    : peak_(peak_lr), min_(min_lr), warmup_(warmup_steps), total_(total_steps) {
  MOEGRAD_CHECK(peak_lr >= 0 && std::isfinite(peak_lr), "WarmupCosine", "peak_lr must be >= 0 and finite, got ",
                peak_lr);
  MOEGRAD_CHECK(min_lr >= 0 && min_lr <= peak_lr, "WarmupCosine", "min_lr must be in [0, peak_lr = ", peak_lr,
                "], got ", min_lr);
  MOEGRAD_CHECK(warmup_steps >= 0, "WarmupCosine", "warmup_steps must be >= 0, got ", warmup_steps);
  MOEGRAD_CHECK(total_steps >= warmup_steps, "WarmupCosine", "total_steps must be >= warmup_steps = ",
                warmup_steps, ", got ", total_steps);
}

double WarmupCosine::lr(int64_t step) const {
  check_step("WarmupCosine", step);
  if (step < warmup_) return peak_ * double(step + 1) / double(warmup_);
  if (step >= total_) return min_;
  const double r = double(step - warmup_) / double(total_ - warmup_);
  return min_ + 0.5 * (1 + std::cos(kPi * r)) * (peak_ - min_);
}

InverseSqrt::InverseSqrt(double peak_lr, int64_t warmup_steps) : peak_(peak_lr), warmup_(warmup_steps) {
  MOEGRAD_CHECK(peak_lr >= 0 && std::isfinite(peak_lr), "InverseSqrt", "peak_lr must be >= 0 and finite, got ",
                peak_lr);
  MOEGRAD_CHECK(warmup_steps >= 1, "InverseSqrt", "warmup_steps must be >= 1, got ", warmup_steps);
}

double InverseSqrt::lr(int64_t step) const {
  check_step("InverseSqrt", step);
  if (step < warmup_) return peak_ * double(step + 1) / double(warmup_);
  return peak_ * std::sqrt(double(warmup_)) / std::sqrt(double(step));
}

}  // namespace moegrad
