// The backward engine's semantics (autograd/engine.h, core/graph.h): how
// gradients accumulate into leaves, when the graph is freed and what a second
// backward through it says, saved tensors overwritten in place, grad mode,
// detach, error cases, very deep graphs, aliasing of .grad(), freeing of
// nodes, gradients through views, and sum_to. Gradient values of single ops
// are checked by finite differences in tests/test_gradcheck.cpp.
#include <memory>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/join.h"
#include "core/matmul.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

namespace {

Tensor vec(const std::vector<double>& v) { return from_vector(v); }
Tensor param(const std::vector<double>& v) { return from_vector(v).requires_grad_(); }

void require_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  REQUIRE(t.defined());
  std::vector<double> got = values(t);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i << ": " << got[i] << " vs expected " << expected[i]);
    REQUIRE(std::abs(got[i] - expected[i]) <= tol * (1 + std::abs(expected[i])));
  }
}

}  // namespace

TEST_CASE("autograd: leaf gradients accumulate over backward calls", "[autograd]") {
  Tensor x = param({1.0, -2.0, 3.0});
  SECTION("two separate graphs") {
    sum(mul(x, x)).backward();  // 2x
    require_values(x.grad(), {2.0, -4.0, 6.0});
    sum(mul(x, 3.0)).backward();  // + 3
    require_values(x.grad(), {5.0, -1.0, 9.0});
  }
  SECTION("one graph retained, backward twice") {
    Tensor y = sum(mul(x, x));
    y.backward(Tensor(), true);
    y.backward();
    require_values(x.grad(), {4.0, -8.0, 12.0});
  }
  SECTION("backward from a leaf itself") {
    x.backward(vec({1.0, 2.0, 3.0}));
    x.backward(vec({1.0, 1.0, 1.0}));
    require_values(x.grad(), {2.0, 3.0, 4.0});
  }
  SECTION("set_grad clears, then accumulation restarts") {
    sum(x).backward();
    x.set_grad(Tensor());
    REQUIRE_FALSE(x.grad().defined());
    sum(mul(x, 2.0)).backward();
    require_values(x.grad(), {2.0, 2.0, 2.0});
  }
}

TEST_CASE("autograd: a tensor used on several paths gets the sum of their gradients", "[autograd]") {
  Tensor x = param({1.0, -2.0, 0.5});
  sum(add(mul(x, x), x)).backward();  // d(x^2 + x) = 2x + 1
  require_values(x.grad(), {3.0, -3.0, 2.0});

  // A diamond: h feeds two branches that join again; h's node runs once,
  // with the sum of both branches' gradients.
  Tensor w = param({2.0, 3.0});
  int calls = 0;
  Tensor h;
  {
    Tensor out = mul(w.detach(), 1.0);
    h = record("mul", out, {w}, [&calls](const Tensor& g) -> Grads {
      ++calls;
      return {g};
    });
  }
  Tensor y = sum(add(mul(h, 2.0), exp(h)));
  y.backward();
  REQUIRE(calls == 1);
  require_values(w.grad(), {2.0 + std::exp(2.0), 2.0 + std::exp(3.0)});
}

TEST_CASE("autograd: backward frees the graph unless retain_graph", "[autograd]") {
  Tensor x = param({0.5, 1.5});
  SECTION("second backward through a freed graph throws, naming retain_graph") {
    Tensor y = sum(exp(x));
    y.backward();
    require_values(x.grad(), {std::exp(0.5), std::exp(1.5)});
    require_error([&] { y.backward(); }, "retain_graph");
    // Through an intermediate of the freed graph as well.
    require_error([&] { sum(mul(y, 2.0)).backward(); }, "retain_graph");
  }
  SECTION("retain_graph keeps it for another backward") {
    Tensor y = sum(exp(x));
    y.backward(Tensor(), true);
    y.backward(Tensor(), true);
    y.backward();
    require_values(x.grad(), {3 * std::exp(0.5), 3 * std::exp(1.5)});
    require_error([&] { y.backward(); }, "retain_graph");
  }
}

