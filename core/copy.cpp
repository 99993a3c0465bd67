#include "core/copy.h"

#include "core/backend.h"

namespace moegrad {

void fill_(const Tensor& dst, double value) {
  backend(dst.device()).fill(dst, value);
  dst.storage()->bump_version();
}

void copy_(const Tensor& dst, const Tensor& src) {
  MOEGRAD_CHECK(src.device() == dst.device(), "copy_", "src on ", src.device(), " but dst on ", dst.device());
  Shape shape = broadcast_shapes("copy_", src.shape(), dst.shape());
  MOEGRAD_CHECK(shape == dst.shape(), "copy_", "src ", shape_str(src.shape()), " does not broadcast to dst ",
                shape_str(dst.shape()));
  // Copying a tensor onto an overlapping view of itself would read elements
  // already overwritten; go through a temporary instead.
  Tensor from = src.storage() == dst.storage() ? src.clone() : src;
  backend(dst.device()).copy(from.expand(shape), dst);
  dst.storage()->bump_version();
}

Tensor cast(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  backend(src.device()).copy(src, out);
  return out;
}

}  // namespace moegrad
