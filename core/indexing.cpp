// The indexing ops of core/indexing.h: each validates its inputs (devices,
// dtypes, ranks, shapes, and the range of every index), allocates the output
// and calls the backend of the inputs' device. Kernels may therefore trust
// every index they read.
//
// 0-d tensors: topk and sort treat a 0-d x as one element along dim 0/-1, as
// PyTorch does; index_select and index_add accept a 0-d index as a list of
// one. The other ops need x to have rank >= 1 and say so.
#include "core/indexing.h"

#include <algorithm>
#include <limits>

#include "core/backend.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/join.h"
#include "core/reduce.h"

namespace moegrad {

namespace {

void check_same_device(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b) {
  MOEGRAD_CHECK(a.device() == b.device(), op, name_a, " is on ", a.device(), " but ", name_b, " is on ", b.device(),
                "; move them to one device");
}

void check_index_dtype(const char* op, const Tensor& index) {
  MOEGRAD_CHECK(is_integral(index.dtype()), op, "index must have dtype i32 or i64, got ", dtype_name(index.dtype()),
                " (shape ", shape_str(index.shape()), ")");
}

void check_rank_at_least_1(const char* op, const Tensor& x) {
  MOEGRAD_CHECK(x.dim() >= 1, op, "x must have rank >= 1, got a 0-d tensor");
}

// Smallest and largest value of an integer tensor, read on the host. For a
// CUDA index the two are reduced on the device and only they cross to the
// host: still one wait for the queued kernels per indexing op (a device-side
// flag read once per step would remove that), but no copy of the index.
struct MinMax {
  int64_t min = 0, max = 0;
};
MinMax host_min_max(const Tensor& t) {
  if (!t.device().is_cpu()) {
    Tensor both = cast(stack({amin(t), amax(t)}), DType::i64).to(Device::cpu());
    return {both.data<int64_t>()[0], both.data<int64_t>()[1]};
  }
  Tensor host = cast(t, DType::i64);
  const int64_t* p = host.data<int64_t>();
  MinMax mm{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()};
  for (int64_t i = 0; i < host.numel(); ++i) {
    mm.min = std::min(mm.min, p[i]);
    mm.max = std::max(mm.max, p[i]);
  }
  return mm;
}

Shape with_size(Shape s, int64_t dim, int64_t size) {
  s[size_t(dim)] = size;
  return s;
}

// index_select after validation; embedding shares it to avoid checking the
// range twice.
Tensor select_unchecked(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor idx = index.reshape({-1});  // a 0-d index is a list of one
  Tensor out = Tensor::empty(with_size(x.shape(), dim, idx.numel()), x.dtype(), x.device());
  if (out.numel() > 0) backend(x.device()).index_select(x, dim, idx, out);
  return out;
}

// topk and sort run on rows: move dim last, view as [rows, n], and move the
// result back afterwards (contiguous). A 0-d x is one row of one element.
struct Rows {
  Tensor rows;  // contiguous [rows, n]
  Shape moved;  // x's shape with dim moved last
  int64_t dim;  // normalized dim (0 for a 0-d x)
  bool scalar;  // x was 0-d
};
Rows to_rows(const char* op, const Tensor& x, int64_t dim) {
  Rows r;
  r.scalar = x.dim() == 0;
  Tensor x1 = r.scalar ? x.detach().reshape({1}) : x.detach();
  r.dim = normalize_dim(op, dim, x1.dim());
  Tensor moved = x1.transpose(r.dim, -1).contiguous();
  r.moved = moved.shape();
  int64_t n = r.moved.back();
  int64_t count = numel(Shape(r.moved.begin(), r.moved.end() - 1));
  r.rows = moved.reshape({count, n});
  return r;
}
Tensor from_rows(const Rows& r, const Tensor& t) {
  Shape s = r.moved;
  s.back() = t.size(1);
  if (r.scalar && s.back() == 1) return t.reshape({});
  return t.reshape(s).transpose(r.dim, -1).contiguous();
}

// gather and scatter_add pair each index element with an element of x: the
// index has x's rank, fits inside x outside `dim`, and points inside x along
// it. Returns the normalized dim.
int64_t check_elementwise_index(const char* op, const Tensor& x, int64_t dim, const Tensor& index) {
  MOEGRAD_CHECK(index.dim() == x.dim(), op, "index ", shape_str(index.shape()), " must have the rank of x ",
                shape_str(x.shape()));
  dim = normalize_dim(op, dim, x.dim());
  for (int64_t d = 0; d < x.dim(); ++d)
    MOEGRAD_CHECK(d == dim || index.size(d) <= x.size(d), op, "index ", shape_str(index.shape()), " is larger than x ",
                  shape_str(x.shape()), " in dim ", d, " (expected at most ", x.size(d), ")");
  check_index_range(op, index, x.size(dim));
  return dim;
}

// What scatter_add and index_add both require of their operands.
void check_add_operands(const char* op, const Tensor& x, const Tensor& index, const Tensor& src) {
  check_same_device(op, "x", x, "index", index);
  check_same_device(op, "x", x, "src", src);
  check_index_dtype(op, index);
  MOEGRAD_CHECK(x.dtype() != DType::b8, op, "bool values cannot be added; cast x to a numeric dtype");
  MOEGRAD_CHECK(src.dtype() == x.dtype(), op, "src has dtype ", dtype_name(src.dtype()), " but x has ",
                dtype_name(x.dtype()));
  check_rank_at_least_1(op, x);
}

}  // namespace

void check_index_range(const char* op, const Tensor& index, int64_t size) {
  check_index_dtype(op, index);
  if (index.numel() == 0) return;
  MinMax mm = host_min_max(index);
  MOEGRAD_CHECK(mm.min >= 0, op, "index ", mm.min, " is out of range for size ", size, " (expected 0 <= index < ", size,
                "; negative indices are not wrapped)");
  MOEGRAD_CHECK(mm.max < size, op, "index ", mm.max, " is out of range for size ", size, " (expected 0 <= index < ",
                size, ")");
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  check_same_device(op, "x", x, "index", index);
  check_index_dtype(op, index);
  check_rank_at_least_1(op, x);
  MOEGRAD_CHECK(index.dim() <= 1, op, "index must be 1-D, got shape ", shape_str(index.shape()));
  dim = normalize_dim(op, dim, x.dim());
  check_index_range(op, index, x.size(dim));
  return record(op, select_unchecked(x, dim, index), {x},
                [index = save(op, index), shape = x.shape(), dim](const Tensor& g) -> Grads {
                  return {index_add(zeros(shape, g.dtype(), g.device()), dim, index.get(), g)};
                });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "gather";
  check_same_device(op, "x", x, "index", index);
  check_index_dtype(op, index);
  check_rank_at_least_1(op, x);
  dim = check_elementwise_index(op, x, dim, index);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  if (out.numel() > 0) backend(x.device()).gather(x, dim, index, out);
  return record(op, out, {x}, [index = save(op, index), shape = x.shape(), dim](const Tensor& g) -> Grads {
    return {scatter_add(zeros(shape, g.dtype(), g.device()), dim, index.get(), g)};
  });
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  const char* op = "scatter_add";
  check_add_operands(op, x, index, src);
  MOEGRAD_CHECK(index.shape() == src.shape(), op, "index ", shape_str(index.shape()), " and src ",
                shape_str(src.shape()), " must have one shape");
  dim = check_elementwise_index(op, x, dim, index);
  Tensor out = x.detach().clone();
  if (index.numel() > 0) backend(x.device()).scatter_add(out, dim, index, src);
  return record(op, out, {x, src}, [index = save(op, index), dim](const Tensor& g) -> Grads {
    return {g, gather(g, dim, index.get())};
  });
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  const char* op = "index_add";
  check_add_operands(op, x, index, src);
  MOEGRAD_CHECK(index.dim() <= 1, op, "index must be 1-D, got shape ", shape_str(index.shape()));
  dim = normalize_dim(op, dim, x.dim());
  Shape expected = with_size(x.shape(), dim, index.numel());
  MOEGRAD_CHECK(src.shape() == expected, op, "src ", shape_str(src.shape()), " must be ", shape_str(expected), " (x ",
                shape_str(x.shape()), " with dim ", dim, " of the index's length ", index.numel(), ")");
  check_index_range(op, index, x.size(dim));
  Tensor out = x.detach().clone();
  if (src.numel() > 0) backend(x.device()).index_add(out, dim, index.reshape({-1}), src);
  return record(op, out, {x, src}, [index = save(op, index.reshape({-1})), dim](const Tensor& g) -> Grads {
    return {g, index_select(g, dim, index.get())};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* op = "embedding";
  check_same_device(op, "weight", weight, "ids", ids);
  MOEGRAD_CHECK(weight.dim() == 2, op, "weight must be 2-D [vocab, dim], got ", shape_str(weight.shape()));
  check_index_range(op, ids, weight.size(0));  // also requires i32/i64 ids
  Shape out = ids.shape();
  out.push_back(weight.size(1));
  Tensor flat_ids = ids.reshape({-1});
  Tensor rows = select_unchecked(weight, 0, flat_ids).reshape(out);
  // Rows used several times add up their gradients.
  return record(op, rows, {weight}, [ids = save(op, flat_ids), shape = weight.shape()](const Tensor& g) -> Grads {
    return {index_add(zeros(shape, g.dtype(), g.device()), 0, ids.get(), g.reshape({-1, shape[1]}))};
  });
}

namespace {
// topk's and sort's values come from x at `indices` along the row dim: their
// gradient goes back to those places (the indices of one row are distinct).
Tensor record_picked(const char* op, const Tensor& values, const Tensor& indices, int64_t k, const Tensor& x,
                     const Rows& r) {
  Shape x1 = r.scalar ? Shape{1} : x.shape();  // x as it was sliced into rows
  Shape picked = with_size(x1, r.dim, k);
  return record(op, values, {x},
                [indices = save(op, indices), x1, picked, shape = x.shape(), dim = r.dim](const Tensor& g) -> Grads {
                  Tensor whole = zeros(x1, g.dtype(), g.device());
                  return {scatter_add(whole, dim, indices.get().reshape(picked), g.reshape(picked)).reshape(shape)};
                });
}
}  // namespace

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  const char* op = "topk";
  Rows r = to_rows(op, x, dim);
  const int64_t n = r.rows.size(1);
  MOEGRAD_CHECK(k >= 0 && k <= n, op, "k = ", k, " is out of range for size ", n, " of dim ", r.dim, " of x ",
                shape_str(x.shape()), " (expected 0 <= k <= ", n, ")");
  Tensor values = Tensor::empty({r.rows.size(0), k}, x.dtype(), x.device());
  Tensor indices = Tensor::empty({r.rows.size(0), k}, DType::i64, x.device());
  if (values.numel() > 0) backend(x.device()).topk(r.rows, k, largest, values, indices);
  Tensor picked = from_rows(r, indices);
  return {record_picked(op, from_rows(r, values), picked, k, x, r), picked};
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  Rows r = to_rows("sort", x, dim);
  Tensor values = Tensor::empty(r.rows.shape(), x.dtype(), x.device());
  Tensor indices = Tensor::empty(r.rows.shape(), DType::i64, x.device());
  if (values.numel() > 0) backend(x.device()).sort(r.rows, descending, values, indices);
  Tensor picked = from_rows(r, indices);
  return {record_picked("sort", from_rows(r, values), picked, r.rows.size(1), x, r), picked};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending) { return sort(x, dim, descending).second; }

Tensor bincount(const Tensor& x, int64_t minlength) {
  const char* op = "bincount";
  MOEGRAD_CHECK(is_integral(x.dtype()), op, "x must have dtype i32 or i64, got ", dtype_name(x.dtype()));
  MOEGRAD_CHECK(x.dim() == 1, op, "x must be 1-D, got shape ", shape_str(x.shape()));
  MOEGRAD_CHECK(minlength >= 0, op, "minlength must be >= 0, got ", minlength);
  int64_t bins = minlength;
  if (x.numel() > 0) {
    MinMax mm = host_min_max(x);
    MOEGRAD_CHECK(mm.min >= 0, op, "values must be non-negative, got ", mm.min);
    bins = std::max(bins, mm.max + 1);
  }
  Tensor out = zeros({bins}, DType::i64, x.device());
  if (x.numel() > 0) backend(x.device()).bincount(x, out);
  return out;
}

}  // namespace moegrad
