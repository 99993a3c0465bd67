// Tensor printing, following PyTorch's repr: 4 decimals (or "1." when every
// value is an integer), scientific notation when magnitudes span more than
// 1e3 or leave [1e-4, 1e8], one width for all elements, and "..." for tensors
// over 1000 elements, keeping 3 items at each edge.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/tensor.h"

namespace moegrad {

namespace {

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  DType dtype;
  bool int_mode = true;  // floats that are all integers print as "1."
  bool sci = false;
  size_t width = 1;

  std::string format(double v) const {
    char buf[64];
    if (dtype == DType::b8) return v != 0 ? "True" : "False";
    if (!is_floating(dtype)) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    } else if (std::isnan(v)) {
      return "nan";
    } else if (std::isinf(v)) {
      return v > 0 ? "inf" : "-inf";
    } else if (sci) {
      std::snprintf(buf, sizeof buf, "%.4e", v);
    } else if (int_mode) {
      std::snprintf(buf, sizeof buf, "%.0f.", v);
    } else {
      std::snprintf(buf, sizeof buf, "%.4f", v);
    }
    return buf;
  }
};

Formatter make_formatter(DType dtype, const std::vector<double>& values) {
  Formatter f{dtype};
  if (is_floating(dtype)) {
    double lo = INFINITY, hi = 0;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      if (v != std::round(v)) f.int_mode = false;
      double a = std::abs(v);
      if (a == 0) continue;
      lo = std::min(lo, a);
      hi = std::max(hi, a);
    }
    if (hi > 0) f.sci = hi / lo > 1e3 || hi > 1e8 || (!f.int_mode && lo < 1e-4);
    // Like PyTorch, the column width comes from the non-zero finite values.
    for (double v : values)
      if (std::isfinite(v) && v != 0) f.width = std::max(f.width, f.format(v).size());
    return f;
  }
  for (double v : values) f.width = std::max(f.width, f.format(v).size());
  return f;
}

// Which indices of a dim of size n get printed; -1 marks the "..." gap.
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

void print_block(std::ostream& os, const Formatter& f, const std::vector<double>& values, const Shape& shape,
                 const Strides& strides, size_t d, int64_t offset, size_t indent, bool summarize) {
  std::vector<int64_t> idx = shown(shape[d], summarize);
  bool last = d + 1 == shape.size();
  std::string sep = last ? ", " : "," + std::string(shape.size() - d - 1, '\n') + std::string(indent + 1, ' ');
  os << "[";
  for (size_t k = 0; k < idx.size(); ++k) {
    if (k) os << sep;
    if (idx[k] < 0) {
      os << (last ? " ..." : "...");  // PyTorch's gap markers, within a row and between rows
      continue;
    }
    int64_t at = offset + idx[k] * strides[d];
    if (last) {
      std::string s = f.format(values[size_t(at)]);
      os << std::string(f.width > s.size() ? f.width - s.size() : 0, ' ') << s;
    } else {
      print_block(os, f, values, shape, strides, d + 1, at, indent + 1, summarize);
    }
  }
  os << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  std::vector<double> values = to_vector<double>();
  const std::string prefix = "tensor(";
  os << prefix;
  if (dim() == 0) {
    os << make_formatter(dtype(), values).format(values[0]);
  } else if (numel() == 0) {
    os << "[]";
    if (dim() > 1) {
      os << ", size=(";
      for (int64_t d = 0; d < dim(); ++d) os << (d ? ", " : "") << shape()[d];
      os << ")";
    }
  } else {
    bool summarize = numel() > kSummarizeAbove;
    // The formatter only looks at what will be printed, as PyTorch does.
    std::vector<double> visible;
    Strides st = contiguous_strides(shape());
    std::vector<std::vector<int64_t>> per_dim;
    for (int64_t d = 0; d < dim(); ++d) per_dim.push_back(shown(shape()[d], summarize));
    std::vector<size_t> k(size_t(dim()), 0);
    while (true) {
      bool gap = false;
      int64_t off = 0;
      for (int64_t d = 0; d < dim(); ++d) {
        int64_t i = per_dim[d][k[d]];
        gap |= i < 0;
        off += (i < 0 ? 0 : i) * st[d];
      }
      if (!gap) visible.push_back(values[size_t(off)]);
      int64_t d = dim() - 1;
      while (d >= 0 && ++k[d] == per_dim[d].size()) k[d--] = 0;
      if (d < 0) break;
    }
    print_block(os, make_formatter(dtype(), visible), values, shape(), st, 0, 0, prefix.size(), summarize);
  }
  if (dtype() != DType::f32 && dtype() != DType::i64 && dtype() != DType::b8) os << ", dtype=" << dtype_name(dtype());
  if (!device().is_cpu()) os << ", device=" << device().str();
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace moegrad
