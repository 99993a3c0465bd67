#include "core/graph.h"

#include "core/reduce.h"

namespace moegrad {

namespace {
thread_local bool grad_mode = true;
}

bool grad_enabled() { return grad_mode; }
NoGradGuard::NoGradGuard() : previous_(grad_mode) { grad_mode = false; }
NoGradGuard::~NoGradGuard() { grad_mode = previous_; }

// Saved detached: an op that saves its own output would otherwise hold its
// node alive from inside the node (a reference cycle, never freed).
SavedTensor::SavedTensor(const char* op, const Tensor& t)
    : op_(op), tensor_(t.detach()), version_(t.storage()->version()) {}

const Tensor& SavedTensor::get() const {
  MOEGRAD_CHECK(tensor_.storage()->version() == version_, op_,
                "a tensor of shape ", shape_str(tensor_.shape()), " saved for backward was modified in place (version ",
                tensor_.storage()->version(), ", saved at ", version_, "); clone it before writing to it");
  return tensor_;
}

Node::~Node() {
  // Destroying a node would destroy its inputs' nodes recursively. Instead,
  // take over the edges of every node this one owns alone, and let each die
  // with no edges left.
  std::vector<std::shared_ptr<Node>> owned;
  for (Edge& e : next_)
    if (e.node) owned.push_back(std::move(e.node));
  while (!owned.empty()) {
    std::shared_ptr<Node> n = std::move(owned.back());
    owned.pop_back();
    if (n.use_count() == 1)
      for (Edge& e : n->next_)
        if (e.node) owned.push_back(std::move(e.node));
  }
}

Grads Node::apply(const Tensor& grad_out) {
  MOEGRAD_CHECK(fn_ != nullptr, name_,
                "backward through a graph that was already freed; pass retain_graph=true to the first backward");
  return fn_(grad_out);
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn) {
  // Integer and bool results (indices, masks) carry no gradient.
  if (!is_floating(out.dtype()) || !needs_grad(inputs)) return out;
  std::vector<Edge> next;
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn())
        e.node = t.grad_fn();
      else
        e.leaf = t.impl_ptr();
      e.shape = t.shape();
      e.dtype = t.dtype();
    }
    next.push_back(std::move(e));
  }
  out.set_grad_fn(std::make_shared<Node>(op, std::move(fn), std::move(next)));
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  // Leading dims the broadcast added, then dims that were 1 and grew.
  int64_t lead = grad.dim() - int64_t(shape.size());
  Dims dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[size_t(d - lead)] == 1 && grad.size(d) != 1)) dims.push_back(d);
  Tensor s = dims.empty() ? grad : sum(grad, dims, true);
  return s.reshape(shape);
}

}  // namespace moegrad
