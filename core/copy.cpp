#include "core/copy.h"

#include "core/backend.h"
#include "core/graph.h"

namespace moegrad {

namespace {
// In-place writes are not differentiable here: refuse them where a graph is
// being recorded rather than produce silently wrong gradients.
void check_not_in_graph(const char* op, const Tensor& dst, const Tensor& src) {
  if (!grad_enabled()) return;
  MOEGRAD_CHECK(!dst.requires_grad(), op, "in-place write to a tensor that requires grad ", shape_str(dst.shape()),
                "; do it under NoGradGuard or on a detach()ed tensor");
  MOEGRAD_CHECK(!src.defined() || !src.requires_grad(), op, "source ", shape_str(src.shape()),
                " requires grad but in-place copies are not differentiable; use cat/where, or copy src.detach()");
}
}  // namespace

void fill_(const Tensor& dst, double value) {
  check_not_in_graph("fill_", dst, Tensor());
  backend(dst.device()).fill(dst, value);
  dst.storage()->bump_version();
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_not_in_graph("copy_", dst, src);
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