TEST_CASE("autograd: a saved tensor modified in place makes backward throw", "[autograd]") {
  SECTION("mul saved a plain operand, then fill_ on it") {
    Tensor a = param({1.0, 2.0});
    Tensor b = vec({3.0, 4.0});  // does not require grad: fill_ is allowed
    Tensor y = sum(mul(a, b));
    fill_(b, 1.0);
    try {
      y.backward();
      FAIL("backward did not notice the in-place write");
    } catch (const Error& e) {
      std::string msg = e.what();
      INFO(msg);
      REQUIRE(msg.find("mul") != std::string::npos);
      REQUIRE(msg.find("in place") != std::string::npos);
    }
  }
  SECTION("exp saved its output, overwritten under NoGradGuard") {
    Tensor x = param({0.1, 0.2});
    Tensor h = add(x, 1.0);  // a non-leaf
    Tensor e = exp(h);
    Tensor y = sum(e);
    {
      NoGradGuard guard;
      fill_(e, 0.0);
    }
    try {
      y.backward();
      FAIL("backward did not notice the in-place write");
    } catch (const Error& err) {
      std::string msg = err.what();
      INFO(msg);
      REQUIRE(msg.find("exp") != std::string::npos);
      REQUIRE(msg.find("in place") != std::string::npos);
    }
  }
  SECTION("a write through a view of the saved tensor counts too") {
    Tensor a = param({1.0, 2.0, 3.0});
    Tensor b = vec({3.0, 4.0, 5.0});
    Tensor y = sum(mul(a, b));
    fill_(b.narrow(0, 1, 1), 7.0);
    require_error([&] { y.backward(); }, "in place");
  }
  SECTION("a write to an unrelated tensor does not") {
    Tensor a = param({1.0, 2.0});
    Tensor b = vec({3.0, 4.0});
    Tensor y = sum(mul(a, b.clone()));
    fill_(b, 1.0);
    y.backward();
    require_values(a.grad(), {3.0, 4.0});
  }
}

TEST_CASE("autograd: NoGradGuard stops recording and restores the mode", "[autograd]") {
  Tensor x = param({1.0, 2.0});
  REQUIRE(grad_enabled());
  {
    NoGradGuard guard;
    REQUIRE_FALSE(grad_enabled());
    Tensor y = exp(mul(x, 2.0));
    REQUIRE_FALSE(y.requires_grad());
    REQUIRE(y.is_leaf());
    REQUIRE(y.grad_fn() == nullptr);
    {
      NoGradGuard inner;
      REQUIRE_FALSE(grad_enabled());
    }
    REQUIRE_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
    REQUIRE_FALSE(x.narrow(0, 0, 1).requires_grad());
  }
  REQUIRE(grad_enabled());
  Tensor z = exp(mul(x, 2.0));
  REQUIRE(z.requires_grad());
  REQUIRE_FALSE(z.is_leaf());
  REQUIRE(z.grad_fn() != nullptr);
  REQUIRE(x.narrow(0, 0, 1).requires_grad());

  // Restored after an exception leaves the scope, too.
  try {
    NoGradGuard guard;
    throw Error("test");
  } catch (const Error&) {
  }
  REQUIRE(grad_enabled());

  // Gradients computed by backward are plain values (backward runs without
  // recording), and backward leaves grad mode as it found it.
  sum(z).backward();
  REQUIRE(grad_enabled());
  REQUIRE_FALSE(x.grad().requires_grad());
  REQUIRE(x.grad().is_leaf());
}

TEST_CASE("autograd: detach cuts the graph", "[autograd]") {
  Tensor x = param({1.0, 2.0, 3.0});
  Tensor d = x.detach();
  REQUIRE_FALSE(d.requires_grad());
  REQUIRE(d.is_leaf());
  REQUIRE(d.storage() == x.storage());  // the same data
  Tensor h = mul(x, 2.0);
  Tensor hd = h.detach();
  REQUIRE(hd.is_leaf());
  REQUIRE_FALSE(hd.requires_grad());
  // x * detach(x): only the first factor carries a gradient, so x.grad = x, not 2x.
  sum(mul(x, d)).backward();
  require_values(x.grad(), {1.0, 2.0, 3.0});
  // Nothing reaches x through a detached intermediate.
  Tensor only_detached = add(mul(hd, 5.0), 0.0);
  REQUIRE_FALSE(only_detached.requires_grad());
  // A detached tensor can start a new leaf.
  Tensor y = h.detach().requires_grad_();
  sum(mul(y, y)).backward();
  require_values(y.grad(), {4.0, 8.0, 12.0});
  require_values(x.grad(), {1.0, 2.0, 3.0});  // unchanged
}

