// CPU kernels for core/indexing.h: index_select, gather, scatter_add,
// index_add, topk, sort and bincount. The core ops have already checked
// shapes, dtypes and every index's range (see core/backend.h), so these only
// compute.
//
// index_select and gather write each output element once, so they run on
// cpu::for_each_row over the output. scatter_add and index_add can hit one
// output element many times; they split the work over the positions *across*
// `dim` (which never collide) and add along `dim` in order inside each, so the
// result is bit-identical whatever the thread count.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/loops.h"

namespace moegrad {

namespace {

// Calls f(I{}) with the C++ type of an index tensor (i32 or i64). The core
// ops guarantee one of the two; data<I>() would throw on anything else.
template <class F>
decltype(auto) dispatch_index(DType t, F&& f) {
  if (t == DType::i32) return f(int32_t{});
  return f(int64_t{});
}

// A 1-D index tensor (any stride) as int64 values; index lists are short next
// to the data they address, so reading them once up front is cheap.
std::vector<int64_t> read_indices(const Tensor& index) {
  std::vector<int64_t> out(size_t(index.numel()));
  dispatch_index(index.dtype(), [&](auto tag) {
    using I = decltype(tag);
    const I* p = index.data<I>();
    const int64_t stride = index.dim() == 0 ? 0 : index.strides()[0];
    for (size_t i = 0; i < out.size(); ++i) out[i] = int64_t(p[int64_t(i) * stride]);
  });
  return out;
}

// A shape or strides with one dim removed.
Strides without(const Strides& s, int64_t dim) {
  Strides out = s;
  out.erase(out.begin() + dim);
  return out;
}

// NaN-aware orderings in which NaN is the largest value. Both are strict weak
// orderings (all NaNs are equivalent), so the standard algorithms are safe.
template <class T>
bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}
template <class T>
bool greater_nan_first(T a, T b) {
  return less_nan_last(b, a);
}

}  // namespace

void CpuBackend::index_select(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) {
  const std::vector<int64_t> idx = read_indices(index);
  // Walk dst with three operands: dst itself, src with a zero stride along
  // dim (the chosen row is added per element), and a "position" operand that
  // steps only along dim, whose offset is the position in the index list.
  Strides src_st = src.strides();
  const int64_t src_dim_stride = src_st[dim];
  src_st[dim] = 0;
  Strides pos_st(dst.dim(), 0);
  pos_st[dim] = 1;
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* out = dst.data<T>();
    cpu::for_each_row<3>(dst.shape(), {dst.strides(), src_st, pos_st}, [&](auto off, int64_t n, auto st) {
      T* o = out + off[0];
      const T* x = in + off[1];
      if (st[2] == 0) {  // the run lies across dim: one source row, copied
        const T* row = x + idx[size_t(off[2])] * src_dim_stride;
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = row[i];
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * st[0]] = row[i * st[1]];
        }
      } else {  // the run goes along dim: one index per element
        const int64_t* p = idx.data() + off[2];
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = x[i * st[1] + p[i * st[2]] * src_dim_stride];
      }
    });
  });
}

void CpuBackend::gather(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) {
  // src is walked over index's shape (each of index's sizes is at most
  // src's) with a zero stride along dim; the index value picks the row.
  Strides src_st = src.strides();
  const int64_t src_dim_stride = src_st[dim];
  src_st[dim] = 0;
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    dispatch_index(index.dtype(), [&](auto itag) {
      using I = decltype(itag);
      const T* in = src.data<T>();
      const I* ix = index.data<I>();
      T* out = dst.data<T>();
      cpu::for_each_row<3>(dst.shape(), {dst.strides(), index.strides(), src_st}, [&](auto off, int64_t n, auto st) {
        T* o = out + off[0];
        const I* p = ix + off[1];
        const T* x = in + off[2];
        for (int64_t i = 0; i < n; ++i) o[i * st[0]] = x[i * st[2] + int64_t(p[i * st[1]]) * src_dim_stride];
      });
    });
  });
}

