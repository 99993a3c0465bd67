// The one strided loop every CPU elementwise kernel runs on.
//
// for_each_row walks an N-d index space (the output's shape) with N operands,
// each with its own element strides (0 for a broadcast dim). It first merges
// dims that are contiguous for every operand, so a contiguous tensor becomes
// one long row, then hands the body rows of the innermost dim:
//
//   body(offsets, n, inner_strides)   // offsets[k]: element offset of operand k
//
// A body written as `for (i < n) out[i * s0] = f(in[i * s1])`, with a
// separate branch for unit strides, lets the compiler vectorize it. Work is
// split across OpenMP threads once it is large enough to pay for them; a body
// that does more than one element's work per element (a scatter adds a whole
// line along another dim) says how much with `cost_per_element`.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/shape.h"

namespace moegrad::cpu {

// Below this many elements a loop stays on one thread.
constexpr int64_t kParallelGrain = 32768;

template <size_t N>
using Offsets = std::array<int64_t, N>;

template <size_t N, class Body>
void for_each_row(const Shape& shape, const std::array<Strides, N>& strides, Body&& body, int64_t cost_per_element = 1) {
  int64_t total = numel(shape);
  if (total == 0) return;

  // Collapse: drop size-1 dims, merge dim d into d+1 when every operand
  // steps over d exactly as one full pass of d+1.
  Shape sizes;
  std::array<Strides, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (size_t k = 0; k < N && merge; ++k)
      merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {
      sizes.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][d];
    } else {
      sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][d]);
    }
  }
  if (sizes.empty()) {  // a single element
    sizes.push_back(1);
    for (size_t k = 0; k < N; ++k) st[k].push_back(0);
  }

  const int64_t rank = int64_t(sizes.size());
  const int64_t inner = sizes.back();
  const int64_t rows = total / inner;
  // Long rows are cut into chunks so a single contiguous row still spreads
  // over the threads.
  const int64_t chunk = std::min<int64_t>(inner, std::max<int64_t>(kParallelGrain / cost_per_element, 1024));
  const int64_t chunks_per_row = (inner + chunk - 1) / chunk;
  const int64_t items = rows * chunks_per_row;
  Offsets<N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = st[k].back();

#pragma omp parallel for schedule(static) if (total * cost_per_element >= kParallelGrain && items > 1)
  for (int64_t item = 0; item < items; ++item) {
    int64_t row = item / chunks_per_row, start = (item % chunks_per_row) * chunk;
    Offsets<N> off{};
    for (int64_t d = rank - 2, r = row; d >= 0; --d) {
      int64_t i = r % sizes[d];
      r /= sizes[d];
      for (size_t k = 0; k < N; ++k) off[k] += i * st[k][d];
    }
    for (size_t k = 0; k < N; ++k) off[k] += start * inner_strides[k];
    body(off, std::min(chunk, inner - start), inner_strides);
  }
}

// Splits [0, n) over OpenMP threads when the work (n * cost_per_item
// elements) is large enough; body(i) handles item i.
template <class Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
#pragma omp parallel for schedule(static) if (n > 1 && n * cost_per_item >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) body(i);
}

}  // namespace moegrad::cpu
