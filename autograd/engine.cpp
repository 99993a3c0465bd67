#include "autograd/engine.h"

#include <unordered_map>
#include <utility>

#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

namespace {

// Adds g into slot (a running sum), after checking it has the input's shape
// and dtype; a mismatch is a bug in some op's backward, named here.
void accumulate(Tensor& slot, const Tensor& g, const Edge& edge, const char* from) {
  MOEGRAD_CHECK(g.shape() == edge.shape && g.dtype() == edge.dtype, "backward",
                "the backward of ", from, " returned a gradient ", shape_str(g.shape()), " ", dtype_name(g.dtype()),
                " for an input ", shape_str(edge.shape), " ", dtype_name(edge.dtype));
  slot = slot.defined() ? add(slot, g) : g;
}

// Nodes reachable from root, each after every node that feeds it a gradient
// (reverse post-order of an iterative depth-first walk).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post;
  std::unordered_map<Node*, bool> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  seen[root] = true;
  while (!stack.empty()) {
    auto& [node, next_child] = stack.back();
    if (next_child < node->next().size()) {
      Node* child = node->next()[next_child++].node.get();
      if (child && !seen[child]) {
        seen[child] = true;
        stack.push_back({child, 0});
      }
    } else {
      post.push_back(node);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  MOEGRAD_CHECK(root.requires_grad(), "backward", "the tensor does not require grad (no input of the ops that made it ",
                "requires grad, or it was computed under NoGradGuard)");
  Tensor seed = grad;
  if (!seed.defined()) {
    MOEGRAD_CHECK(root.numel() == 1, "backward", "an implicit gradient needs a one-element output, got ",
                  shape_str(root.shape()), "; pass the gradient explicitly");
    seed = ones(root.shape(), root.dtype(), root.device());
  }
  MOEGRAD_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype(), "backward", "gradient ",
                shape_str(seed.shape()), " ", dtype_name(seed.dtype()), " does not match the output ",
                shape_str(root.shape()), " ", dtype_name(root.dtype()));

  NoGradGuard no_grad;  // backward computes plain values: no graph of the graph
  Edge root_edge{root.grad_fn(), root.is_leaf() ? root.impl_ptr() : nullptr, root.shape(), root.dtype()};
  if (root.is_leaf()) {
    Tensor g = root.grad();
    accumulate(g, seed, root_edge, "backward");
    root.impl_ptr()->grad = (root.grad().defined() ? g : g.clone()).impl_ptr();
    return;
  }

  std::unordered_map<Node*, Tensor> pending;  // gradient summed so far for each node's output
  pending[root.grad_fn().get()] = seed;
  for (Node* node : topological_order(root.grad_fn().get())) {
    Tensor g = std::move(pending[node]);
    pending.erase(node);
    if (!g.defined()) continue;  // no gradient reached this node
    Grads grads = node->apply(g);
    MOEGRAD_CHECK(grads.size() == node->next().size(), "backward", "the backward of ", node->name(), " returned ",
                  grads.size(), " gradients for ", node->next().size(), " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& edge = node->next()[i];
      if (!grads[i].defined() || (!edge.node && !edge.leaf)) continue;
      if (edge.node) {
        accumulate(pending[edge.node.get()], grads[i], edge, node->name());
      } else {
        // A leaf's first gradient is cloned: it may share storage with other
        // gradients of this pass, and users may write to .grad().
        Tensor leaf_grad = edge.leaf->grad ? Tensor(edge.leaf->grad) : Tensor();
        accumulate(leaf_grad, grads[i], edge, node->name());
        edge.leaf->grad = (edge.leaf->grad ? leaf_grad : leaf_grad.clone()).impl_ptr();
      }
    }
    if (!retain_graph) node->release();
  }
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { moegrad::backward(*this, grad, retain_graph); }

}  // namespace moegrad
