// Elementwise ops, each with its backward right under its forward. Backward
// closures run under NoGradGuard and are written with the same public ops.
#include "core/elementwise.h"

#include <cmath>

#include "core/backend.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

namespace {

Tensor unary(const char* name, UnaryOp op, const Tensor& x, double arg = 0) {
  bool integer_ok = op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::relu;
  MOEGRAD_CHECK(is_floating(x.dtype()) || (integer_ok && is_integral(x.dtype())), name,
                "unsupported dtype ", dtype_name(x.dtype()), " for shape ", shape_str(x.shape()),
                integer_ok ? " (expected f32, f64, i32 or i64)" : " (expected f32 or f64)");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend(x.device()).unary(op, x, out, arg);
  return out;
}

bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

Tensor binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  MOEGRAD_CHECK(a.device() == b.device(), name, "operands on different devices: ", a.device(), " and ",
                b.device());
  MOEGRAD_CHECK(a.dtype() == b.dtype(), name, "dtype mismatch: ", dtype_name(a.dtype()), " ",
                shape_str(a.shape()), " vs ", dtype_name(b.dtype()), " ", shape_str(b.shape()),
                " (moegrad does not promote; cast one with .to(dtype))");
  if (op == BinaryOp::div)
    MOEGRAD_CHECK(is_floating(a.dtype()), name, "expected floating operands, got ", dtype_name(a.dtype()),
                  " (cast integers with .to(DType::f32))");
  else if (!is_comparison(op))
    MOEGRAD_CHECK(a.dtype() != DType::b8, name, "arithmetic on bool tensors; cast them first");
  Shape shape = broadcast_shapes(name, a.shape(), b.shape());
  Tensor out = Tensor::empty(shape, is_comparison(op) ? DType::b8 : a.dtype(), a.device());
  // The backend sees the operands' views, not the autograd graph.
  backend(a.device()).binary(op, a.detach().expand(shape), b.detach().expand(shape), out);
  return out;
}

// Scalar forms: the scalar becomes a 0-d tensor of the tensor's dtype and
// broadcasts like any other operand. A fraction would be truncated for an
// integer tensor (lt(i, 0.5) would compare with 0): refuse it instead.
Tensor scalar_like(const char* op, const Tensor& t, double v) {
  if (!is_floating(t.dtype()))
    MOEGRAD_CHECK(v == std::trunc(v), op, "scalar ", v, " is not a whole number but the tensor is ",
                  dtype_name(t.dtype()), "; cast the tensor to a floating dtype first");
  return scalar_tensor(v, t.dtype(), t.device());
}

// A mask as 0/1 values of `like`'s dtype.
Tensor as_values(const Tensor& mask, const Tensor& like) { return cast(mask, like.dtype()); }

// The backward of a binary op: each operand's gradient (computed only when
// that operand needs one) summed back over the dims it was broadcast along.
Tensor record_binary(const char* op, const Tensor& out, const Tensor& a, const Tensor& b,
                     std::function<Tensor(const Tensor&)> grad_a, std::function<Tensor(const Tensor&)> grad_b) {
  return record(op, out, {a, b},
                [sa = a.shape(), sb = b.shape(), need_a = a.requires_grad(), need_b = b.requires_grad(), grad_a,
                 grad_b](const Tensor& g) -> Grads {
                  return {need_a ? sum_to(grad_a(g), sa) : Tensor(), need_b ? sum_to(grad_b(g), sb) : Tensor()};
                });
}

}  // namespace

// ---- unary ----

Tensor neg(const Tensor& x) {
  return record("neg", unary("neg", UnaryOp::neg, x), {x}, [](const Tensor& g) -> Grads { return {neg(g)}; });
}

Tensor abs(const Tensor& x) {
  return record("abs", unary("abs", UnaryOp::abs, x), {x}, [x = save("abs", x)](const Tensor& g) -> Grads {
    const Tensor& v = x.get();
    return {mul(g, sub(as_values(gt(v, 0.0), v), as_values(lt(v, 0.0), v)))};  // g * sign(x)
  });
}

Tensor exp(const Tensor& x) {
  Tensor out = unary("exp", UnaryOp::exp, x);
  return record("exp", out, {x}, [y = save("exp", out)](const Tensor& g) -> Grads { return {mul(g, y.get())}; });
}

