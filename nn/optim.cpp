// Optimizers and gradient clipping: each update rule is a few lines of tensor
// ops that read like the formulas in nn/optim.h.
#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/join.h"
#include "core/reduce.h"

namespace moegrad {

// ---- Optimizer: parameters, lr, step count, state save/restore ----

Optimizer::Optimizer(const char* name, std::vector<Tensor> params, double lr)
    : state_(params.size()), name_(name), params_(std::move(params)), lr_(lr) {
  MOEGRAD_CHECK(lr >= 0 && std::isfinite(lr), name_, "lr must be >= 0 and finite, got ", lr);
  MOEGRAD_CHECK(!params_.empty(), name_, "got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    MOEGRAD_CHECK(p.defined(), name_, "parameter ", i, " is undefined");
    MOEGRAD_CHECK(is_floating(p.dtype()), name_, "parameter ", i, " has dtype ", dtype_name(p.dtype()),
                  "; only floating parameters can be optimized");
    MOEGRAD_CHECK(p.requires_grad(), name_, "parameter ", i, " ", shape_str(p.shape()), " does not require grad");
    MOEGRAD_CHECK(p.is_leaf(), name_, "parameter ", i, " ", shape_str(p.shape()),
                  " is not a leaf (computed by an op); optimize the tensors it was computed from");
    MOEGRAD_CHECK(seen.insert(p.impl_ptr().get()).second, name_, "parameter ", i,
                  " appears more than once in the parameter list");
  }
}

void Optimizer::set_lr(double lr) {
  MOEGRAD_CHECK(lr >= 0 && std::isfinite(lr), name_, "lr must be >= 0 and finite, got ", lr);
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = params_[i].grad();
    if (!g.defined()) continue;  // no gradient reached it: left as it is
    update(i, params_[i], g);
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.set_grad(Tensor());
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  out["step"] = scalar_tensor(double(steps_), DType::i64);
  out["lr"] = scalar_tensor(lr_, DType::f64);
  // Update rules rebind their buffers to fresh tensors instead of writing
  // into them, so handing out the live tensors is a snapshot.
  for (size_t i = 0; i < state_.size(); ++i)
    for (auto& [name, t] : state_[i]) out[std::to_string(i) + "." + name] = t;
  return out;
}

namespace {

// "12.exp_avg" -> (12, "exp_avg"); false when the key has no such form.
bool split_key(const std::string& key, size_t& index, std::string& buffer) {
  size_t dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 9 || dot + 1 == key.size()) return false;
  for (size_t k = 0; k < dot; ++k)
    if (key[k] < '0' || key[k] > '9') return false;
  index = std::stoul(key.substr(0, dot));
  buffer = key.substr(dot + 1);
  return true;
}

// The value of a 0-d tensor of dtype `dtype`, checked.
Tensor checked_scalar(const char* op, const std::string& key, const Tensor& t, DType dtype) {
  MOEGRAD_CHECK(t.defined(), op, "state entry '", key, "' is undefined");
  MOEGRAD_CHECK(t.dim() == 0 && t.dtype() == dtype, op, "state entry '", key, "' must be a 0-d ", dtype_name(dtype),
                " tensor, got ", shape_str(t.shape()), " ", dtype_name(t.dtype()));
  return t;
}

}  // namespace

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  NoGradGuard no_grad;
  const std::vector<BufferSpec> specs = buffers();

  // Validate everything first, so a rejected state changes nothing.
  for (const char* key : {"step", "lr"})
    MOEGRAD_CHECK(state.count(key), name_, "state is missing '", key, "'");
  int64_t steps = checked_scalar(name_, "step", state.at("step"), DType::i64).item<int64_t>();
  MOEGRAD_CHECK(steps >= 0, name_, "state entry 'step' must be >= 0, got ", steps);
  double lr = checked_scalar(name_, "lr", state.at("lr"), DType::f64).item<double>();
  MOEGRAD_CHECK(lr >= 0 && std::isfinite(lr), name_, "state entry 'lr' must be >= 0 and finite, got ", lr);

  std::vector<std::map<std::string, Tensor>> loaded(params_.size());
  for (auto& [key, t] : state) {
    if (key == "step" || key == "lr") continue;
    size_t i = 0;
    std::string buffer;
    MOEGRAD_CHECK(split_key(key, i, buffer), name_, "unexpected state entry '", key, "'");
    MOEGRAD_CHECK(i < params_.size(), name_, "state entry '", key, "' is for parameter ", i, " but there are only ",
                  params_.size(), " parameters");
    const BufferSpec* spec = nullptr;
    for (const BufferSpec& s : specs)
      if (s.name == buffer) spec = &s;
    MOEGRAD_CHECK(spec != nullptr, name_, "unexpected state entry '", key, "' (", name_, " keeps no '", buffer,
                  "' state with these settings)");
    const Tensor& p = params_[i];
    if (spec->counter) {
      int64_t count = checked_scalar(name_, key, t, DType::i64).item<int64_t>();
      MOEGRAD_CHECK(count >= 1, name_, "state entry '", key, "' must be >= 1, got ", count);
      loaded[i][buffer] = scalar_tensor(double(count), DType::i64);
    } else {
      MOEGRAD_CHECK(t.defined(), name_, "state entry '", key, "' is undefined");
      MOEGRAD_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), name_, "state entry '", key, "' is ",
                    shape_str(t.shape()), " ", dtype_name(t.dtype()), " but parameter ", i, " is ",
                    shape_str(p.shape()), " ", dtype_name(p.dtype()));
      Tensor copy = t.to(p.device());
      loaded[i][buffer] = copy.same(t) ? t.clone() : copy.contiguous();
    }
  }
  for (size_t i = 0; i < loaded.size(); ++i) {
    if (loaded[i].empty()) continue;  // never updated: no state, as before its first step
    for (const BufferSpec& s : specs)
      MOEGRAD_CHECK(loaded[i].count(s.name), name_, "state is missing '", i, ".", s.name, "' (parameter ", i,
                    " has other state entries)");
  }

  state_ = std::move(loaded);
  steps_ = steps;
  lr_ = lr;
}

