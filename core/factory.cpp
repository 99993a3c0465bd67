#include "core/factory.h"

#include <cmath>

#include "core/backend.h"
#include "core/copy.h"

namespace moegrad {

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  backend(device).fill(t, value);
  return t;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  MOEGRAD_CHECK(step != 0 && std::isfinite(step) && std::isfinite(start) && std::isfinite(end), "arange",
                "invalid range start=", start, " end=", end, " step=", step);
  MOEGRAD_CHECK((end - start) / step >= 0 || start == end, "arange", "step ", step, " goes away from end (start=",
                start, ", end=", end, ")");
  MOEGRAD_CHECK(dtype != DType::b8, "arange", "bool dtype is not supported");
  double n = std::ceil((end - start) / step);
  MOEGRAD_CHECK(n < 9.0e18, "arange", "too many elements: ", n);
  Tensor t = Tensor::empty({int64_t(std::max(n, 0.0))}, dtype, device);
  backend(device).arange(t, start, step);
  return t;
}

Tensor arange(int64_t end, DType dtype, Device device) { return arange(0, double(end), 1, dtype, device); }

namespace {
Tensor draw(const char* op, const Shape& shape, RandomKind kind, double a, double b, DType dtype, Generator* gen,
            Device device) {
  MOEGRAD_CHECK(is_floating(dtype), op, "expected a floating dtype (f32 or f64), got ", dtype_name(dtype));
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape, dtype, device);
  backend(device).random(t, kind, g.seed(), g.advance(uint64_t(t.numel())), a, b);
  return t;
}
}  // namespace

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator* gen, Device device) {
  MOEGRAD_CHECK(low <= high, "uniform", "low ", low, " > high ", high);
  return draw("uniform", shape, RandomKind::uniform, low, high, dtype, gen, device);
}
Tensor rand(const Shape& shape, DType dtype, Generator* gen, Device device) {
  return draw("rand", shape, RandomKind::uniform, 0, 1, dtype, gen, device);
}
Tensor normal(const Shape& shape, double mean, double std, DType dtype, Generator* gen, Device device) {
  MOEGRAD_CHECK(std >= 0, "normal", "std must be >= 0, got ", std);
  return draw("normal", shape, RandomKind::normal, mean, std, dtype, gen, device);
}
Tensor randn(const Shape& shape, DType dtype, Generator* gen, Device device) {
  return draw("randn", shape, RandomKind::normal, 0, 1, dtype, gen, device);
}

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  MOEGRAD_CHECK(numel(shape) == int64_t(values.size()), "from_vector", values.size(),
                " values do not fill shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>::value, Device::cpu());
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];  // std::vector<bool> has no data()
  return t.to(device);
}

template Tensor from_vector(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector(const std::vector<bool>&, const Shape&, Device);

}  // namespace moegrad
