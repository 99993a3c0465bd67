// CUDA kernels for core/indexing.h: the twins of backends/cpu/indexing.cpp.
// The core ops have checked shapes, dtypes and every index's range, so these
// only compute. Index tensors are first made contiguous i64 (one small cast),
// so each kernel has one index type.
//
// Determinism. scatter_add and index_add must give bit-identical results for
// the same inputs, and float atomics add in whatever order threads arrive.
// Instead: one (destination offset, source offset) pair per contribution,
// in the row-major order of the contributions; a stable radix sort by
// destination groups them, keeping that order inside each group; then one
// thread per group adds its contributions to the destination's value in
// order. Contributions to one destination differ only in their position
// along `dim`, so "in order" is the CPU's order too: the sums are the CPU's
// sums, bit for bit.
//
// Order. sort and topk compare order keys: the value mapped to an unsigned
// integer whose order is the value's, with every NaN one key above +inf and
// -0 equal to +0, as the CPU's NaN-last comparisons have it. Descending
// flips the key's bits. A stable sort of (row, key) then gives the CPU's
// std::stable_sort order exactly, ties in index order.
#include "backends/cuda/common.cuh"
#include "backends/cuda/radix_sort.h"
#include "core/copy.h"

namespace moegrad {

namespace {

using cuda::kThreads;

// The index as contiguous i64 (a copy unless it already is).
Tensor as_i64(const Tensor& index) {
  if (index.dtype() == DType::i64 && index.is_contiguous()) return index;
  return cast(index.detach(), DType::i64).contiguous();
}

Strides with_zero(Strides s, int64_t dim) {
  s[size_t(dim)] = 0;
  return s;
}

// Steps 1 along dim and 0 elsewhere: its offset is the position along dim.
Strides position_along(int64_t rank, int64_t dim) {
  Strides s(size_t(rank), 0);
  s[size_t(dim)] = 1;
  return s;
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

template <class T>
__global__ void index_select_kernel(cuda::Strided<3> pl, int64_t n, T* out, const T* in, const int64_t* idx,
                                    int64_t src_dim_stride) {
  GRID_STRIDE(i, n) {
    int64_t off[3];
    pl.offsets(i, off);
    out[off[0]] = in[off[1] + idx[off[2]] * src_dim_stride];
  }
}

template <class T>
__global__ void gather_kernel(cuda::Strided<3> pl, int64_t n, T* out, const int64_t* idx, const T* in,
                              int64_t src_dim_stride) {
  GRID_STRIDE(i, n) {
    int64_t off[3];
    pl.offsets(i, off);
    out[off[0]] = in[off[2] + idx[off[1]] * src_dim_stride];
  }
}

// One (destination, source) pair per contribution, in row-major order:
// operand 0 is dst with dim's stride zeroed, 1 locates the index element, 2
// the source element.
__global__ void add_pairs_kernel(cuda::Strided<3> pl, int64_t n, const int64_t* idx, int64_t dst_dim_stride,
                                 uint64_t* keys, int64_t* values) {
  GRID_STRIDE(e, n) {
    int64_t off[3];
    pl.offsets(e, off);
    keys[e] = uint64_t(off[0] + idx[off[1]] * dst_dim_stride);
    values[e] = off[2];
  }
}

// The first pair of each destination's group adds the whole group, in order.
template <class T>
__global__ void segment_add_kernel(int64_t n, const uint64_t* keys, const int64_t* values, T* out, const T* in) {
  GRID_STRIDE(p, n) {
    if (p > 0 && keys[p] == keys[p - 1]) continue;
    const uint64_t k = keys[p];
    T acc = out[k];
    for (int64_t q = p; q < n && keys[q] == k; ++q) acc += in[values[q]];
    out[k] = acc;
  }
}

// Order keys (see the file comment).
__device__ __forceinline__ uint64_t order_key(float v) {
  uint32_t b = v != v ? 0x7fc00000u : (v == 0.f ? 0u : __float_as_uint(v));
  return (b & 0x80000000u) ? uint64_t(~b) : uint64_t(b | 0x80000000u);
}
__device__ __forceinline__ uint64_t order_key(double v) {
  uint64_t b = v != v ? 0x7ff8000000000000ull : (v == 0.0 ? 0ull : uint64_t(__double_as_longlong(v)));
  return (b & 0x8000000000000000ull) ? ~b : (b | 0x8000000000000000ull);
}
__device__ __forceinline__ uint64_t order_key(int32_t v) { return uint64_t(uint32_t(v) ^ 0x80000000u); }
__device__ __forceinline__ uint64_t order_key(int64_t v) { return uint64_t(v) ^ 0x8000000000000000ull; }
__device__ __forceinline__ uint64_t order_key(bool v) { return v ? 1u : 0u; }

// Significant bits of order_key for T; flipping them reverses the order.
template <class T>
__host__ __device__ constexpr int key_bits() {
  return sizeof(T) == 8 ? 64 : (sizeof(T) == 1 ? 1 : 32);
}
template <class T>
__device__ __forceinline__ uint64_t directed_key(T v, bool descending) {
  constexpr int bits = key_bits<T>();
  const uint64_t mask = bits == 64 ? ~0ull : ((1ull << bits) - 1);
  const uint64_t k = order_key(v);
  return descending ? (~k & mask) : k;
}

// Keys of a sort: the directed key, with the row above it when both fit in
// 64 bits (row_shift = key bits); otherwise the key alone (row_shift < 0).
template <class T>
__global__ void sort_keys_kernel(int64_t total, int64_t n, const T* x, bool descending, int row_shift, uint64_t* keys,
                                 int64_t* values) {
  GRID_STRIDE(e, total) {
    uint64_t k = directed_key(x[e], descending);
    if (row_shift >= 0) k |= uint64_t(e / n) << row_shift;
    keys[e] = k;
    values[e] = e;
  }
}

__global__ void row_keys_kernel(int64_t total, int64_t n, const int64_t* values, uint64_t* keys) {
  GRID_STRIDE(p, total) keys[p] = uint64_t(values[p] / n);
}

// Sorted position p holds element order[p] of x: its column and its bits.
template <class B>
__global__ void sort_output_kernel(int64_t total, int64_t n, const int64_t* order, const B* x, B* values,
                                   int64_t* indices) {
  GRID_STRIDE(p, total) {
    const int64_t e = order[p];
    values[p] = x[e];
    indices[p] = e % n;
  }
}

// topk for small k: k rounds per row, each picking the first element (in
// the (key, index) order) after the previous round's pick.
struct Pick {
  uint64_t key;
  int64_t i;  // < 0: none
};
__device__ __forceinline__ bool before(Pick a, Pick b) { return a.key < b.key || (a.key == b.key && a.i < b.i); }
__device__ __forceinline__ Pick first_of(Pick a, Pick b) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  return before(a, b) ? a : b;
}

template <class T>
__global__ void topk_kernel(int64_t rows, int64_t n, int64_t k, const T* in, bool largest, T* values,
                            int64_t* indices) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * n;
    Pick prev{0, -1};
    for (int64_t j = 0; j < k; ++j) {
      Pick best{0, -1};
      for (int64_t i = threadIdx.x; i < n; i += kThreads) {
        const Pick c{directed_key(x[i], largest), i};
        if (prev.i < 0 || before(prev, c)) best = first_of(best, c);
      }
      best = cuda::block_reduce(best, [](Pick a, Pick b) { return first_of(a, b); });
      if (threadIdx.x == 0) {
        values[r * k + j] = x[best.i];
        indices[r * k + j] = best.i;
      }
      prev = best;
    }
  }
}

