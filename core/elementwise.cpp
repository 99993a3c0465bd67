#include "core/elementwise.h"

#include "core/backend.h"
#include "core/factory.h"

namespace moegrad {

namespace {

const char* unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::abs: return "abs";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::rsqrt: return "rsqrt";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::relu: return "relu";
    case UnaryOp::gelu_erf: return "gelu";
    case UnaryOp::gelu_tanh: return "gelu";
    case UnaryOp::silu: return "silu";
    case UnaryOp::pow: return "pow";
  }
  return "unary";
}

Tensor unary(UnaryOp op, const Tensor& x, double arg = 0) {
  const char* name = unary_name(op);
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
  backend(a.device()).binary(op, a.expand(shape), b.expand(shape), out);
  return out;
}

// Scalar forms: the scalar becomes a 0-d tensor of the tensor's dtype and
// broadcasts like any other operand.
Tensor scalar_like(const Tensor& t, double v) { return scalar_tensor(v, t.dtype(), t.device()); }

}  // namespace

Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::rsqrt, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  return unary(tanh_approximation ? UnaryOp::gelu_tanh : UnaryOp::gelu_erf, x);
}
Tensor silu(const Tensor& x) { return unary(UnaryOp::silu, x); }
Tensor pow(const Tensor& x, double exponent) { return unary(UnaryOp::pow, x, exponent); }

#define MOEGRAD_BINARY(name, op)                                                                    \
  Tensor name(const Tensor& a, const Tensor& b) { return binary(#name, op, a, b); }                \
  Tensor name(const Tensor& a, double b) { return binary(#name, op, a, scalar_like(a, b)); }
MOEGRAD_BINARY(add, BinaryOp::add)
MOEGRAD_BINARY(sub, BinaryOp::sub)
MOEGRAD_BINARY(mul, BinaryOp::mul)
MOEGRAD_BINARY(div, BinaryOp::div)
MOEGRAD_BINARY(maximum, BinaryOp::maximum)
MOEGRAD_BINARY(minimum, BinaryOp::minimum)
MOEGRAD_BINARY(eq, BinaryOp::eq)
MOEGRAD_BINARY(ne, BinaryOp::ne)
MOEGRAD_BINARY(lt, BinaryOp::lt)
MOEGRAD_BINARY(le, BinaryOp::le)
MOEGRAD_BINARY(gt, BinaryOp::gt)
MOEGRAD_BINARY(ge, BinaryOp::ge)
#undef MOEGRAD_BINARY

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  MOEGRAD_CHECK(cond.dtype() == DType::b8, "where", "condition must be a bool mask, got ", dtype_name(cond.dtype()));
  MOEGRAD_CHECK(cond.device() == a.device() && a.device() == b.device(), "where", "operands on different devices: ",
                cond.device(), ", ", a.device(), ", ", b.device());
  MOEGRAD_CHECK(a.dtype() == b.dtype(), "where", "dtype mismatch: ", dtype_name(a.dtype()), " vs ",
                dtype_name(b.dtype()));
  Shape shape = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  backend(a.device()).where(cond.expand(shape), a.expand(shape), b.expand(shape), out);
  return out;
}

}  // namespace moegrad
