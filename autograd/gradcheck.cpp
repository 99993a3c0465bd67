#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/reduce.h"

namespace moegrad {

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps, double atol,
                          double rtol) {
  for (size_t i = 0; i < inputs.size(); ++i)
    MOEGRAD_CHECK(inputs[i].dtype() == DType::f64 && inputs[i].device().is_cpu() && inputs[i].is_leaf(), "gradcheck",
                  "input ", i, " must be an f64 CPU leaf, got ", dtype_name(inputs[i].dtype()), " on ",
                  inputs[i].device());
  // Perturbing elements in place needs contiguous storage of our own.
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    Tensor c = x.detach().clone();
    if (x.requires_grad()) c.requires_grad_();
    xs.push_back(c);
  }

  Tensor out = f(xs);
  MOEGRAD_CHECK(out.dtype() == DType::f64, "gradcheck", "the function returned ", dtype_name(out.dtype()),
                ", expected f64");
  Generator gen(1234);
  Tensor v = randn(out.shape(), DType::f64, &gen);
  Tensor loss = sum(mul(out, v));
  MOEGRAD_CHECK(loss.requires_grad(), "gradcheck", "the output does not depend on any input that requires grad");
  loss.backward();

  auto weighted = [&]() {
    NoGradGuard no_grad;
    return sum(mul(f(xs), v)).item<double>();
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].requires_grad()) continue;
    Tensor analytic = xs[i].grad().defined() ? xs[i].grad() : zeros_like(xs[i]);
    double* p = xs[i].data<double>();
    const double* a = analytic.contiguous().data<double>();
    for (int64_t k = 0; k < xs[i].numel(); ++k) {
      double saved = p[k];
      p[k] = saved + eps;
      double up = weighted();
      p[k] = saved - eps;
      double down = weighted();
      p[k] = saved;
      double numeric = (up - down) / (2 * eps);
      if (!(std::abs(a[k] - numeric) <= atol + rtol * std::abs(numeric))) {
        std::ostringstream os;
        os << "input " << i << " " << shape_str(xs[i].shape()) << ", element " << k << ": analytic " << a[k]
           << " vs numeric " << numeric;
        return {false, os.str()};
      }
    }
  }
  return {};
}

}  // namespace moegrad
