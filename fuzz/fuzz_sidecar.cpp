// Fuzzes the checkpoint sidecar reader (apps/checkpoint.h, parse_sidecar: the
// step-N.json that load_checkpoint reads before the weights). Properties: bad
// input is an Error naming the sidecar; an accepted sidecar holds a config
// that validates, a non-negative step, a weights file name, and a tokenizer
// whose JSON form reads back as itself.
#include <cstdint>
#include <string>

#include "apps/checkpoint.h"
#include "core/error.h"
#include "fuzz/fuzz.h"

using namespace moegrad;
using namespace moegrad::app;
using moegrad::fuzz::starts_with;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string what = "fuzz/step-00000001.json";
  Checkpoint ck;
  try {
    ck = parse_sidecar(text, what);
  } catch (const Error& e) {
    const std::string msg = e.what();
    FUZZ_CHECK(starts_with(msg, "checkpoint: ") && msg.find(what) != std::string::npos, "%s", msg.c_str());
    return 0;
  }
  FUZZ_CHECK(ck.sidecar_path == what, "%s", ck.sidecar_path.c_str());
  FUZZ_CHECK(ck.step >= 0, "step %lld", static_cast<long long>(ck.step));
  validate(ck.config);
  const Tokenizer again = Tokenizer::from_json(nlohmann::json::parse(ck.tokenizer.to_json().dump()));
  FUZZ_CHECK(again == ck.tokenizer, "the tokenizer's JSON does not read back");
  FUZZ_CHECK(ck.model.empty() && ck.optimizer.empty(), "parse_sidecar loaded tensors");
  return 0;
}
