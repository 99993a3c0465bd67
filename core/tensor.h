// Tensor: a cheap handle to shared storage plus a view of it (shape, strides,
// offset, dtype). Copying a Tensor copies the handle, not the data, as in
// PyTorch. View methods (reshape, transpose, slice, ...) return tensors that
// share storage; `contiguous()` copies only when the view is not already
// laid out row-major.
//
//   Tensor x = randn({4, 3});             // f32 on the CPU
//   Tensor y = x.transpose(0, 1);          // a view: no copy
//   Tensor z = matmul(x, y);               // [4,4]
//   std::cout << z << "\n";                // prints like PyTorch
//
// Ops are free functions declared by family: core/elementwise.h,
// core/reduce.h, core/matmul.h, core/indexing.h, core/join.h, core/copy.h;
// factories in core/factory.h.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace moegrad {

class Node;  // core/graph.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;

  // autograd: a leaf that requires grad accumulates into `grad`; a tensor
  // computed from one records the op that made it in `grad_fn`.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<TensorImpl> grad;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialized contiguous tensor; factories in core/factory.h fill it.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;  // d may be negative
  int64_t numel() const { return moegrad::numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  bool is_contiguous() const;
  bool same(const Tensor& o) const { return impl_ == o.impl_; }  // same handle

  // Pointer to the first element of the view. data<T>() checks that T is the
  // tensor's C++ type; on CUDA tensors the pointer is a device pointer.
  void* raw_data() const;
  template <class T> T* data() const {
    MOEGRAD_CHECK(dtype_of<T>::value == dtype(), "data", "requested ", dtype_name(dtype_of<T>::value),
                  " but tensor is ", dtype_name(dtype()));
    return static_cast<T*>(raw_data());
  }

  // The value of a one-element tensor (any rank), converted to T.
  template <class T> T item() const;
  // All elements in row-major order, converted to T (copies to the host).
  template <class T> std::vector<T> to_vector() const;

  // ---- views: share storage, never copy ----
  Tensor view(const Shape& shape) const;     // requires compatible strides; one dim may be -1
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a contiguous copy
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  // Python-style slice [start:end:step] along dim; start/end may be negative
  // and are clamped like Python's; step must be >= 1.
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // removes dim
  Tensor expand(const Shape& shape) const;          // size-1 dims get stride 0; -1 keeps a dim
  Tensor squeeze() const;                           // drops every size-1 dim
  Tensor squeeze(int64_t dim) const;                // drops dim if its size is 1
  Tensor unsqueeze(int64_t dim) const;

  // ---- copies ----
  Tensor contiguous() const;  // this tensor itself if already contiguous
  Tensor clone() const;       // always a fresh contiguous copy
  Tensor to(DType dtype) const;    // cast; this tensor itself if dtype matches
  Tensor to(Device device) const;  // copy to another device

  std::string str() const;  // PyTorch-style text, as operator<< prints

  // ---- autograd (core/graph.h records, autograd/engine.cpp runs backward) ----
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf as a parameter to differentiate; floating dtypes only.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  void set_grad_fn(std::shared_ptr<Node> fn);  // for core/graph.h's record()
  // The accumulated gradient of a leaf (undefined until a backward reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& g);  // undefined clears it
  // The same data, cut from the graph: no grad_fn, no requires_grad.
  Tensor detach() const;
  // Backpropagates from this tensor (a scalar, unless `grad` is given) into
  // every leaf that requires grad; frees the graph unless retain_graph.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  TensorImpl& impl() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace moegrad