TEST_CASE("autograd: backward's seed gradient", "[autograd]") {
  Tensor x = param({1.0, 2.0, 3.0});
  Tensor y = mul(x, 2.0);
  SECTION("a non-scalar without a gradient throws") { require_error([&] { y.backward(); }, "backward"); }
  SECTION("a non-scalar with an explicit gradient works") {
    y.backward(vec({1.0, 10.0, 100.0}));
    require_values(x.grad(), {2.0, 20.0, 200.0});
  }
  SECTION("a gradient of the wrong shape or dtype throws") {
    require_error([&] { y.backward(vec({1.0, 2.0})); }, "backward");
    require_error([&] { y.backward(from_vector<float>({1.f, 2.f, 3.f})); }, "backward");
  }
  SECTION("a one-element tensor of any rank needs no gradient") {
    Tensor s = sum(y, {0}, true);  // shape [1]
    s.backward();
    require_values(x.grad(), {2.0, 2.0, 2.0});
  }
  SECTION("a tensor that does not require grad throws") {
    Tensor c = vec({1.0, 2.0});
    require_error([&] { sum(c).backward(); }, "backward");
    Tensor under_guard;
    {
      NoGradGuard guard;
      under_guard = sum(mul(x, 2.0));
    }
    require_error([&] { under_guard.backward(); }, "does not require grad");
  }
}

TEST_CASE("autograd: requires_grad_ only on floating leaves", "[autograd]") {
  require_error([] { from_vector<int64_t>({1, 2}).requires_grad_(); }, "requires_grad_");
  require_error([] { from_vector<int32_t>({1, 2}).requires_grad_(); }, "requires_grad_");
  require_error([] { from_vector<bool>({true}).requires_grad_(); }, "requires_grad_");
  Tensor x = param({1.0, 2.0});
  Tensor y = mul(x, 2.0);
  require_error([&] { y.requires_grad_(); }, "requires_grad_");
  require_error([&] { y.requires_grad_(false); }, "requires_grad_");
  // f32 leaves are fine, and the flag can be turned off again on a leaf.
  Tensor f = zeros({2}).requires_grad_();
  REQUIRE(f.requires_grad());
  f.requires_grad_(false);
  REQUIRE_FALSE(f.requires_grad());
  REQUIRE_FALSE(add(f, 1.0).requires_grad());
}

TEST_CASE("autograd: in-place writes to tensors requiring grad", "[autograd]") {
  Tensor x = param({1.0, 2.0});
  require_error([&] { fill_(x, 0.0); }, "fill_");
  require_error([&] { copy_(x, vec({5.0, 6.0})); }, "copy_");
  require_error([&] { fill_(x.narrow(0, 0, 1), 0.0); }, "fill_");  // a view of it requires grad too
  // A plain destination with a source requiring grad is refused as well.
  Tensor plain = vec({0.0, 0.0});
  require_error([&] { copy_(plain, x); }, "copy_");
  require_values(x, {1.0, 2.0});  // untouched by the refused writes
  {
    NoGradGuard guard;
    fill_(x, 3.0);
    require_values(x, {3.0, 3.0});
    copy_(x, vec({5.0, 6.0}));
    require_values(x, {5.0, 6.0});
  }
  REQUIRE(x.requires_grad());
  REQUIRE(x.is_leaf());
  sum(mul(x, x)).backward();
  require_values(x.grad(), {10.0, 12.0});
}

