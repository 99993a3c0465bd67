// Helpers shared by the tests: naive element access through strides, index
// iteration, and builders of non-contiguous inputs. The reference loops in
// each test are written against these, never against the kernels under test.
#pragma once

#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/tensor.h"

namespace moegrad::testing {

using Index = std::vector<int64_t>;

// Element at a multi-index of a CPU tensor, read through its strides, as double.
inline double at(const Tensor& t, const Index& idx) {
  REQUIRE(int64_t(idx.size()) == t.dim());
  int64_t off = t.offset();
  for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.strides()[d];
  const char* base = static_cast<const char*>(t.storage()->data());
  return dispatch(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return double(reinterpret_cast<const T*>(base)[off]);
  });
}

// Calls f(index) for every multi-index of `shape`, in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const Index&)>& f) {
  if (numel(shape) == 0) return;
  Index idx(shape.size(), 0);
  while (true) {
    f(idx);
    int64_t d = int64_t(shape.size()) - 1;
    while (d >= 0 && ++idx[d] == shape[d]) idx[d--] = 0;
    if (d < 0) return;
  }
}

// A tensor of `shape` and `dtype` whose element at index i is f(i), built
// through from_vector and cast, never through the ops under test.
inline Tensor make(const Shape& shape, DType dtype, const std::function<double(const Index&)>& f) {
  std::vector<double> v;
  for_each_index(shape, [&](const Index& i) { v.push_back(f(i)); });
  return cast(from_vector(v, shape), dtype);
}

inline Tensor values_tensor(const std::vector<double>& v, const Shape& shape, DType dtype) {
  return cast(from_vector(v, shape), dtype);
}

// Every element of t in row-major order, read through at().
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for_each_index(t.shape(), [&](const Index& i) { v.push_back(at(t, i)); });
  return v;
}

// A random f64 leaf that requires grad, for gradchecks.
inline Tensor grad_leaf(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, DType::f64, &gen).requires_grad_();
}

// gradcheck that reports its first mismatch when it fails.
inline void require_gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(r.message);
  REQUIRE(r.ok);
}

// Random values of any dtype: normal floats, integers in [-5, 5], random bools.
inline Tensor random_tensor(const Shape& shape, DType dtype = DType::f32, uint64_t seed = 1) {
  Generator gen(seed);
  Tensor x = randn(shape, DType::f64, &gen);
  if (is_floating(dtype)) return cast(x, dtype);
  if (dtype == DType::b8) return cast(gt(x, 0.0), DType::b8);
  return cast(mul(x, 2.5), dtype);  // truncation toward zero gives small ints
}

// A tensor with the same values as `t` whose layout is not contiguous: a
// transposed copy transposed back (rank >= 2), or every other element of a
// twice-as-long buffer (rank 1).
inline Tensor noncontiguous(const Tensor& t) {
  if (t.dim() >= 2) {
    Tensor tr = t.transpose(0, t.dim() - 1).contiguous().transpose(0, t.dim() - 1);
    return tr;
  }
  if (t.dim() == 1 && t.size(0) > 0) {
    Tensor wide = zeros({t.size(0), 2}, t.dtype());
    copy_(wide.select(1, 0), t);
    return wide.select(1, 0);
  }
  return t;
}

// Every element of a and b within atol + rtol * |b| (NaN only matches NaN).
inline void require_close(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  INFO("shapes " << shape_str(a.shape()) << " vs " << shape_str(b.shape()));
  REQUIRE(a.shape() == b.shape());
  for_each_index(a.shape(), [&](const Index& i) {
    double x = at(a, i), y = at(b, i);
    if (std::isnan(y)) {
      REQUIRE(std::isnan(x));
      return;
    }
    INFO("at index " << shape_str(i) << ": " << x << " vs " << y);
    REQUIRE(std::abs(x - y) <= atol + rtol * std::abs(y));
  });
}

// Runs f and requires it to throw moegrad::Error whose message contains
// `needle` (typically the op's name).
template <class F>
void require_error(F&& f, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    INFO("message: " << e.what());
    REQUIRE(std::string(e.what()).find(needle) != std::string::npos);
    return;
  }
  FAIL("expected moegrad::Error containing '" << needle << "'");
}

// ---- data for the training checks ----

// A fresh directory under the system's temp dir (unique per process and
// call), removed with everything in it when the object goes.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& name) {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("moegrad_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

// The bytes of a file in tests/data/.
inline std::string read_fixture(const std::string& name) {
  return read_file(std::string(MOEGRAD_TEST_DATA_DIR) + "/" + name);
}

// A batch of `batch` random windows of `len + 1` bytes: inputs and the next bytes.
inline std::pair<Tensor, Tensor> sample(const std::string& text, int64_t batch, int64_t len, Generator& gen) {
  Tensor starts = cast(mul(rand({batch}, DType::f64, &gen), double(text.size() - len - 1)), DType::i64);
  std::vector<int64_t> x, y;
  for (int64_t s : starts.to_vector<int64_t>())
    for (int64_t i = 0; i < len; ++i) {
      x.push_back(uint8_t(text[size_t(s + i)]));
      y.push_back(uint8_t(text[size_t(s + i + 1)]));
    }
  return {from_vector(x, {batch, len}), from_vector(y, {batch, len})};
}

}  // namespace moegrad::testing
