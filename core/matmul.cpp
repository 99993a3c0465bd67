#include "core/matmul.h"

#include <climits>

#include "core/backend.h"
#include "core/copy.h"
#include "core/graph.h"

namespace moegrad {

Tensor matmul(const Tensor& a, const Tensor& b) {
  MOEGRAD_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", shape_str(a.shape()), " @ ", shape_str(b.shape()),
                ": both operands need at least one dim");
  MOEGRAD_CHECK(a.device() == b.device(), "matmul", "operands on different devices: ", a.device(), " and ",
                b.device());
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
  MOEGRAD_CHECK(M < INT_MAX && N < INT_MAX && K < INT_MAX, "matmul", shape_str(a.shape()), " @ ",
                shape_str(b.shape()), ": a matrix dim exceeds BLAS's 32-bit sizes");

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
      backend(a.device()).matmul(a2.expand(with(M, K)).reshape({B, M, K}), b2.expand(with(K, N)).reshape({B, K, N}),
                                 out.view({B, M, N}));
    }
  }
  if (a.dim() == 1) out = out.squeeze(-2);
  if (b.dim() == 1) out = out.squeeze(-1);

  // dA = dC @ B^T and dB = A^T @ dC on the matrix forms, then summed over
  // broadcast batch dims and reshaped back (vectors lose their added dim).
  return record("matmul", out, {a, b},
                [a2 = save("matmul", a2), b2 = save("matmul", b2), sa = a.shape(), sb = b.shape(),
                 matrix_shape = with(M, N), need_a = a.requires_grad(),
                 need_b = b.requires_grad()](const Tensor& g) -> Grads {
                  Tensor g2 = g.reshape(matrix_shape);  // give vectors back their dim
                  Tensor ga, gb;
                  if (need_a)
                    ga = sum_to(matmul(g2, b2.get().transpose(-1, -2)), a2.get().shape()).reshape(sa);
                  if (need_b)
                    gb = sum_to(matmul(a2.get().transpose(-1, -2), g2), b2.get().shape()).reshape(sb);
                  return {ga, gb};
                });
}

}  // namespace moegrad