// ---- SGD ----

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay, bool nesterov,
         double dampening)
    : Optimizer("SGD", std::move(params), lr),
      momentum_(momentum),
      weight_decay_(weight_decay),
      dampening_(dampening),
      nesterov_(nesterov) {
  MOEGRAD_CHECK(momentum >= 0 && std::isfinite(momentum), "SGD", "momentum must be >= 0, got ", momentum);
  MOEGRAD_CHECK(weight_decay >= 0 && std::isfinite(weight_decay), "SGD", "weight_decay must be >= 0, got ",
                weight_decay);
  MOEGRAD_CHECK(dampening >= 0 && std::isfinite(dampening), "SGD", "dampening must be >= 0, got ", dampening);
  MOEGRAD_CHECK(!nesterov || (momentum > 0 && dampening == 0), "SGD",
                "nesterov requires momentum > 0 and dampening 0, got momentum ", momentum, " and dampening ",
                dampening);
}

std::vector<Optimizer::BufferSpec> SGD::buffers() const {
  if (momentum_ == 0) return {};
  return {{"momentum_buffer"}};
}

void SGD::update(size_t i, const Tensor& p, const Tensor& grad) {
  Tensor g = grad;
  if (weight_decay_ != 0) g = add(g, mul(p, weight_decay_));
  if (momentum_ != 0) {
    auto& state = state_[i];
    Tensor buf = state.count("momentum_buffer")
                     ? add(mul(state["momentum_buffer"], momentum_), mul(g, 1 - dampening_))
                     : g.clone();  // the first update starts the buffer at the gradient
    state["momentum_buffer"] = buf;
    g = nesterov_ ? add(g, mul(buf, momentum_)) : buf;
  }
  copy_(p, sub(p, mul(g, lr())));
}

