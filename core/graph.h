// The autograd graph, as ops record it.
//
// Every differentiable op computes its forward result and then calls
// `record`, handing over a closure that maps the gradient of the output to
// the gradients of the inputs. The closure captures what the backward needs
// (as SavedTensor, so in-place changes are caught) and sits right under the
// forward code, so a reader sees both at once:
//
//   Tensor mul(const Tensor& a, const Tensor& b) {
//     Tensor out = ...forward...;
//     return record("mul", out, {a, b}, [a = save(a), b = save(b)](const Tensor& g) -> Grads {
//       return {mul(g, b.get()), mul(g, a.get())};
//     });
//   }
//
// `record` only builds a node when grad mode is on and an input requires
// grad; autograd/engine.cpp walks the nodes backwards.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <vector>

#include "core/tensor.h"

namespace moegrad {

// ---- grad mode ----
// Whether ops record the graph on this thread (on by default).
bool grad_enabled();
// Turns recording off for its scope, as torch.no_grad().
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// ---- saved tensors ----
// A tensor kept for backward together with its storage's version at save
// time; get() throws if the tensor was modified in place since.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const char* op, const Tensor& t);
  const Tensor& get() const;

 private:
  const char* op_ = "";
  Tensor tensor_;
  uint64_t version_ = 0;
};
inline SavedTensor save(const char* op, const Tensor& t) { return SavedTensor(op, t); }

// ---- nodes ----
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& grad_out)>;

// Where one input's gradient goes: the node that produced the input, or the
// leaf whose .grad() accumulates it. The shape and dtype are the input's, so
// the engine can say what mismatched.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;
  Shape shape;
  DType dtype = DType::f32;
};

class Node {
 public:
  Node(const char* name, BackwardFn fn, std::vector<Edge> next)
      : name_(name), fn_(std::move(fn)), next_(std::move(next)) {}
  ~Node();  // iterative, so freeing a very long chain cannot overflow the stack
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  const char* name() const { return name_; }
  const std::vector<Edge>& next() const { return next_; }
  // The gradients of the inputs, in recording order (undefined where none flows).
  Grads apply(const Tensor& grad_out);
  // Frees the saved tensors; a later apply() throws.
  void release() { fn_ = nullptr; }

 private:
  const char* name_;
  BackwardFn fn_;
  std::vector<Edge> next_;
};

// Attaches a node computing `fn` to `out` when grad mode is on and any input
// requires grad; returns `out` either way.
Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, BackwardFn fn);
// True when an op on these inputs would record a node.
bool needs_grad(const std::vector<Tensor>& inputs);

// Sums a broadcast gradient back to `shape`: the one place where every
// broadcasting op's backward undoes the broadcast.
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace moegrad
