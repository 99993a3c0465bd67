// Fuzzes Tokenizer::from_json (apps/data.h), the tokenizer a checkpoint
// sidecar carries, with JSON text. Properties: bad input is a
// "Tokenizer::from_json: " Error; an accepted tokenizer writes the same JSON
// back, and each of its tokens encodes to exactly its own id (from_json
// accepts only vocabularies that encode can reproduce).
#include <cstdint>
#include <string>
#include <vector>

#include "apps/data.h"
#include "core/error.h"
#include "fuzz/fuzz.h"

using namespace moegrad;
using namespace moegrad::app;
using moegrad::fuzz::starts_with;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  Tokenizer tok;
  try {
    tok = Tokenizer::from_json(j);
  } catch (const Error& e) {
    FUZZ_CHECK(starts_with(e.what(), "Tokenizer::from_json: "), "%s", e.what());
    return 0;
  }
  const nlohmann::json written = tok.to_json();
  FUZZ_CHECK(Tokenizer::from_json(nlohmann::json::parse(written.dump())) == tok, "JSON round trip");
  if (tok.kind() == TokenizerKind::byte) return 0;
  for (int32_t id = 1; id < tok.vocab_size(); ++id) {
    const std::vector<int32_t> ids = tok.encode(tok.token(id));
    FUZZ_CHECK(ids.size() == 1 && ids[0] == id, "token %d '%s' does not encode to itself", id, tok.token(id).c_str());
  }
  return 0;
}
