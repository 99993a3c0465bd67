// Element types. A tensor's dtype is a runtime tag; `dispatch` turns it into a
// C++ type so one templated kernel body serves every dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>

#include "core/error.h"

namespace moegrad {

// b8 is the mask type produced by comparisons (one byte, 0 or 1).
enum class DType : uint8_t { f32, f64, i32, i64, b8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f64", "i32", "i64", "bool"
inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }
inline bool is_integral(DType t) { return t == DType::i32 || t == DType::i64; }
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// The C++ type behind each dtype, and back.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::b8; };

// dispatch(t, [&](auto tag) { using T = decltype(tag); ... }) calls the lambda
// with a value of the C++ type of `t` (bool for b8: one byte, like PyTorch).
template <class F>
decltype(auto) dispatch(DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::b8: return f(bool{});
  }
  detail::fail("dispatch", "unknown dtype ", int(t));
}

// The same, restricted to f32/f64; other dtypes are an error naming `op`.
template <class F>
decltype(auto) dispatch_floating(const char* op, DType t, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: detail::fail(op, "expected a floating dtype (f32 or f64), got ", dtype_name(t));
  }
}

}  // namespace moegrad
