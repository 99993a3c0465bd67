#include "core/dtype.h"

namespace moegrad {

size_t dtype_size(DType t) {
  return dispatch(t, [](auto tag) { return sizeof(tag); });
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::b8: return "bool";
  }
  return "?";
}

}  // namespace moegrad
