#include "core/op_registry.h"

namespace moegrad {

const std::vector<OpInfo>& op_registry() {
  static const std::vector<OpInfo> ops = {
      // views and copies (core/tensor.h)
      {"view", true}, {"reshape", true}, {"flatten", true}, {"transpose", true}, {"t", true}, {"permute", true},
      {"narrow", true}, {"slice", true}, {"select", true}, {"expand", true}, {"squeeze", true},
      {"unsqueeze", true}, {"contiguous", true}, {"clone", true}, {"to", true},
      // core/elementwise.h
      {"neg", true}, {"abs", true}, {"exp", true}, {"log", true}, {"sqrt", true}, {"rsqrt", true}, {"tanh", true},
      {"sigmoid", true}, {"relu", true}, {"gelu", true}, {"silu", true}, {"pow", true}, {"add", true},
      {"sub", true}, {"mul", true}, {"div", true}, {"maximum", true}, {"minimum", true}, {"where", true},
      {"eq", false}, {"ne", false}, {"lt", false}, {"le", false}, {"gt", false}, {"ge", false},
      // core/reduce.h
      {"sum", true}, {"mean", true}, {"var", true}, {"amax", true}, {"amin", true}, {"logsumexp", true},
      {"softmax", true}, {"log_softmax", true}, {"cumsum", true}, {"argmax", false}, {"argmin", false},
      // core/norm.h
      {"layer_norm", true}, {"rms_norm", true},
      // core/matmul.h
      {"matmul", true}, {"grouped_matmul", true},
      // core/indexing.h
      {"index_select", true}, {"gather", true}, {"scatter_add", true}, {"index_add", true}, {"embedding", true},
      {"topk", true}, {"sort", true}, {"argsort", false}, {"bincount", false},
      // core/join.h
      {"cat", true}, {"stack", true}, {"split", true}, {"chunk", true},
      // core/copy.h: in-place writes and casts outside the graph
      {"fill_", false}, {"copy_", false}, {"cast", false},
  };
  return ops;
}

}  // namespace moegrad