TEST_CASE("autograd: integer and bool outputs never require grad", "[autograd]") {
  Generator gen(3);
  Tensor x = randn({3, 4}, DType::f64, &gen).requires_grad_();
  REQUIRE_FALSE(argmax(x, 1).requires_grad());
  REQUIRE_FALSE(argmin(x).requires_grad());
  REQUIRE_FALSE(gt(x, 0.0).requires_grad());
  REQUIRE_FALSE(eq(x, x).requires_grad());
  REQUIRE_FALSE(le(x, mul(x, 2.0)).requires_grad());
  auto tk = topk(x, 2);
  REQUIRE(tk.first.requires_grad());
  REQUIRE_FALSE(tk.second.requires_grad());
  REQUIRE_FALSE(tk.second.grad_fn());
  auto st = sort(x, 0);
  REQUIRE(st.first.requires_grad());
  REQUIRE_FALSE(st.second.requires_grad());
  REQUIRE_FALSE(argsort(x).requires_grad());
  REQUIRE_FALSE(x.to(DType::i64).requires_grad());
  REQUIRE_FALSE(x.to(DType::b8).requires_grad());
  REQUIRE(x.to(DType::f32).requires_grad());
}

TEST_CASE("autograd: a very deep chain backpropagates and frees without recursion", "[autograd]") {
  const int depth = 20000;
  Tensor x = from_vector<double>(std::vector<double>{0.0}, Shape{}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < depth; ++i) y = add(y, 1.0);
  REQUIRE(y.item<double>() == Approx(double(depth)));
  y.backward();
  require_values(x.grad(), {1.0});
  y = Tensor();  // frees the whole chain

  // A longer chain dropped without a backward frees node by node too.
  std::weak_ptr<Node> first;
  {
    Tensor z = mul(x, 2.0);
    first = z.grad_fn();
    for (int i = 0; i < 100000; ++i) z = add(z, 1.0);
  }
  REQUIRE(first.expired());
}

TEST_CASE("autograd: a leaf's .grad() is not aliased to other gradients", "[autograd]") {
  Tensor x = param({1.0, 2.0});
  Tensor y = param({3.0, 4.0});
  SECTION("z = x + y: both get the same incoming gradient") {
    sum(add(x, y)).backward();
    {
      NoGradGuard guard;
      fill_(x.grad(), 42.0);
    }
    require_values(y.grad(), {1.0, 1.0});
    REQUIRE(x.grad().storage() != y.grad().storage());
  }
  SECTION("the seed passed to backward is not the leaf's grad") {
    Tensor seed = vec({1.0, 1.0});
    add(x, y).backward(seed);
    {
      NoGradGuard guard;
      fill_(seed, 9.0);
    }
    require_values(x.grad(), {1.0, 1.0});
    require_values(y.grad(), {1.0, 1.0});
    Tensor seed2 = vec({2.0, 3.0});
    x.backward(seed2);  // backward from the leaf itself, onto an existing grad
    Tensor x2 = param({1.0, 2.0});
    x2.backward(seed2);  // and onto none
    {
      NoGradGuard guard;
      fill_(seed2, -1.0);
    }
    require_values(x.grad(), {3.0, 4.0});
    require_values(x2.grad(), {2.0, 3.0});
  }
  SECTION("an identity view of a leaf") {
    sum(add(x.view({2}), y.reshape({2}))).backward();
    {
      NoGradGuard guard;
      fill_(y.grad(), 0.0);
    }
    require_values(x.grad(), {1.0, 1.0});
  }
}

