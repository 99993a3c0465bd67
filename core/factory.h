// Creating tensors: constants, ranges, random draws and copies of host data.
// All return contiguous tensors.
#pragma once

#include <vector>

#include "core/random.h"
#include "core/tensor.h"

namespace moegrad {

Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar_tensor(double value, DType dtype = DType::f32, Device device = Device::cpu());  // 0-d

// [start, end) by step, as PyTorch: length ceil((end - start) / step).
Tensor arange(double start, double end, double step = 1, DType dtype = DType::i64,
              Device device = Device::cpu());
Tensor arange(int64_t end, DType dtype = DType::i64, Device device = Device::cpu());

// Uniform in [low, high) and normal(mean, std); floating dtypes only. Without
// a generator they draw from default_generator().
Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr,
            Device device = Device::cpu());
Tensor uniform(const Shape& shape, double low, double high, DType dtype = DType::f32,
               Generator* gen = nullptr, Device device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr,
             Device device = Device::cpu());
Tensor normal(const Shape& shape, double mean, double std, DType dtype = DType::f32,
              Generator* gen = nullptr, Device device = Device::cpu());

// A tensor holding a copy of `values` (row-major) with the given shape; the
// dtype follows T (float -> f32, double -> f64, int32_t, int64_t, bool).
// numel(shape) must equal values.size().
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
// 1-D shorthand.
template <class T>
Tensor from_vector(const std::vector<T>& values, Device device = Device::cpu()) {
  return from_vector(values, Shape{int64_t(values.size())}, device);
}

}  // namespace moegrad
