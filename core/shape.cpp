#include "core/shape.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace moegrad {

int64_t numel(const Shape& s) {
  // A zero anywhere makes the product 0, however large the other sizes.
  if (std::find(s.begin(), s.end(), 0) != s.end()) return 0;
  int64_t n = 1;
  for (int64_t d : s)
    MOEGRAD_CHECK(!__builtin_mul_overflow(n, d, &n), "shape", shape_str(s), " has more than 2^63 - 1 elements");
  return n;
}

Strides contiguous_strides(const Shape& s) {
  Strides st(s.size());
  int64_t step = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = step;
    // Only an empty shape (numel refuses the others) gets this far past
    // int64, e.g. [2^62, 4, 0]; its strides are never used to address.
    if (__builtin_mul_overflow(step, std::max<int64_t>(s[i], 1), &step)) step = INT64_MAX;
  }
  return st;
}

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t normalize_dim(const char* op, int64_t dim, int64_t rank) {
  MOEGRAD_CHECK(dim >= -rank && dim < rank, op, "dim ", dim, " out of range for a tensor of rank ", rank,
                " (expected ", -rank, " <= dim < ", rank, ")");
  return dim < 0 ? dim + rank : dim;
}

std::vector<int64_t> normalize_dims(const char* op, const std::vector<int64_t>& dims, int64_t rank) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < rank; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(normalize_dim(op, d, std::max<int64_t>(rank, 1)));
  std::sort(out.begin(), out.end());
  MOEGRAD_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "dim appears twice in the list");
  if (rank == 0) out.clear();  // dim 0 / -1 of a 0-d tensor: nothing to reduce
  return out;
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    MOEGRAD_CHECK(da == db || da == 1 || db == 1, op, "shapes ", shape_str(a), " and ", shape_str(b),
                  " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

}  // namespace moegrad