void CpuBackend::scatter_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  // Positions across dim (index's shape without dim) are independent; along
  // dim the additions run in order, which keeps the result deterministic.
  const Shape across = without(index.shape(), dim);
  const int64_t n = index.size(dim);
  const int64_t dst_dim_stride = dst.strides()[dim];
  const int64_t index_dim_stride = index.strides()[dim];
  const int64_t src_dim_stride = src.strides()[dim];
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      detail::fail("scatter_add", "bool values cannot be added");
    } else {
      dispatch_index(index.dtype(), [&](auto itag) {
        using I = decltype(itag);
        T* out = dst.data<T>();
        const I* ix = index.data<I>();
        const T* in = src.data<T>();
        cpu::for_each_row<3>(
            across, {without(dst.strides(), dim), without(index.strides(), dim), without(src.strides(), dim)},
            [&](auto off, int64_t m, auto st) {
              for (int64_t j = 0; j < n; ++j) {
                T* o = out + off[0];
                const I* p = ix + off[1] + j * index_dim_stride;
                const T* x = in + off[2] + j * src_dim_stride;
                for (int64_t i = 0; i < m; ++i) o[i * st[0] + int64_t(p[i * st[1]]) * dst_dim_stride] += x[i * st[2]];
              }
            },
            n);
      });
    }
  });
}

void CpuBackend::index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  // As scatter_add, with one index per slice: slice j of src is added to
  // slice idx[j] of dst, slices in order, positions across dim in parallel.
  const std::vector<int64_t> idx = read_indices(index);
  const Shape across = without(src.shape(), dim);
  const int64_t n = src.size(dim);
  const int64_t dst_dim_stride = dst.strides()[dim];
  const int64_t src_dim_stride = src.strides()[dim];
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      detail::fail("index_add", "bool values cannot be added");
    } else {
      T* out = dst.data<T>();
      const T* in = src.data<T>();
      cpu::for_each_row<2>(
          across, {without(dst.strides(), dim), without(src.strides(), dim)},
          [&](auto off, int64_t m, auto st) {
            for (int64_t j = 0; j < n; ++j) {
              T* o = out + off[0] + idx[size_t(j)] * dst_dim_stride;
              const T* x = in + off[1] + j * src_dim_stride;
              if (st[0] == 1 && st[1] == 1) {
                for (int64_t i = 0; i < m; ++i) o[i] += x[i];
              } else {
                for (int64_t i = 0; i < m; ++i) o[i * st[0]] += x[i * st[1]];
              }
            }
          },
          n);
    }
  });
}

void CpuBackend::topk(const Tensor& src, int64_t k, bool largest, const Tensor& values, const Tensor& indices) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* vals = values.data<T>();
    int64_t* inds = indices.data<int64_t>();
    cpu::parallel_for(rows, n + k * 8, [&](int64_t r) {
      const T* x = in + r * n;
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), int64_t(0));
      // Ties broken by index make this a strict total order, so the
      // (unstable) partial_sort still gives the lower index first.
      auto before = [&](int64_t a, int64_t b) {
        bool a_first = largest ? greater_nan_first(x[a], x[b]) : less_nan_last(x[a], x[b]);
        bool b_first = largest ? greater_nan_first(x[b], x[a]) : less_nan_last(x[b], x[a]);
        return a_first || (!b_first && a < b);
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        vals[r * k + j] = x[order[size_t(j)]];
        inds[r * k + j] = order[size_t(j)];
      }
    });
  });
}

void CpuBackend::sort(const Tensor& src, bool descending, const Tensor& values, const Tensor& indices) {
  const int64_t rows = src.size(0), n = src.size(1);
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = src.data<T>();
    T* vals = values.data<T>();
    int64_t* inds = indices.data<int64_t>();
    cpu::parallel_for(rows, n * 8, [&](int64_t r) {
      const T* x = in + r * n;
      std::vector<int64_t> order(static_cast<size_t>(n));
      std::iota(order.begin(), order.end(), int64_t(0));
      if (descending) {
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return greater_nan_first(x[a], x[b]); });
      } else {
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return less_nan_last(x[a], x[b]); });
      }
      for (int64_t j = 0; j < n; ++j) {
        vals[r * n + j] = x[order[size_t(j)]];
        inds[r * n + j] = order[size_t(j)];
      }
    });
  });
}

void CpuBackend::bincount(const Tensor& index, const Tensor& dst) {
  // Serial: counting is memory-bound and the inputs (expert ids, labels) are
  // small; a serial loop needs no per-thread histograms.
  int64_t* counts = dst.data<int64_t>();
  dispatch_index(index.dtype(), [&](auto tag) {
    using I = decltype(tag);
    const I* p = index.data<I>();
    const int64_t stride = index.strides()[0];
    for (int64_t i = 0; i < index.numel(); ++i) ++counts[int64_t(p[i * stride])];
  });
}

}  // namespace moegrad