// ---- Adam and AdamW ----

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam("Adam", std::move(params), lr, beta1, beta2, eps, weight_decay, /*decoupled=*/false) {}

Adam::Adam(const char* name, std::vector<Tensor> params, double lr, double beta1, double beta2, double eps,
           double weight_decay, bool decoupled)
    : Optimizer(name, std::move(params), lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      decoupled_(decoupled) {
  MOEGRAD_CHECK(beta1 >= 0 && beta1 < 1, name, "beta1 must be in [0, 1), got ", beta1);
  MOEGRAD_CHECK(beta2 >= 0 && beta2 < 1, name, "beta2 must be in [0, 1), got ", beta2);
  MOEGRAD_CHECK(eps >= 0 && std::isfinite(eps), name, "eps must be >= 0, got ", eps);
  MOEGRAD_CHECK(weight_decay >= 0 && std::isfinite(weight_decay), name, "weight_decay must be >= 0, got ",
                weight_decay);
}

std::vector<Optimizer::BufferSpec> Adam::buffers() const {
  return {{"step", /*counter=*/true}, {"exp_avg"}, {"exp_avg_sq"}};
}

void Adam::update(size_t i, const Tensor& p, const Tensor& grad) {
  auto& state = state_[i];
  if (state.empty()) {
    state["step"] = scalar_tensor(0, DType::i64);
    state["exp_avg"] = zeros_like(p);
    state["exp_avg_sq"] = zeros_like(p);
  }
  const int64_t t = state["step"].item<int64_t>() + 1;
  state["step"] = scalar_tensor(double(t), DType::i64);

  Tensor g = grad;
  if (decoupled_)
    copy_(p, mul(p, 1 - lr() * weight_decay_));  // AdamW: shrink the parameter itself
  else if (weight_decay_ != 0)
    g = add(g, mul(p, weight_decay_));  // Adam: L2 through the gradient

  Tensor m = add(mul(state["exp_avg"], beta1_), mul(g, 1 - beta1_));
  Tensor v = add(mul(state["exp_avg_sq"], beta2_), mul(mul(g, g), 1 - beta2_));
  state["exp_avg"] = m;
  state["exp_avg_sq"] = v;

  const double bias_correction1 = 1 - std::pow(beta1_, double(t));
  const double bias_correction2 = 1 - std::pow(beta2_, double(t));
  const double step_size = lr() / bias_correction1;
  Tensor denom = add(div(sqrt(v), std::sqrt(bias_correction2)), eps_);  // sqrt(v_hat) + eps
  copy_(p, sub(p, mul(div(m, denom), step_size)));
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam("AdamW", std::move(params), lr, beta1, beta2, eps, weight_decay, /*decoupled=*/true) {}

// ---- gradient clipping ----

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  MOEGRAD_CHECK(max_norm > 0, "clip_grad_norm", "max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  std::vector<Tensor> grads, squares;  // squares: each gradient's sum of squares, 0-d
  for (const Tensor& p : params) {
    MOEGRAD_CHECK(p.defined(), "clip_grad_norm", "a parameter is undefined");
    Tensor g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g);
    squares.push_back(cast(sum(mul(g, g)), DType::f64));
  }
  // Read back in one copy where the gradients share a device: on a GPU each
  // item() would wait for the whole queue.
  const bool one_device = std::all_of(squares.begin(), squares.end(),
                                      [&](const Tensor& t) { return t.device() == squares.front().device(); });
  std::vector<double> values;
  if (one_device && !squares.empty()) {
    values = stack(squares).to(Device::cpu()).to_vector<double>();
  } else {
    for (const Tensor& t : squares) values.push_back(t.item<double>());
  }
  double sum_sq = 0;
  for (double v : values) sum_sq += v;
  const double total = std::sqrt(sum_sq);
  if (!std::isfinite(total) || total <= max_norm) return total;
  const double scale = max_norm / (total + 1e-6);
  for (const Tensor& g : grads) copy_(g, mul(g, scale));
  return total;
}

}  // namespace moegrad
