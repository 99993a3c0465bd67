// The single list of moegrad's public ops, and whether each carries a
// gradient. tests/test_gradcheck.cpp walks it: a differentiable op without a
// finite-difference gradcheck case there fails the suite, so no op can be
// added without its backward and its check. Node names recorded by
// core/graph.h's record() are names from this list.
#pragma once

#include <vector>

namespace moegrad {

struct OpInfo {
  const char* name;
  bool differentiable;
};

const std::vector<OpInfo>& op_registry();

}  // namespace moegrad
