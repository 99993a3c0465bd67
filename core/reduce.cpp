// Reductions share one layout trick: move the reduced axes to the end and
// make the tensor contiguous, so every output element reduces one contiguous
// row of a [rows, n] matrix. Row-wise ops (softmax, cumsum) move their one
// axis last the same way and move it back afterwards.
#include "core/reduce.h"

#include "core/backend.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

namespace {

struct RowLayout {
  Tensor rows;      // contiguous [rows, n]
  Shape out_shape;  // the result's shape, honouring keepdim
};

RowLayout reduced_rows(const char* op, const Tensor& x_in, const Dims& dims, bool keepdim) {
  Tensor x = x_in.detach();  // layout work, not part of the graph
  std::vector<int64_t> red = normalize_dims(op, dims, x.dim());
  std::vector<bool> is_red(size_t(x.dim()), false);
  for (int64_t d : red) is_red[d] = true;
  std::vector<int64_t> perm;
  Shape out_shape;
  int64_t n = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (is_red[d]) {
      n *= x.size(d);
      if (keepdim) out_shape.push_back(1);
    } else {
      perm.push_back(d);
      out_shape.push_back(x.size(d));
    }
  }
  for (int64_t d : red) perm.push_back(d);
  Tensor rows = x.permute(perm).contiguous().view({numel(out_shape), n});
  return {rows, out_shape};
}

Tensor reduce(const char* op, ReduceOp kind, const Tensor& x, const Dims& dims, bool keepdim, double correction = 0) {
  bool needs_float = kind == ReduceOp::mean || kind == ReduceOp::var || kind == ReduceOp::logsumexp;
  if (needs_float)
    MOEGRAD_CHECK(is_floating(x.dtype()), op, "expected a floating dtype (f32 or f64), got ",
                  dtype_name(x.dtype()));
  RowLayout l = reduced_rows(op, x, dims, keepdim);
  bool needs_element = kind != ReduceOp::sum && kind != ReduceOp::mean;
  MOEGRAD_CHECK(!needs_element || l.rows.size(1) > 0 || l.rows.size(0) == 0, op, "cannot reduce over an empty dim of ",
                shape_str(x.shape()));
  DType out_dtype = x.dtype();
  if (kind == ReduceOp::argmax || kind == ReduceOp::argmin || (kind == ReduceOp::sum && x.dtype() == DType::b8))
    out_dtype = DType::i64;
  Tensor src = l.rows;
  if (x.dtype() == DType::b8) src = src.to(DType::i64);
  Tensor out = Tensor::empty({l.rows.size(0)}, out_dtype, x.device());
  backend(x.device()).reduce(kind, src, out, correction);
  return out.view(l.out_shape);
}

Tensor arg_reduce(const char* op, ReduceOp kind, const Tensor& x, int64_t dim, bool keepdim) {
  if (x.dim() == 0) return reduce(op, kind, x.reshape({1}), {0}, false).reshape({});
  return reduce(op, kind, x, {normalize_dim(op, dim, x.dim())}, keepdim);
}

// Applies a row kernel along `dim`: dim moved last, rows processed, moved back.
template <class Kernel>
Tensor along_dim(const char* op, const Tensor& x_in, int64_t dim, DType out_dtype, Kernel&& kernel) {
  Tensor x = x_in.detach();
  int64_t rank = x.dim() == 0 ? 1 : x.dim();
  dim = normalize_dim(op, dim, rank);
  Tensor moved = (x.dim() == 0 ? x.reshape({1}) : x).transpose(dim, -1).contiguous();
  int64_t n = moved.dim() ? moved.size(-1) : 1;
  Tensor rows = moved.reshape({n == 0 ? 0 : moved.numel() / n, n});
  Tensor out = Tensor::empty(rows.shape(), out_dtype, x.device());
  kernel(rows, out);
  return out.view(moved.shape()).transpose(dim, -1).contiguous().reshape(x.shape());
}

// The shape of a reduction's result with the reduced dims kept as size 1: a
// gradient of the result broadcasts back to the input from there.
Shape kept_shape(const char* op, const Tensor& x, const Dims& dims) {
  Shape s = x.shape();
  for (int64_t d : normalize_dims(op, dims, x.dim())) s[d] = 1;
  return s;
}

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim) {
  return record("sum", reduce("sum", ReduceOp::sum, x, dims, keepdim), {x},
                [shape = x.shape(), kept = kept_shape("sum", x, dims)](const Tensor& g) -> Grads {
                  return {g.reshape(kept).expand(shape).contiguous()};
                });
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  Shape kept = kept_shape("mean", x, dims);
  double n = double(x.numel()) / double(std::max<int64_t>(numel(kept), 1));
  return record("mean", reduce("mean", ReduceOp::mean, x, dims, keepdim), {x},
                [shape = x.shape(), kept, n](const Tensor& g) -> Grads {
                  return {div(g.reshape(kept), n).expand(shape).contiguous()};
                });
}

