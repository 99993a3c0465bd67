// The backward engine: given a tensor computed by recorded ops, it visits
// the graph of nodes (core/graph.h) in reverse topological order, calls each
// node's backward closure once with the sum of the gradients reaching it, and
// accumulates the results into the leaves' .grad().
//
// The walk uses an explicit stack, so graph depth is limited by memory, not
// by the call stack. Unless asked to retain it, each node frees what it saved
// as soon as it has run; a second backward through it is an error.
//
// Tensor::backward() (core/tensor.h) is the usual entry point; this header
// also holds the functional form.
#pragma once

#include "core/tensor.h"

namespace moegrad {

void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false);

}  // namespace moegrad