__global__ void bincount_kernel(int64_t n, const int64_t* idx, unsigned long long* counts) {
  GRID_STRIDE(i, n) atomicAdd(&counts[idx[i]], 1ull);  // integer sums are exact in any order
}

// k up to this picks by rounds (k passes over the row); above, a full sort.
constexpr int64_t kTopkByRounds = 16;

}  // namespace

void CudaBackend::index_select(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  Tensor idx = as_i64(index);
  auto pl = cuda::make_strided<3>("index_select", dst.shape(),
                                  {dst.strides(), with_zero(src.strides(), dim), position_along(dst.dim(), dim)});
  cuda::dispatch_bits(src.dtype(), [&](auto tag) {
    using B = decltype(tag);
    index_select_kernel<B><<<cuda::grid_for(n), kThreads>>>(pl, n, static_cast<B*>(dst.raw_data()),
                                                            static_cast<const B*>(src.raw_data()),
                                                            idx.data<int64_t>(), src.strides()[size_t(dim)]);
  });
  cuda::check_launch("index_select");
}

void CudaBackend::gather(const Tensor& src, int64_t dim, const Tensor& index, const Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  activate();
  Tensor idx = as_i64(index);
  auto pl = cuda::make_strided<3>("gather", dst.shape(),
                                  {dst.strides(), idx.strides(), with_zero(src.strides(), dim)});
  cuda::dispatch_bits(src.dtype(), [&](auto tag) {
    using B = decltype(tag);
    gather_kernel<B><<<cuda::grid_for(n), kThreads>>>(pl, n, static_cast<B*>(dst.raw_data()), idx.data<int64_t>(),
                                                      static_cast<const B*>(src.raw_data()), src.strides()[size_t(dim)]);
  });
  cuda::check_launch("gather");
}

