// End to end: a tiny byte-level transformer LM learns real text (chapter 1 of
// Moby-Dick, tests/data/) with AdamW; its loss must fall well below the
// uniform guess within a fixed, seeded budget of steps.
#include "core/elementwise.h"
#include "core/reduce.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("a tiny transformer LM learns Moby-Dick chapter 1", "[training]") {
  const std::string text = read_fixture("moby_dick_chapter_1.txt");
  REQUIRE(text.size() > 10000);
  manual_seed(1);
  TransformerConfig c;
  c.vocab = 256;
  c.dim = 32;
  c.heads = 2;
  c.layers = 1;
  c.ffn_hidden = 64;
  c.max_len = 32;
  DecoderLM lm(c);
  AdamW opt(lm.parameters(), 1e-2, 0.9, 0.99, 1e-8, 0.0);
  Generator data(7);

  double first = 0, last = 0;
  const int steps = 120;
  for (int step = 0; step < steps; ++step) {
    auto [x, y] = sample(text, 16, 32, data);
    Tensor loss = cross_entropy(lm.forward(x), y);
    opt.zero_grad();
    loss.backward();
    clip_grad_norm(lm.parameters(), 1.0);
    opt.step();
    double l = loss.item<float>();
    REQUIRE(std::isfinite(l));
    if (step == 0) first = l;
    if (step >= steps - 10) last += l / 10;
  }
  INFO("first loss " << first << ", mean of the last 10 " << last);
  REQUIRE(first > 5.0);  // about log(256) = 5.55 at the start
  REQUIRE(last < 2.6);   // below the unigram entropy of English letters (~2.9 nats)
}