Tensor var(const Tensor& x, const Dims& dims, bool keepdim, double correction) {
  Shape kept = kept_shape("var", x, dims);
  double n = double(x.numel()) / double(std::max<int64_t>(numel(kept), 1));
  return record("var", reduce("var", ReduceOp::var, x, dims, keepdim, correction), {x},
                [x = save("var", x), dims, kept, n, correction](const Tensor& g) -> Grads {
                  // d var / dx_i = 2 (x_i - mean) / (n - correction)
                  Tensor centered = sub(x.get(), mean(x.get(), dims, true));
                  return {mul(centered, div(g.reshape(kept), (n - correction) / 2))};
                });
}

namespace {
// amax/amin: the gradient is shared evenly by the elements equal to the
// extreme, as in PyTorch.
Tensor extreme(const char* op, ReduceOp kind, const Tensor& x, const Dims& dims, bool keepdim) {
  Tensor out = reduce(op, kind, x, dims, keepdim);
  Shape kept = kept_shape(op, x, dims);
  return record(op, out, {x}, [x = save(op, x), y = save(op, out), kept, dims](const Tensor& g) -> Grads {
    Tensor hit = cast(eq(x.get(), y.get().reshape(kept)), g.dtype());
    return {mul(hit, div(g.reshape(kept), sum(hit, dims, true)))};
  });
}
}  // namespace

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme("amax", ReduceOp::amax, x, dims, keepdim);
}
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) {
  return extreme("amin", ReduceOp::amin, x, dims, keepdim);
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  Tensor out = reduce("logsumexp", ReduceOp::logsumexp, x, dims, keepdim);
  Shape kept = kept_shape("logsumexp", x, dims);
  return record("logsumexp", out, {x}, [x = save("logsumexp", x), y = save("logsumexp", out), kept](const Tensor& g) -> Grads {
    return {mul(g.reshape(kept), exp(sub(x.get(), y.get().reshape(kept))))};  // g * softmax(x)
  });
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce("argmax", ReduceOp::argmax, x, dim, keepdim);
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_reduce("argmin", ReduceOp::argmin, x, dim, keepdim);
}
Tensor argmax(const Tensor& x) { return arg_reduce("argmax", ReduceOp::argmax, x.reshape({-1}), 0, false); }
Tensor argmin(const Tensor& x) { return arg_reduce("argmin", ReduceOp::argmin, x.reshape({-1}), 0, false); }

Tensor softmax(const Tensor& x, int64_t dim) {
  dispatch_floating("softmax", x.dtype(), [](auto) {});
  Tensor out = along_dim("softmax", x, dim, x.dtype(),
                         [&](const Tensor& in, const Tensor& o) { backend(x.device()).softmax(in, o, false); });
  return record("softmax", out, {x}, [y = save("softmax", out), dim](const Tensor& g) -> Grads {
    const Tensor& p = y.get();  // dx = p * (g - sum(g * p))
    return {mul(p, sub(g, sum(mul(g, p), {dim}, true)))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  dispatch_floating("log_softmax", x.dtype(), [](auto) {});
  Tensor out = along_dim("log_softmax", x, dim, x.dtype(),
                         [&](const Tensor& in, const Tensor& o) { backend(x.device()).softmax(in, o, true); });
  return record("log_softmax", out, {x}, [y = save("log_softmax", out), dim](const Tensor& g) -> Grads {
    return {sub(g, mul(exp(y.get()), sum(g, {dim}, true)))};  // dx = g - softmax * sum(g)
  });
}

Tensor cumsum(const Tensor& x, int64_t dim) {
  Tensor src = x.dtype() == DType::b8 ? x.to(DType::i64) : x;
  Tensor out = along_dim("cumsum", src, dim, src.dtype(),
                         [&](const Tensor& in, const Tensor& o) { backend(x.device()).cumsum(in, o); });
  return record("cumsum", out, {x}, [dim](const Tensor& g) -> Grads {
    return {add(sub(sum(g, {dim}, true), cumsum(g, dim)), g)};  // reversed running sum of g
  });
}

}  // namespace moegrad