namespace {

// The shared tail of scatter_add and index_add: pairs made by `make_pairs`,
// sorted by destination, each destination's group added in order.
template <class MakePairs>
void deterministic_add(CudaBackend& be, const char* op, const Tensor& dst, const Tensor& src, int64_t n,
                       MakePairs make_pairs) {
  cuda::Scratch buf(be, size_t(n) * 4 * sizeof(uint64_t));
  uint64_t* keys = buf.as<uint64_t>();
  uint64_t* keys_sorted = keys + n;
  int64_t* values = reinterpret_cast<int64_t*>(keys + 2 * n);
  int64_t* values_sorted = values + n;
  make_pairs(keys, values);
  cuda::check_launch(op);
  // dst is contiguous, so every destination offset is below its numel.
  cuda::sort_pairs(be, op, keys, keys_sorted, values, values_sorted, n, cuda::bits_for(uint64_t(dst.numel() - 1)));
  dispatch(dst.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bool>) {
      detail::fail(op, "bool values cannot be added");
    } else {
      segment_add_kernel<T><<<cuda::grid_for(n), kThreads>>>(n, keys_sorted, values_sorted, dst.data<T>(),
                                                             src.data<T>());
    }
  });
  cuda::check_launch(op);
}

}  // namespace

void CudaBackend::scatter_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t n = index.numel();
  if (n == 0 || dst.numel() == 0) return;
  activate();
  Tensor idx = as_i64(index);
  // Contributions walk index's shape (src has the same shape).
  auto pl = cuda::make_strided<3>("scatter_add", index.shape(),
                                  {with_zero(dst.strides(), dim), idx.strides(), src.strides()});
  deterministic_add(*this, "scatter_add", dst, src, n, [&](uint64_t* keys, int64_t* values) {
    add_pairs_kernel<<<cuda::grid_for(n), kThreads>>>(pl, n, idx.data<int64_t>(), dst.strides()[size_t(dim)], keys,
                                                      values);
  });
}

void CudaBackend::index_add(const Tensor& dst, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t n = src.numel();
  if (n == 0 || dst.numel() == 0) return;
  activate();
  Tensor idx = as_i64(index);
  // Contributions walk src's shape; the index is read at the position along dim.
  auto pl = cuda::make_strided<3>("index_add", src.shape(),
                                  {with_zero(dst.strides(), dim), position_along(src.dim(), dim), src.strides()});
  deterministic_add(*this, "index_add", dst, src, n, [&](uint64_t* keys, int64_t* values) {
    add_pairs_kernel<<<cuda::grid_for(n), kThreads>>>(pl, n, idx.data<int64_t>(), dst.strides()[size_t(dim)], keys,
                                                      values);
  });
}

