// The CPU backend's memory: large freed blocks are cached and reused.
#include "backends/cpu/cpu_backend.h"
#include "core/reduce.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;

TEST_CASE("the CPU allocator reuses large freed blocks and can give them back", "[cpu]") {
  auto& cpu = static_cast<CpuBackend&>(backend(Device::cpu()));
  cpu.empty_cache();
  REQUIRE(cpu.cached_bytes() == 0);
  void* first = nullptr;
  {
    Tensor big = zeros({1 << 18});  // 1 MiB
    first = big.raw_data();
  }
  REQUIRE(cpu.cached_bytes() >= (size_t(1) << 20));
  Tensor again = ones({1 << 18});
  REQUIRE(again.raw_data() == first);  // the same block, handed out again
  REQUIRE(cpu.cached_bytes() == 0);
  REQUIRE(sum(again).item<float>() == float(1 << 18));  // and fully rewritten by ones()

  { Tensor small = zeros({16}); }
  REQUIRE(cpu.cached_bytes() == 0);  // small blocks go straight back to malloc

  { Tensor big = zeros({1 << 18}); }
  cpu.empty_cache();
  REQUIRE(cpu.cached_bytes() == 0);
}
