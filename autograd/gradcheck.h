// gradcheck: compares the analytic gradients of a function (from backward)
// with central finite differences, in f64.
//
// For a random fixed weighting v of the outputs it checks the gradient of
// L = sum(v * f(inputs)) with respect to every element of every input that
// requires grad: analytic dL/dx from one backward pass against
// (L(x + eps) - L(x - eps)) / (2 eps). Inputs must be f64 CPU leaves.
//
//   Tensor x = randn({3, 4}, DType::f64).requires_grad_();
//   GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {x});
//   if (!r.ok) std::cerr << r.message;
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace moegrad {

struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch: input, element, analytic vs numeric
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps = 1e-6,
                          double atol = 1e-5, double rtol = 1e-4);

}  // namespace moegrad
