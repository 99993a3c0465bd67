// Fuzzes the run settings (apps/run_config.h) as `moegrad train --config`
// reads them: JSON text into from_json, then validate. Properties: bad input
// is a "config: " Error; a config that validates is written (to_json, as
// config.json is) and reads back as itself; and the MoE layer sizes that
// build_model derives from it (moe_layer_config) compute without overflow.
#include <cstdint>
#include <string>

#include "apps/model.h"
#include "apps/run_config.h"
#include "core/error.h"
#include "fuzz/fuzz.h"

using namespace moegrad;
using namespace moegrad::app;
using moegrad::fuzz::starts_with;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;  // the command line refuses text that is not JSON before from_json

  RunConfig c;
  try {
    c = from_json(j);
    validate(c);
  } catch (const Error& e) {
    FUZZ_CHECK(starts_with(e.what(), "config: "), "%s", e.what());
    return 0;
  }

  const nlohmann::json written = to_json(c);
  const RunConfig back = from_json(nlohmann::json::parse(written.dump()));
  validate(back);
  FUZZ_CHECK(to_json(back) == written, "config.json does not read back: %s", written.dump().c_str());

  if (c.model == "smoe" || c.model == "mhmoe") {
    try {
      moe_layer_config(c, 0);
    } catch (const Error& e) {
      // mhmoe_v1 may find the SMoE budget too small for the head and merge
      // layers: a clear refusal, which validate leaves to build_model.
      FUZZ_CHECK(starts_with(e.what(), "mhmoe_v1: "), "%s", e.what());
    }
  }
  return 0;
}
