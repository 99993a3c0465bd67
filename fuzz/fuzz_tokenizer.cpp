// Fuzzes the data layer (apps/data.h) from text: a byte, char or word
// tokenizer built from the text, encode and decode, and the train/valid split
// and LM windows over the token ids, with sizes drawn from the whole int64
// range (so overflow in their checks shows up). Properties: ids lie in the
// vocabulary; byte decode inverts encode; char and word encode(decode(ids))
// gives ids back when no id is <unk>; the tokenizer's JSON reads back as
// itself; out-of-range ids are an Error; windows have the asked-for shapes,
// targets one token after inputs.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "apps/data.h"
#include "core/error.h"
#include "fuzz/fuzz.h"

using namespace moegrad;
using namespace moegrad::app;

namespace {

// Mostly small sizes, sometimes anything (negative, huge, INT64_MAX).
int64_t size_arg(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return in.ConsumeIntegralInRange<int64_t>(-2, 40);
  return in.ConsumeIntegral<int64_t>();
}

// Tokens of x and y must be the window and the window one later.
void check_windows(const Tensor& x, const Tensor& y, int64_t rows, int64_t len) {
  FUZZ_CHECK(x.shape() == Shape({rows, len}) && y.shape() == Shape({rows, len}), "window shapes");
  const std::vector<int64_t> xs = x.to_vector<int64_t>(), ys = y.to_vector<int64_t>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i + 1 < len; ++i)
      FUZZ_CHECK(ys[size_t(r * len + i)] == xs[size_t(r * len + i + 1)], "y is not x shifted by one");
}

void fuzz_windows(FuzzedDataProvider& in, const std::vector<int32_t>& ids) {
  const double valid_fraction = in.ConsumeBool() ? in.ConsumeProbability<double>() : in.ConsumeFloatingPoint<double>();
  const int64_t seq_len = size_arg(in), batch = size_arg(in), max_batches = size_arg(in);
  std::vector<int32_t> train = ids;
  try {
    TokenSplit s = split_tokens(ids, valid_fraction, seq_len);
    FUZZ_CHECK(s.train.size() + s.valid.size() == ids.size(), "split lost tokens");
    FUZZ_CHECK(int64_t(s.train.size()) >= seq_len + 1 && int64_t(s.valid.size()) >= seq_len + 1, "split too small");
    train = s.train;
  } catch (const Error&) {
  }
  // sample_batch allocates the batch it is asked for: small batches here, or
  // ones so large (2^60 and up) that it must refuse them before allocating.
  if (batch <= 64 || batch >= (int64_t(1) << 60)) {
    try {
      Generator gen(7);
      auto [x, y] = sample_batch(train, batch, seq_len, gen);
      check_windows(x, y, batch, seq_len);
    } catch (const Error&) {
    }
  }
  // eval_batches allocates at most the tokens' worth, whatever batch asks.
  try {
    int64_t windows = 0;
    for (const auto& [x, y] : eval_batches(ids, batch, seq_len, max_batches)) {
      FUZZ_CHECK(x.dim() == 2 && x.size(0) >= 1 && x.size(0) <= batch, "eval batch of %lld rows",
                 static_cast<long long>(x.size(0)));
      check_windows(x, y, x.size(0), seq_len);
      windows += x.size(0);
    }
    FUZZ_CHECK(windows * seq_len < int64_t(ids.size()), "eval windows run past the tokens");
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const TokenizerKind kind = in.PickValueInArray({TokenizerKind::byte, TokenizerKind::character, TokenizerKind::word});
  const int64_t max_vocab = in.ConsumeBool() ? 8192 : in.ConsumeIntegralInRange<int64_t>(-1, 64);
  const int32_t probe = in.ConsumeIntegral<int32_t>();
  const std::string text = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, in.remaining_bytes()));

  Tokenizer tok;
  try {
    tok = Tokenizer::build(kind, text, max_vocab);
  } catch (const Error&) {
    FUZZ_CHECK(kind != TokenizerKind::byte && max_vocab < 2, "build refused max_vocab %lld",
               static_cast<long long>(max_vocab));
    return 0;
  }
  const int64_t n = tok.vocab_size();
  FUZZ_CHECK(kind == TokenizerKind::byte ? n == 256 : n >= 1 && n <= max_vocab, "vocab of %lld",
             static_cast<long long>(n));

  const std::vector<int32_t> ids = tok.encode(text);
  bool unk = false;
  for (int32_t id : ids) {
    FUZZ_CHECK(id >= 0 && id < n, "id %d outside a vocabulary of %lld", id, static_cast<long long>(n));
    unk |= id == 0 && kind != TokenizerKind::byte;
  }
  const std::string decoded = tok.decode(ids);
  if (kind == TokenizerKind::byte) FUZZ_CHECK(decoded == text, "byte decode(encode(text)) != text");
  if (!unk) FUZZ_CHECK(tok.encode(decoded) == ids, "encode(decode(ids)) != ids");

  FUZZ_CHECK(Tokenizer::from_json(nlohmann::json::parse(tok.to_json().dump())) == tok, "tokenizer JSON round trip");

  try {
    tok.token(probe);
    tok.decode({0, probe});
    FUZZ_CHECK(probe >= 0 && probe < n, "id %d accepted by a vocabulary of %lld", probe, static_cast<long long>(n));
  } catch (const Error&) {
    FUZZ_CHECK(probe < 0 || probe >= n, "id %d refused by a vocabulary of %lld", probe, static_cast<long long>(n));
  }

  fuzz_windows(in, ids);
  return 0;
}
