#include "core/join.h"

#include "core/backend.h"
#include "core/graph.h"

namespace moegrad {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  MOEGRAD_CHECK(!tensors.empty(), "cat", "expected at least one tensor");
  // PyTorch's legacy rule: 1-D empty tensors join anything and are skipped.
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MOEGRAD_CHECK(t.dtype() == tensors[0].dtype() && t.device() == tensors[0].device(), "cat", "tensor ", i, " is ",
                  dtype_name(t.dtype()), " on ", t.device(), " but tensor 0 is ", dtype_name(tensors[0].dtype()),
                  " on ", tensors[0].device());
    if (!(t.dim() == 1 && t.numel() == 0)) parts.push_back(t);
  }
  if (parts.empty()) return tensors[0].clone();
  const Tensor& first = parts[0];
  MOEGRAD_CHECK(first.dim() > 0, "cat", "cannot concatenate 0-d tensors; use stack");
  dim = normalize_dim("cat", dim, first.dim());
  Shape shape = first.shape();
  shape[dim] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    bool same = t.dim() == first.dim();
    for (int64_t d = 0; same && d < t.dim(); ++d) same = d == dim || t.size(d) == first.size(d);
    MOEGRAD_CHECK(same, "cat", "shape ", shape_str(t.shape()), " of tensor ", i, " does not match ",
                  shape_str(first.shape()), " outside dim ", dim);
    shape[dim] += t.size(dim);
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& t : parts) {
    backend(out.device()).copy(t.detach(), out.narrow(dim, at, t.size(dim)));
    at += t.size(dim);
    sizes.push_back(t.size(dim));
  }
  // Each input gets its slice of the gradient back.
  return record("cat", out, parts, [sizes, dim](const Tensor& g) -> Grads {
    Grads grads;
    for (const Tensor& piece : split(g, sizes, dim)) grads.push_back(piece.contiguous());
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  MOEGRAD_CHECK(!tensors.empty(), "stack", "expected at least one tensor");
  dim = normalize_dim("stack", dim, tensors[0].dim() + 1);
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    MOEGRAD_CHECK(tensors[i].shape() == tensors[0].shape(), "stack", "shape ", shape_str(tensors[i].shape()),
                  " of tensor ", i, " differs from ", shape_str(tensors[0].shape()));
    MOEGRAD_CHECK(tensors[i].dtype() == tensors[0].dtype() && tensors[i].device() == tensors[0].device(), "stack",
                  "tensor ", i, " is ", dtype_name(tensors[i].dtype()), " on ", tensors[i].device(),
                  " but tensor 0 is ", dtype_name(tensors[0].dtype()), " on ", tensors[0].device());
    parts.push_back(tensors[i].unsqueeze(dim));
  }
  return cat(parts, dim);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  MOEGRAD_CHECK(x.dim() > 0, "split", "cannot split a 0-d tensor");
  dim = normalize_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    MOEGRAD_CHECK(s >= 0, "split", "negative size ", s, " in ", shape_str(sizes));
    total += s;
  }
  MOEGRAD_CHECK(total == x.size(dim), "split", "sizes ", shape_str(sizes), " sum to ", total, " but dim ", dim,
                " of ", shape_str(x.shape()), " has size ", x.size(dim));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  MOEGRAD_CHECK(x.dim() > 0, "split", "cannot split a 0-d tensor");
  dim = normalize_dim("split", dim, x.dim());
  int64_t n = x.size(dim);
  MOEGRAD_CHECK(split_size > 0 || (split_size == 0 && n == 0), "split", "split_size must be positive, got ",
                split_size);
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += split_size) sizes.push_back(std::min(split_size, n - at));
  if (sizes.empty()) sizes.push_back(0);  // an empty dim splits into one empty piece, as in PyTorch
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  MOEGRAD_CHECK(chunks > 0, "chunk", "chunks must be positive, got ", chunks);
  MOEGRAD_CHECK(x.dim() > 0, "chunk", "cannot chunk a 0-d tensor");
  int64_t n = x.size(normalize_dim("chunk", dim, x.dim()));
  if (n == 0) return split(x, std::vector<int64_t>(size_t(chunks), 0), dim);  // torch.chunk's special case
  return split(x, (n + chunks - 1) / chunks, dim);
}

}  // namespace moegrad
