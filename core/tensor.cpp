// Tensor metadata and views. A view is a new TensorImpl over the same
// Storage with other shape/strides/offset; nothing here touches elements
// except the copies at the end.
#include "core/tensor.h"

#include <algorithm>
#include <cstdint>

#include "core/backend.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

namespace {

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

// Resolves a single -1 in a requested shape against the element count.
Shape infer_shape(const char* op, const Shape& from, Shape to) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i] == -1) {
      MOEGRAD_CHECK(infer_at < 0, op, "only one dim may be -1 in ", shape_str(to));
      infer_at = int64_t(i);
    } else {
      MOEGRAD_CHECK(to[i] >= 0, op, "invalid size ", to[i], " in ", shape_str(to));
      known *= to[i];
    }
  }
  int64_t n = moegrad::numel(from);
  if (infer_at >= 0) {
    MOEGRAD_CHECK(known != 0 && n % known == 0, op, "cannot infer -1 in ", shape_str(to), " for ", n,
                  " elements of ", shape_str(from));
    to[size_t(infer_at)] = n / known;
  }
  MOEGRAD_CHECK(numel(to) == n, op, "shape ", shape_str(to), " is invalid for ", n, " elements of ",
                shape_str(from));
  return to;
}

// Strides that let `to` view the same elements as `from` without a copy, or
// false when the layout does not allow it (PyTorch's computeStride): walk
// groups of dims of `from` that are contiguous among themselves and split
// each group's extent over the matching dims of `to`.
bool view_strides(const Shape& from, const Strides& fst, const Shape& to, Strides& out) {
  out.assign(to.size(), 0);
  if (numel(from) == 0) {
    out = contiguous_strides(to);
    return true;
  }
  int64_t to_d = int64_t(to.size()) - 1;
  int64_t chunk_numel = 1, chunk_base_stride = fst.empty() ? 1 : fst.back();
  for (int64_t d = int64_t(from.size()) - 1; d >= 0; --d) {
    chunk_numel *= from[d];
    // A group ends where the next-outer dim is not contiguous with this one.
    bool group_ends = d == 0 || (from[d - 1] != 1 && fst[d - 1] != chunk_numel * chunk_base_stride);
    if (!group_ends) continue;
    int64_t view_numel = 1;
    while (to_d >= 0 && (view_numel < chunk_numel || to[to_d] == 1)) {
      out[to_d] = view_numel * chunk_base_stride;
      view_numel *= to[to_d];
      --to_d;
    }
    if (view_numel != chunk_numel) return false;
    if (d > 0) {
      chunk_base_stride = fst[d - 1];
      chunk_numel = 1;
    }
  }
  while (to_d >= 0) out[to_d--] = 1;  // leftover size-1 dims
  return true;
}

// Autograd for views. A view that only regroups elements sends the gradient
// back through a reshape; one that picks a part of its input writes the
// gradient into that part of a zero tensor (`reapply` takes the same view of it).
Tensor record_reshape(const char* op, const Tensor& out, const Tensor& in) {
  return record(op, out, {in}, [shape = in.shape()](const Tensor& g) -> Grads { return {g.reshape(shape)}; });
}

template <class Reapply>
Tensor record_part(const char* op, const Tensor& out, const Tensor& in, Reapply reapply) {
  return record(op, out, {in}, [shape = in.shape(), reapply](const Tensor& g) -> Grads {
    Tensor whole = zeros(shape, g.dtype(), g.device());
    copy_(reapply(whole), g);
    return {whole};
  });
}

