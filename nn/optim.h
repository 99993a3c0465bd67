// Optimizers (SGD, Adam, AdamW) and gradient clipping, with PyTorch's
// (torch.optim) semantics and defaults.
//
// An optimizer holds a list of parameters (leaf tensors that require grad)
// and, per parameter, the state its update rule needs (momentum buffer,
// Adam's moments). One training step reads:
//
//   Adam opt(model.parameters(), /*lr=*/3e-4);
//   WarmupCosine schedule(3e-4, 100, 10000);           // nn/schedule.h
//   for (...) {
//     opt.zero_grad();
//     Tensor loss = ...; loss.backward();
//     double norm = clip_grad_norm(model.parameters(), 1.0);
//     opt.set_lr(schedule.lr(opt.steps()));             // the lr of this step
//     opt.step();
//   }
//
// Updates are written with the tensor ops and land in place in each
// parameter's storage (copy_ under NoGradGuard), so a parameter keeps its
// identity (modules and views stay attached) and its version counter moves:
// a graph that saved the old value refuses to backward through it.
//
// A parameter whose grad() is undefined is skipped, as in PyTorch: its value
// and its state stay as they are. State is created lazily at a parameter's
// first update, so Adam's bias correction counts the updates of each
// parameter (its own "i.step"), as torch does. (moegrad's MoE layers stack
// their experts into one tensor, so an expert without tokens gets a zero
// slice of a gradient, and Adam's moments and weight decay still move it,
// as they would in PyTorch's grouped-GEMM MoE layers.)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moegrad {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient, then counts the step.
  void step();
  // Sets every parameter's grad to undefined (PyTorch's set_to_none=True).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);  // lr >= 0 and finite; schedules call this before step()
  // How many times step() ran (restored by load_state_dict).
  int64_t steps() const { return steps_; }
  const std::vector<Tensor>& params() const { return params_; }
  const char* name() const { return name_; }

  // The state needed to resume exactly, by name:
  //   "step"               0-d i64: steps()
  //   "lr"                 0-d f64: lr()
  //   "<i>.<buffer>"       the state of parameter i (its index in params()),
  //                        present once that parameter was first updated:
  //                        SGD with momentum: "<i>.momentum_buffer";
  //                        Adam/AdamW: "<i>.step" (0-d i64, its update
  //                        count), "<i>.exp_avg", "<i>.exp_avg_sq".
  // Buffers have their parameter's shape, dtype and device. The returned
  // tensors are snapshots: the optimizer never writes into them later.
  std::map<std::string, Tensor> state_dict() const;
  // Replaces the whole state with `state` (copied). Requires "step" and "lr";
  // each parameter's buffers all present or all absent; no unknown names;
  // shapes and dtypes as above. Throws moegrad::Error naming the offending
  // entry, and then changes nothing. Buffers move to their parameter's device.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // One buffer of per-parameter state: shaped like the parameter (on its
  // device), or a 0-d i64 counter (always on the host: the step reads it, and
  // reading a GPU tensor would wait for every queued kernel).
  struct BufferSpec {
    std::string name;
    bool counter = false;
  };
  // Validates and takes the parameters: non-empty, defined, floating, leaves
  // requiring grad, no tensor twice.
  Optimizer(const char* name, std::vector<Tensor> params, double lr);
  // The buffers a parameter's state holds once it exists.
  virtual std::vector<BufferSpec> buffers() const = 0;
  // Updates parameter i (in place) from its gradient; runs under NoGradGuard.
  virtual void update(size_t i, const Tensor& param, const Tensor& grad) = 0;

  // state_[i]: buffer name -> tensor; empty until parameter i's first update.
  std::vector<std::map<std::string, Tensor>> state_;

 private:
  const char* name_;
  std::vector<Tensor> params_;
  double lr_;
  int64_t steps_ = 0;
};

// Stochastic gradient descent, as torch.optim.SGD:
//   g = grad + weight_decay * p
//   if momentum != 0:
//     buf = g                                        (first update)
//     buf = momentum * buf + (1 - dampening) * g     (later updates)
//     g = nesterov ? g + momentum * buf : buf
//   p = p - lr * g
// Requires lr, momentum, weight_decay, dampening >= 0; nesterov requires
// momentum > 0 and dampening == 0.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0, bool nesterov = false,
      double dampening = 0);

 protected:
  std::vector<BufferSpec> buffers() const override;
  void update(size_t i, const Tensor& param, const Tensor& grad) override;

 private:
  double momentum_, weight_decay_, dampening_;
  bool nesterov_;
};

// Adam, as torch.optim.Adam (weight decay is L2: added to the gradient):
//   t = t + 1                                        (this parameter's count)
//   g = grad + weight_decay * p
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)
//   p = p - lr * m_hat / (sqrt(v_hat) + eps)
// computed in torch's order: p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
// Requires lr, eps, weight_decay >= 0 and betas in [0, 1).
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0);

 protected:
  // For AdamW: decoupled weight decay under another name.
  Adam(const char* name, std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
       double weight_decay, bool decoupled);
  std::vector<BufferSpec> buffers() const override;
  void update(size_t i, const Tensor& param, const Tensor& grad) override;

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
};

// AdamW, as torch.optim.AdamW: decoupled weight decay, applied to the
// parameter before Adam's update (which then sees the gradient alone):
//   p = p * (1 - lr * weight_decay);  then Adam with weight_decay = 0.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
};

// Clips gradients by their global L2 norm, as torch.nn.utils.clip_grad_norm_
// (norm_type 2): total = sqrt(sum over params with a grad of sum(grad^2)).
// When total > max_norm, every grad is scaled in place by
// max_norm / (total + 1e-6). Returns total before clipping (0 when no
// parameter has a grad). A NaN or infinite total is returned as it is and
// the grads are left alone, so the caller can detect it and skip the step.
// Differs from torch only there (torch would scale by NaN) and in not
// scaling by a factor in (1 - 1e-6/max_norm, 1] when total is within 1e-6
// below max_norm. Requires max_norm > 0.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace moegrad