TEST_CASE("autograd: the graph is freed with the tensors that hold it", "[autograd]") {
  Generator gen(5);
  Tensor x = randn({2, 3}, DType::f64, &gen).requires_grad_();
  SECTION("a node expires with its output tensor, for ops that save their output") {
    std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>> ops = {
        {"exp", [](const Tensor& t) { return exp(t); }},
        {"tanh", [](const Tensor& t) { return tanh(t); }},
        {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
        {"sqrt", [](const Tensor& t) { return sqrt(abs(t)); }},
        {"rsqrt", [](const Tensor& t) { return rsqrt(abs(t)); }},
        {"softmax", [](const Tensor& t) { return softmax(t, -1); }},
        {"log_softmax", [](const Tensor& t) { return log_softmax(t, 0); }},
        {"logsumexp", [](const Tensor& t) { return logsumexp(t, {1}); }},
        {"amax", [](const Tensor& t) { return amax(t, {1}); }},
        {"mul", [](const Tensor& t) { return mul(t, t); }},
        {"matmul", [](const Tensor& t) { return matmul(t, t.t()); }},
        {"topk", [](const Tensor& t) { return topk(t, 2).first; }},
        {"cat", [](const Tensor& t) { return cat({t, t}); }},
    };
    for (auto& [name, op] : ops) {
      INFO("op " << name);
      std::weak_ptr<Node> node;
      std::weak_ptr<Storage> data;
      {
        Tensor out = op(x);
        REQUIRE(out.grad_fn() != nullptr);
        node = out.grad_fn();
        data = out.storage();
      }
      REQUIRE(node.expired());
      REQUIRE(data.expired());
    }
  }
  SECTION("intermediates live as long as a later output needs them") {
    std::weak_ptr<Node> mid_node;
    std::weak_ptr<Storage> mid_data;
    Tensor y;
    {
      Tensor h = exp(x);
      mid_node = h.grad_fn();
      mid_data = h.storage();
      y = sum(mul(h, 2.0));
    }
    REQUIRE_FALSE(mid_node.expired());  // y's graph still needs it
    REQUIRE_FALSE(mid_data.expired());  // exp saved its output
    y.backward();
    REQUIRE(mid_data.expired());  // released by the backward that freed the graph
    y = Tensor();
    REQUIRE(mid_node.expired());
  }
  SECTION("a leaf does not keep graphs built on it alive") {
    std::weak_ptr<Node> node;
    {
      Tensor y = sum(exp(x));
      node = y.grad_fn();
      y.backward(Tensor(), true);
    }
    REQUIRE(node.expired());
    REQUIRE(x.grad().defined());
  }
}

TEST_CASE("autograd: gradients through views of a leaf land in the right places", "[autograd]") {
  // x is [3,4] with values 0..11
  std::vector<double> v(12);
  for (int i = 0; i < 12; ++i) v[size_t(i)] = i;
  Tensor x = from_vector(v, {3, 4}).requires_grad_();
  // loss = 3 * sum(x[:, 1:3]) + sum(x[2, :] ^ 2) + sum(x^T[0, ::2])
  Tensor loss = add(add(mul(sum(x.narrow(1, 1, 2)), 3.0), sum(mul(x.select(0, 2), x.select(0, 2)))),
                    sum(x.t().select(0, 0).slice(0, 0, 3, 2)));
  loss.backward();
  std::vector<double> expected(12, 0.0);
  for (int r = 0; r < 3; ++r)
    for (int c = 1; c < 3; ++c) expected[size_t(r * 4 + c)] += 3.0;
  for (int c = 0; c < 4; ++c) expected[size_t(2 * 4 + c)] += 2.0 * v[size_t(2 * 4 + c)];
  expected[0] += 1.0;      // x[0][0]
  expected[2 * 4] += 1.0;  // x[2][0]
  REQUIRE(x.grad().shape() == Shape{3, 4});
  require_values(x.grad(), expected);
  // Views of x are not leaves; x stays one.
  REQUIRE(x.is_leaf());
  REQUIRE_FALSE(x.narrow(1, 1, 2).is_leaf());
  // Non-leaves keep no .grad().
  Tensor h = mul(x, 2.0);
  sum(h).backward();
  REQUIRE_FALSE(h.grad().defined());
}

TEST_CASE("autograd: sum_to reduces broadcast dims back to a shape", "[autograd]") {
  // g[i][j][k] = 100 i + 10 j + k, shape [2,3,4]
  Tensor g = make({2, 3, 4}, DType::f64, [](const Index& i) { return 100.0 * i[0] + 10.0 * i[1] + i[2]; });
  auto expected = [&](const Shape& shape) {
    // Sum every g element into its broadcast source in `shape`.
    std::vector<double> out(size_t(numel(shape)), 0.0);
    int64_t lead = 3 - int64_t(shape.size());
    for_each_index({2, 3, 4}, [&](const Index& i) {
      int64_t flat = 0;
      for (size_t d = 0; d < shape.size(); ++d) {
        int64_t src = shape[d] == 1 ? 0 : i[size_t(lead) + d];
        flat = flat * shape[d] + src;
      }
      out[size_t(flat)] += at(g, i);
    });
    return out;
  };
  for (const Shape& shape : std::vector<Shape>{{3, 1}, {}, {1, 4}, {2, 1, 4}, {4}, {1, 3, 1}, {1}, {1, 1, 1}}) {
    INFO("to " << shape_str(shape));
    Tensor s = sum_to(g, shape);
    REQUIRE(s.shape() == shape);
    require_values(s, expected(shape));
  }
  Tensor same = sum_to(g, {2, 3, 4});
  require_values(same, values(g));
  // A non-contiguous gradient reduces the same way.
  Tensor gt_ = g.transpose(0, 2);  // [4,3,2]
  Tensor s = sum_to(gt_, {4, 1, 1});
  REQUIRE(s.shape() == Shape{4, 1, 1});
  std::vector<double> by_k(4, 0.0);
  for_each_index({2, 3, 4}, [&](const Index& i) { by_k[size_t(i[2])] += at(g, i); });
  require_values(s, by_k);
}

TEST_CASE("autograd: a backward returning a wrong-shaped gradient is named", "[autograd]") {
  Tensor x = param({1.0, 2.0, 3.0});
  Tensor out = mul(x.detach(), 1.0);
  Tensor y = record("sum", out, {x}, [](const Tensor&) -> Grads { return {zeros({2}, DType::f64)}; });
  require_error([&] { sum(y).backward(); }, "the backward of sum returned a gradient [2]");
  Tensor out2 = mul(x.detach(), 1.0);
  Tensor y2 = record("mul", out2, {x}, [](const Tensor& g) -> Grads { return {g, g}; });
  require_error([&] { sum(y2).backward(); }, "returned 2 gradients for 1 inputs");
}

TEST_CASE("autograd: only inputs that require grad receive one", "[autograd]") {
  Tensor w = param({1.0, 2.0});
  Tensor c = vec({3.0, 4.0});
  Tensor y = sum(mul(w, c));
  REQUIRE(y.requires_grad());
  REQUIRE_FALSE(add(c, c).requires_grad());
  y.backward();
  require_values(w.grad(), {3.0, 4.0});
  REQUIRE_FALSE(c.grad().defined());
  // A branch that does not reach any leaf requiring grad is skipped.
  Tensor z = sum(add(mul(w, 2.0), exp(c)));
  z.backward();
  require_values(w.grad(), {5.0, 6.0});
  REQUIRE_FALSE(c.grad().defined());
}

TEST_CASE("autograd: ties share the gradient of amax/amin and maximum/minimum", "[autograd]") {
  // Finite differences cannot check a tie; the documented rule can.
  Tensor x = param({1.0, 3.0, 3.0, -2.0});
  sum(amax(x)).backward();
  require_values(x.grad(), {0.0, 0.5, 0.5, 0.0});
  Tensor y = param({-1.0, 2.0, -1.0, -1.0});
  amin(y).backward();
  require_values(y.grad(), {1.0 / 3, 0.0, 1.0 / 3, 1.0 / 3});
  Tensor a = param({1.0, 2.0, 3.0});
  Tensor b = param({1.0, 5.0, 0.0});
  sum(maximum(a, b)).backward();
  require_values(a.grad(), {0.5, 0.0, 1.0});
  require_values(b.grad(), {0.5, 1.0, 0.0});
  Tensor c = param({1.0, 2.0, 3.0});
  Tensor d = param({1.0, 5.0, 0.0});
  sum(minimum(c, d)).backward();
  require_values(c.grad(), {0.5, 1.0, 0.0});
  require_values(d.grad(), {0.5, 0.0, 1.0});
}