// Copies bytes between devices; between two GPUs it goes through the host.
Tensor to_device(const Tensor& t, Device device) {
  Tensor src = t.contiguous();
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device);
  size_t nbytes = size_t(t.numel()) * dtype_size(t.dtype());
  if (nbytes == 0) return out;
  if (device.is_cpu()) {
    backend(src.device()).copy_to_host(out.raw_data(), src.raw_data(), nbytes);
  } else if (src.device().is_cpu()) {
    backend(device).copy_from_host(out.raw_data(), src.raw_data(), nbytes);
  } else {
    return to_device(to_device(src, Device::cpu()), device);
  }
  return out;
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) MOEGRAD_CHECK(d >= 0, "empty", "negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  const size_t n = size_t(moegrad::numel(shape));
  // Wrapped around, the byte count would allocate a small buffer for a huge
  // shape; no allocator serves more than PTRDIFF_MAX bytes anyway.
  MOEGRAD_CHECK(n <= size_t(PTRDIFF_MAX) / dtype_size(dtype), "empty", "shape ", shape_str(shape), " of ",
                dtype_name(dtype), " needs more than 2^63 bytes");
  impl->storage = std::make_shared<Storage>(n * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

TensorImpl& Tensor::impl() const {
  MOEGRAD_CHECK(impl_ != nullptr, "tensor", "use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[size_t(normalize_dim("size", d, dim()))]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // nothing to lay out, as in PyTorch
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  char* base = static_cast<char*>(storage()->data());
  // An empty storage has no buffer (null), yet a view of it can carry an
  // offset (narrow at 2 of [0, 4]); null + offset is undefined behaviour.
  if (base == nullptr) return nullptr;
  return base + offset() * int64_t(dtype_size(dtype()));
}

template <class T>
T Tensor::item() const {
  MOEGRAD_CHECK(numel() == 1, "item", "expected a tensor with one element, got shape ", shape_str(shape()));
  return to_vector<T>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = cast(to(Device::cpu()), dtype_of<T>::value);
  const T* p = host.data<T>();
  return std::vector<T>(p, p + host.numel());
}

#define MOEGRAD_INSTANTIATE(T)                 \
  template T Tensor::item<T>() const;          \
  template std::vector<T> Tensor::to_vector<T>() const;
MOEGRAD_INSTANTIATE(float)
MOEGRAD_INSTANTIATE(double)
MOEGRAD_INSTANTIATE(int32_t)
MOEGRAD_INSTANTIATE(int64_t)
MOEGRAD_INSTANTIATE(bool)
#undef MOEGRAD_INSTANTIATE

// ---- views ----

Tensor Tensor::view(const Shape& shape) const {
  Shape to = infer_shape("view", this->shape(), shape);
  Strides st;
  MOEGRAD_CHECK(view_strides(this->shape(), strides(), to, st), "view", "cannot view ",
                shape_str(this->shape()), " with strides ", shape_str(strides()), " as ", shape_str(to),
                " without a copy; use reshape()");
  return record_reshape("view", make_view(*this, to, st, offset()), *this);
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape to = infer_shape("reshape", this->shape(), shape);
  Strides st;
  if (view_strides(this->shape(), strides(), to, st))
    return record_reshape("reshape", make_view(*this, to, st, offset()), *this);
  return contiguous().view(to);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = normalize_dim("flatten", start, dim());
  end = normalize_dim("flatten", end, dim());
  MOEGRAD_CHECK(start <= end, "flatten", "start dim ", start, " after end dim ", end);
  Shape to(shape().begin(), shape().begin() + start);
  to.push_back(moegrad::numel(Shape(shape().begin() + start, shape().begin() + end + 1)));
  to.insert(to.end(), shape().begin() + end + 1, shape().end());
  return reshape(to);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  if (dim() == 0) {  // a 0-d tensor accepts dims 0 and -1, as in PyTorch
    normalize_dim("transpose", d0, 1);
    normalize_dim("transpose", d1, 1);
    return *this;
  }
  std::vector<int64_t> perm(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) perm[i] = i;
  std::swap(perm[normalize_dim("transpose", d0, dim())], perm[normalize_dim("transpose", d1, dim())]);
  return permute(perm);
}

Tensor Tensor::t() const {
  MOEGRAD_CHECK(dim() <= 2, "t", "expects a tensor of rank <= 2, got ", shape_str(shape()));
  return dim() < 2 ? *this : transpose(0, 1);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  MOEGRAD_CHECK(int64_t(dims.size()) == dim(), "permute", "got ", dims.size(), " dims for a tensor of shape ",
                shape_str(shape()));
  Shape sh(dims.size());
  Strides st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = normalize_dim("permute", dims[i], dim());
    MOEGRAD_CHECK(!seen[d], "permute", "dim ", d, " appears twice in ", shape_str(dims));
    seen[d] = true;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[size_t(normalize_dim("permute", dims[i], dim()))] = int64_t(i);
  return record("permute", make_view(*this, sh, st, offset()), {*this},
                [inverse](const Tensor& g) -> Grads { return {g.permute(inverse)}; });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  MOEGRAD_CHECK(dim() > 0, "narrow", "cannot narrow a 0-d tensor");
  d = normalize_dim("narrow", d, dim());
  int64_t n = shape()[d];
  if (start < 0) start += n;
  MOEGRAD_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow", "start ", start, " + length ", length,
                " exceeds size ", n, " of dim ", d, " of ", shape_str(shape()));
  Shape sh = shape();
  sh[d] = length;
  return record_part("narrow", make_view(*this, sh, strides(), offset() + start * strides()[d]), *this,
                     [=](const Tensor& t) { return t.narrow(d, start, length); });
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  MOEGRAD_CHECK(dim() > 0, "slice", "cannot slice a 0-d tensor");
  d = normalize_dim("slice", d, dim());
  MOEGRAD_CHECK(step >= 1, "slice", "step must be >= 1, got ", step);
  int64_t n = shape()[d];
  auto clamp = [n](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
  start = clamp(start);
  end = std::max(clamp(end), start);
  Shape sh = shape();
  Strides st = strides();
  sh[d] = (end - start + step - 1) / step;
  st[d] *= step;
  return record_part("slice", make_view(*this, sh, st, offset() + start * strides()[d]), *this,
                     [=](const Tensor& t) { return t.slice(d, start, end, step); });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  MOEGRAD_CHECK(dim() > 0, "select", "cannot select from a 0-d tensor");
  d = normalize_dim("select", d, dim());
  int64_t n = shape()[d];
  MOEGRAD_CHECK(index >= -n && index < n, "select", "index ", index, " out of range for dim ", d, " of size ", n);
  if (index < 0) index += n;
  Shape sh = shape();
  Strides st = strides();
  int64_t off = offset() + index * st[d];
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return record_part("select", make_view(*this, sh, st, off), *this,
                     [=](const Tensor& t) { return t.select(d, index); });
}

Tensor Tensor::expand(const Shape& shape) const {
  MOEGRAD_CHECK(shape.size() >= size_t(dim()), "expand", "cannot expand ", shape_str(this->shape()), " to fewer dims ",
                shape_str(shape));
  size_t lead = shape.size() - size_t(dim());
  Shape sh(shape.size());
  Strides st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      MOEGRAD_CHECK(shape[i] >= 0, "expand", "invalid size ", shape[i], " in ", shape_str(shape));
      sh[i] = shape[i];
      continue;
    }
    int64_t have = this->shape()[i - lead], want = shape[i] == -1 ? have : shape[i];
    MOEGRAD_CHECK(have == want || have == 1, "expand", "cannot expand ", shape_str(this->shape()), " to ",
                  shape_str(shape), " (dim ", i, ": ", have, " -> ", want, ")");
    MOEGRAD_CHECK(want >= 0, "expand", "invalid size ", want, " in ", shape_str(shape));
    sh[i] = want;
    st[i] = have == want ? strides()[i - lead] : 0;
  }
  return record("expand", make_view(*this, sh, st, offset()), {*this},
                [shape = this->shape()](const Tensor& g) -> Grads { return {sum_to(g, shape)}; });
}

Tensor Tensor::squeeze() const {
  Shape sh;
  Strides st;
  for (int64_t d = 0; d < dim(); ++d)
    if (shape()[d] != 1) {
      sh.push_back(shape()[d]);
      st.push_back(strides()[d]);
    }
  return record_reshape("squeeze", make_view(*this, sh, st, offset()), *this);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = normalize_dim("squeeze", d, std::max<int64_t>(dim(), 1));
  if (dim() == 0) return *this;
  if (shape()[d] != 1) return *this;
  Shape sh = shape();
  Strides st = strides();
  sh.erase(sh.begin() + d);
  st.erase(st.begin() + d);
  return record_reshape("squeeze", make_view(*this, sh, st, offset()), *this);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = normalize_dim("unsqueeze", d, dim() + 1);
  Shape sh = shape();
  Strides st = strides();
  int64_t stride = d < dim() ? strides()[d] * shape()[d] : 1;
  sh.insert(sh.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return record_reshape("unsqueeze", make_view(*this, sh, st, offset()), *this);
}

// ---- copies ----

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  return record("clone", cast(*this, dtype()), {*this}, [](const Tensor& g) -> Grads { return {g}; });
}

// Only casts between floating dtypes carry a gradient (record() skips
// integer and bool outputs).
Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  return record("to", cast(*this, dtype), {*this},
                [from = this->dtype()](const Tensor& g) -> Grads { return {cast(g, from)}; });
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  return record("to", to_device(*this, device), {*this},
                [from = this->device()](const Tensor& g) -> Grads { return {g.to(from)}; });
}


}  // namespace moegrad

// ---- autograd fields ----

namespace moegrad {

Tensor& Tensor::requires_grad_(bool on) {
  MOEGRAD_CHECK(!on || is_floating(dtype()), "requires_grad_", "only floating tensors can require grad, got ",
                dtype_name(dtype()));
  MOEGRAD_CHECK(is_leaf(), "requires_grad_", "can only be set on a leaf; use detach() to start a new leaf");
  impl().requires_grad = on;
  return *this;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) {
  impl().grad_fn = std::move(fn);
  impl().requires_grad = impl().grad_fn != nullptr;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined())
    MOEGRAD_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad", "gradient ", shape_str(g.shape()), " ",
                  dtype_name(g.dtype()), " does not match tensor ", shape_str(shape()), " ", dtype_name(dtype()));
  impl().grad = g.defined() ? g.impl_ptr() : nullptr;
}

Tensor Tensor::detach() const {
  auto d = std::make_shared<TensorImpl>();
  d->storage = storage();
  d->shape = shape();
  d->strides = strides();
  d->offset = offset();
  d->dtype = dtype();
  return Tensor(std::move(d));
}

}  // namespace moegrad
