#include "core/matmul.h"

#include <climits>

#include "core/backend.h"
#include "core/copy.h"
#include "core/factory.h"
#include "core/graph.h"

namespace moegrad {

Tensor matmul(const Tensor& a, const Tensor& b) {
  MOEGRAD_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", shape_str(a.shape()), " @ ", shape_str(b.shape()),
                ": both operands need at least one dim");
  MOEGRAD_CHECK(a.device() == b.device(), "matmul", "operands on different devices: ", a.device(), " and ", b.device());
  MOEGRAD_CHECK(a.dtype() == b.dtype() && is_floating(a.dtype()), "matmul", shape_str(a.shape()), " ",
                dtype_name(a.dtype()), " @ ", shape_str(b.shape()), " ", dtype_name(b.dtype()),
                ": expected one floating dtype (f32 or f64)");
  // Vectors become matrices ([K] -> [1,K] on the left, [K,1] on the right)
  // and lose that dim again at the end.
  Tensor a2 = a.dim() == 1 ? a.detach().unsqueeze(0) : a.detach();
  Tensor b2 = b.dim() == 1 ? b.detach().unsqueeze(-1) : b.detach();
  int64_t M = a2.size(-2), K = a2.size(-1), N = b2.size(-1);
  MOEGRAD_CHECK(K == b2.size(-2), "matmul", shape_str(a.shape()), " @ ", shape_str(b.shape()), ": inner dims ", K,
                " != ", b2.size(-2));
  MOEGRAD_CHECK(M < INT_MAX && N < INT_MAX && K < INT_MAX, "matmul", shape_str(a.shape()), " @ ", shape_str(b.shape()),
                ": a matrix dim exceeds BLAS's 32-bit sizes");

  Shape batch = broadcast_shapes("matmul", Shape(a2.shape().begin(), a2.shape().end() - 2),
                                 Shape(b2.shape().begin(), b2.shape().end() - 2));
  int64_t B = numel(batch);
  auto with = [&](int64_t r, int64_t c) {
    Shape s = batch;
    s.push_back(r);
    s.push_back(c);
    return s;
  };
  Tensor out = Tensor::empty(with(M, N), a.dtype(), a.device());
  if (out.numel() > 0) {
    if (K == 0) {
      fill_(out, 0);
    } else {
      backend(a.device())
          .matmul(a2.expand(with(M, K)).reshape({B, M, K}), b2.expand(with(K, N)).reshape({B, K, N}),
                  out.view({B, M, N}));
    }
  }
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);

  // dA = dC @ B^T and dB = A^T @ dC on the matrix forms, then summed over
  // broadcast batch dims and reshaped back (vectors lose their added dim).
  return record(
      "matmul", out, {a, b},
      [a2 = save("matmul", a2), b2 = save("matmul", b2), sa = a.shape(), sb = b.shape(), matrix_shape = with(M, N),
       need_a = a.requires_grad(), need_b = b.requires_grad()](const Tensor& g) -> Grads {
        Tensor g2 = g.reshape(matrix_shape);  // give vectors back their dim
        Tensor ga, gb;
        if (need_a) ga = sum_to(matmul(g2, b2.get().transpose(-1, -2)), a2.get().shape()).reshape(sa);
        if (need_b) gb = sum_to(matmul(a2.get().transpose(-1, -2), g2), b2.get().shape()).reshape(sb);
        return {ga, gb};
      });
}

namespace {

// dst[g] = a_g^T @ b_g for each group g of rows: the weight gradient of
// grouped_matmul, one GEMM per non-empty group; empty groups stay zero.
Tensor grouped_outer(const Tensor& a, const Tensor& b, const std::vector<int64_t>& offsets) {
  int64_t groups = int64_t(offsets.size()) - 1;
  Tensor dst = zeros({groups, a.size(1), b.size(1)}, a.dtype(), a.device());
  for (int64_t g = 0; g < groups; ++g) {
    int64_t rows = offsets[size_t(g) + 1] - offsets[size_t(g)];
    if (rows == 0 || dst.numel() == 0) continue;
    backend(a.device())
        .matmul(a.narrow(0, offsets[size_t(g)], rows).t().unsqueeze(0),
                b.narrow(0, offsets[size_t(g)], rows).unsqueeze(0), dst.select(0, g).unsqueeze(0));
  }
  return dst;
}

}  // namespace

Tensor grouped_matmul(const Tensor& x, const Tensor& w, const std::vector<int64_t>& offsets) {
  const char* op = "grouped_matmul";
  MOEGRAD_CHECK(x.dim() == 2 && w.dim() == 3, op, "expected x [S, K] and w [G, K, N], got ", shape_str(x.shape()),
                " and ", shape_str(w.shape()));
  MOEGRAD_CHECK(x.device() == w.device(), op, "operands on different devices: ", x.device(), " and ", w.device());
  MOEGRAD_CHECK(x.dtype() == w.dtype() && is_floating(x.dtype()), op, "x ", dtype_name(x.dtype()), " and w ",
                dtype_name(w.dtype()), ": expected one floating dtype (f32 or f64)");
  MOEGRAD_CHECK(x.size(1) == w.size(1), op, shape_str(x.shape()), " @ ", shape_str(w.shape()), ": inner dims ",
                x.size(1), " != ", w.size(1));
  MOEGRAD_CHECK(int64_t(offsets.size()) == w.size(0) + 1, op, "offsets has ", offsets.size(),
                " entries; expected groups + 1 = ", w.size(0) + 1);
  MOEGRAD_CHECK(offsets.front() == 0 && offsets.back() == x.size(0), op, "offsets must run from 0 to the ", x.size(0),
                " rows of x, got ", offsets.front(), " .. ", offsets.back());
  for (size_t g = 0; g + 1 < offsets.size(); ++g)
    MOEGRAD_CHECK(offsets[g] <= offsets[g + 1], op, "offsets must not decrease: offsets[", g, "] = ", offsets[g],
                  " > offsets[", g + 1, "] = ", offsets[g + 1]);
  MOEGRAD_CHECK(x.size(0) < INT_MAX && w.size(1) < INT_MAX && w.size(2) < INT_MAX, op, shape_str(x.shape()), " @ ",
                shape_str(w.shape()), ": a matrix dim exceeds BLAS's 32-bit sizes");

  Tensor xd = x.detach(), wd = w.detach();
  Tensor out = Tensor::empty({x.size(0), w.size(2)}, x.dtype(), x.device());
  if (w.size(1) == 0) fill_(out, 0);
  for (int64_t g = 0; g < w.size(0) && w.size(1) > 0; ++g) {
    int64_t rows = offsets[size_t(g) + 1] - offsets[size_t(g)];
    if (rows == 0 || w.size(2) == 0) continue;
    backend(x.device())
        .matmul(xd.narrow(0, offsets[size_t(g)], rows).unsqueeze(0), wd.select(0, g).unsqueeze(0),
                out.narrow(0, offsets[size_t(g)], rows).unsqueeze(0));
  }

  // Per group, as for matmul: dx_g = dy_g @ w[g]^T (itself a grouped matmul)
  // and dw[g] = x_g^T @ dy_g.
  return record(op, out, {x, w},
                [xs = save(op, xd), ws = save(op, wd), offsets, need_x = x.requires_grad(),
                 need_w = w.requires_grad()](const Tensor& g) -> Grads {
                  Tensor gx, gw;
                  if (need_x) gx = grouped_matmul(g, ws.get().transpose(1, 2), offsets);
                  if (need_w) gw = grouped_outer(xs.get(), g, offsets);
                  return {gx, gw};
                });
}

}  // namespace moegrad