Tensor log(const Tensor& x) {
  return record("log", unary("log", UnaryOp::log, x), {x},
                [x = save("log", x)](const Tensor& g) -> Grads { return {div(g, x.get())}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary("sqrt", UnaryOp::sqrt, x);
  return record("sqrt", out, {x},
                [y = save("sqrt", out)](const Tensor& g) -> Grads { return {div(mul(g, 0.5), y.get())}; });
}

Tensor rsqrt(const Tensor& x) {
  Tensor out = unary("rsqrt", UnaryOp::rsqrt, x);
  return record("rsqrt", out, {x}, [y = save("rsqrt", out)](const Tensor& g) -> Grads {
    return {mul(g, mul(pow(y.get(), 3), -0.5))};  // d x^-1/2 = -1/2 x^-3/2
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary("tanh", UnaryOp::tanh, x);
  return record("tanh", out, {x}, [y = save("tanh", out)](const Tensor& g) -> Grads {
    return {mul(g, 1.0 - mul(y.get(), y.get()))};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary("sigmoid", UnaryOp::sigmoid, x);
  return record("sigmoid", out, {x}, [y = save("sigmoid", out)](const Tensor& g) -> Grads {
    return {mul(g, mul(y.get(), 1.0 - y.get()))};
  });
}

Tensor relu(const Tensor& x) {
  Tensor out = unary("relu", UnaryOp::relu, x);
  return record("relu", out, {x}, [x = save("relu", x)](const Tensor& g) -> Grads {
    return {mul(g, as_values(gt(x.get(), 0.0), g))};
  });
}

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  UnaryOp op = tanh_approximation ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf;
  UnaryOp grad_op = tanh_approximation ? UnaryOp::gelu_tanh_grad : UnaryOp::gelu_erf_grad;
  return record("gelu", unary("gelu", op, x), {x}, [x = save("gelu", x), grad_op](const Tensor& g) -> Grads {
    return {mul(g, unary("gelu", grad_op, x.get()))};
  });
}

Tensor silu(const Tensor& x) {
  return record("silu", unary("silu", UnaryOp::silu, x), {x}, [x = save("silu", x)](const Tensor& g) -> Grads {
    Tensor s = sigmoid(x.get());
    return {mul(g, mul(s, 1.0 + mul(x.get(), 1.0 - s)))};  // s (1 + x (1 - s))
  });
}

Tensor pow(const Tensor& x, double exponent) {
  return record("pow", unary("pow", UnaryOp::pow, x, exponent), {x},
                [x = save("pow", x), exponent](const Tensor& g) -> Grads {
                  return {mul(g, mul(pow(x.get(), exponent - 1), exponent))};
                });
}

// ---- binary ----

Tensor add(const Tensor& a, const Tensor& b) {
  return record_binary("add", binary("add", BinaryOp::add, a, b), a, b, [](const Tensor& g) { return g; },
                       [](const Tensor& g) { return g; });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return record_binary("sub", binary("sub", BinaryOp::sub, a, b), a, b, [](const Tensor& g) { return g; },
                       [](const Tensor& g) { return neg(g); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  SavedTensor sa = save("mul", a), sb = save("mul", b);
  return record_binary("mul", binary("mul", BinaryOp::mul, a, b), a, b,
                       [sb](const Tensor& g) { return mul(g, sb.get()); },
                       [sa](const Tensor& g) { return mul(g, sa.get()); });
}

Tensor div(const Tensor& a, const Tensor& b) {
  SavedTensor sa = save("div", a), sb = save("div", b);
  return record_binary("div", binary("div", BinaryOp::div, a, b), a, b,
                       [sb](const Tensor& g) { return div(g, sb.get()); },
                       [sa, sb](const Tensor& g) {  // d(a/b)/db = -a / b^2
                         return neg(div(mul(g, sa.get()), mul(sb.get(), sb.get())));
                       });
}

namespace {
// maximum/minimum: the gradient goes to the operand that won; on a tie it is
// split in half, as PyTorch does.
Tensor extremum(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  SavedTensor sa = save(name, a), sb = save(name, b);
  bool is_max = op == BinaryOp::maximum;
  auto share = [sa, sb, is_max](const Tensor& g, bool first) {
    const Tensor &x = first ? sa.get() : sb.get(), &y = first ? sb.get() : sa.get();
    Tensor wins = as_values(is_max ? gt(x, y) : lt(x, y), g);
    Tensor ties = as_values(eq(x, y), g);
    return mul(g, add(wins, mul(ties, 0.5)));
  };
  return record_binary(name, binary(name, op, a, b), a, b, [share](const Tensor& g) { return share(g, true); },
                       [share](const Tensor& g) { return share(g, false); });
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", BinaryOp::minimum, a, b); }

Tensor add(const Tensor& a, double b) { return add(a, scalar_like("add", a, b)); }
Tensor sub(const Tensor& a, double b) { return sub(a, scalar_like("sub", a, b)); }
Tensor mul(const Tensor& a, double b) { return mul(a, scalar_like("mul", a, b)); }
Tensor div(const Tensor& a, double b) { return div(a, scalar_like("div", a, b)); }
Tensor maximum(const Tensor& a, double b) { return maximum(a, scalar_like("maximum", a, b)); }
Tensor minimum(const Tensor& a, double b) { return minimum(a, scalar_like("minimum", a, b)); }

// ---- comparisons: masks, no gradient ----

#define MOEGRAD_COMPARISON(name, op)                                                                \
  Tensor name(const Tensor& a, const Tensor& b) { return binary(#name, op, a, b); }                \
  Tensor name(const Tensor& a, double b) { return binary(#name, op, a, scalar_like(#name, a, b)); }
MOEGRAD_COMPARISON(eq, BinaryOp::eq)
MOEGRAD_COMPARISON(ne, BinaryOp::ne)
MOEGRAD_COMPARISON(lt, BinaryOp::lt)
MOEGRAD_COMPARISON(le, BinaryOp::le)
MOEGRAD_COMPARISON(gt, BinaryOp::gt)
MOEGRAD_COMPARISON(ge, BinaryOp::ge)
#undef MOEGRAD_COMPARISON

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  MOEGRAD_CHECK(cond.dtype() == DType::b8, "where", "condition must be a bool mask, got ", dtype_name(cond.dtype()));
  MOEGRAD_CHECK(cond.device() == a.device() && a.device() == b.device(), "where", "operands on different devices: ",
                cond.device(), ", ", a.device(), ", ", b.device());
  MOEGRAD_CHECK(a.dtype() == b.dtype(), "where", "dtype mismatch: ", dtype_name(a.dtype()), " vs ",
                dtype_name(b.dtype()));
  Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  backend(a.device()).where(cond.expand(shape), a.detach().expand(shape), b.detach().expand(shape), out);
  SavedTensor c = save("where", cond);
  return record_binary(
      "where", out, a, b,
      [c](const Tensor& g) { return where(c.get(), g, zeros({}, g.dtype(), g.device())); },
      [c](const Tensor& g) { return where(c.get(), zeros({}, g.dtype(), g.device()), g); });
}

}  // namespace moegrad