void CudaBackend::sort(const Tensor& src, bool descending, const Tensor& values, const Tensor& indices) {
  const int64_t rows = src.size(0), n = src.size(1), total = rows * n;
  if (total == 0) return;
  activate();
  cuda::Scratch buf(*this, size_t(total) * 4 * sizeof(uint64_t));
  uint64_t* keys = buf.as<uint64_t>();
  uint64_t* keys_sorted = keys + total;
  int64_t* order = reinterpret_cast<int64_t*>(keys + 2 * total);
  int64_t* order_sorted = order + total;
  const int row_bits = rows > 1 ? cuda::bits_for(uint64_t(rows - 1)) : 0;
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    constexpr int kb = key_bits<T>();
    const bool one_pass = kb + row_bits <= 64;
    // No row bits for one row: a shift by 64 would be undefined.
    sort_keys_kernel<T><<<cuda::grid_for(total), kThreads>>>(total, n, src.data<T>(), descending,
                                                             one_pass && row_bits > 0 ? kb : -1, keys, order);
    cuda::check_launch("sort");
    if (one_pass) {
      cuda::sort_pairs(*this, "sort", keys, keys_sorted, order, order_sorted, total, kb + row_bits);
    } else {  // by key, then (stably) by row: two passes of one radix sort
      cuda::sort_pairs(*this, "sort", keys, keys_sorted, order, order_sorted, total, kb);
      row_keys_kernel<<<cuda::grid_for(total), kThreads>>>(total, n, order_sorted, keys);
      cuda::check_launch("sort");
      cuda::sort_pairs(*this, "sort", keys, keys_sorted, order_sorted, order, total, row_bits);
      std::swap(order, order_sorted);
    }
  });
  cuda::dispatch_bits(src.dtype(), [&](auto tag) {
    using B = decltype(tag);
    sort_output_kernel<B><<<cuda::grid_for(total), kThreads>>>(total, n, order_sorted,
                                                               static_cast<const B*>(src.raw_data()),
                                                               static_cast<B*>(values.raw_data()),
                                                               indices.data<int64_t>());
  });
  cuda::check_launch("sort");
}

void CudaBackend::topk(const Tensor& src, int64_t k, bool largest, const Tensor& values, const Tensor& indices) {
  const int64_t rows = src.size(0), n = src.size(1);
  if (rows == 0 || k == 0) return;
  activate();
  if (k > kTopkByRounds) {
    // The first k of a stable sort: value order, ties by lower index.
    Tensor all_values = Tensor::empty({rows, n}, src.dtype(), src.device());
    Tensor all_indices = Tensor::empty({rows, n}, DType::i64, src.device());
    sort(src, largest, all_values, all_indices);
    copy(all_values.narrow(1, 0, k), values);
    copy(all_indices.narrow(1, 0, k), indices);
    return;
  }
  dispatch(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    topk_kernel<T><<<cuda::grid_rows(rows), kThreads>>>(rows, n, k, src.data<T>(), largest, values.data<T>(),
                                                        indices.data<int64_t>());
  });
  cuda::check_launch("topk");
}

void CudaBackend::bincount(const Tensor& index, const Tensor& dst) {
  const int64_t n = index.numel();
  if (n == 0) return;
  activate();
  Tensor idx = as_i64(index);
  static_assert(sizeof(unsigned long long) == sizeof(int64_t), "counts are 64-bit");
  bincount_kernel<<<cuda::grid_for(n), kThreads>>>(n, idx.data<int64_t>(),
                                                   reinterpret_cast<unsigned long long*>(dst.data<int64_t>()));
  cuda::check_launch("bincount");
}

}  // namespace moegrad
