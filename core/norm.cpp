#include "core/norm.h"

#include <cmath>

#include "core/backend.h"
#include "core/graph.h"

namespace moegrad {

namespace {

void check_param(const char* op, const char* what, const Tensor& p, const Tensor& x) {
  if (!p.defined()) return;
  const int64_t n = x.size(-1);
  MOEGRAD_CHECK(p.dim() == 1 && p.size(0) == n, op, what, " has shape ", shape_str(p.shape()), "; expected [", n,
                "] to match x ", shape_str(x.shape()));
  MOEGRAD_CHECK(p.dtype() == x.dtype(), op, what, " is ", dtype_name(p.dtype()), " but x is ", dtype_name(x.dtype()));
  MOEGRAD_CHECK(p.device() == x.device(), op, what, " is on ", p.device(), " but x is on ", x.device());
}

// Both norms: center says whether the mean is taken out (LayerNorm) or not
// (RMSNorm). The backend sees [rows, n] contiguous rows and writes the
// per-row statistics the backward reuses: mean (when centering) and
// rstd = 1 / sqrt(var + eps).
Tensor normalize(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, bool center) {
  dispatch_floating(op, x.dtype(), [](auto) {});
  MOEGRAD_CHECK(x.dim() >= 1 && x.size(-1) >= 1, op, "x must have a last dimension of at least 1, got ",
                shape_str(x.shape()));
  MOEGRAD_CHECK(std::isfinite(eps) && eps >= 0, op, "eps must be finite and >= 0, got ", eps);
  check_param(op, "weight", weight, x);
  check_param(op, "bias", bias, x);
  const int64_t n = x.size(-1), rows = x.numel() / n;
  const Device device = x.device();
  Tensor src = x.contiguous().view({rows, n});
  Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), device);
  Tensor mean = center ? Tensor::empty({rows}, x.dtype(), device) : Tensor();
  Tensor rstd = Tensor::empty({rows}, x.dtype(), device);
  backend(device).norm(src, w, b, eps, center, out.view({rows, n}), mean, rstd);

  std::vector<Tensor> inputs = {x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  // dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w * xhat)), without the
  // mean(g*w) term for RMSNorm; dweight = sum over rows of g * xhat; dbias = sum of g.
  return record(op, out, inputs,
                [center, shape = x.shape(), src = save(op, src), w = w.defined() ? save(op, w) : SavedTensor(),
                 has_weight = w.defined(), has_bias = b.defined(), mean, rstd](const Tensor& g) -> Grads {
                  const Tensor& x2 = src.get();
                  const Tensor wt = has_weight ? w.get() : Tensor();
                  const int64_t rows = x2.size(0), n = x2.size(1);
                  Tensor dx = Tensor::empty({rows, n}, x2.dtype(), x2.device());
                  Tensor dw = wt.defined() ? Tensor::empty({n}, x2.dtype(), x2.device()) : Tensor();
                  Tensor db = has_bias ? Tensor::empty({n}, x2.dtype(), x2.device()) : Tensor();
                  backend(x2.device()).norm_backward(g.contiguous().view({rows, n}), x2, wt, mean, rstd, center, dx, dw, db);
                  Grads grads = {dx.view(shape)};
                  if (dw.defined()) grads.push_back(dw);
                  if (db.defined()) grads.push_back(db);
                  return grads;
                });
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  return normalize("layer_norm", x, weight, bias, eps, true);
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  return normalize("rms_norm", x, weight, Tensor(), eps, false);
}

}  // namespace moegrad
