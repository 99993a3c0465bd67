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

TEST_CASE("the CPU allocator serves a slightly smaller request from a cached block, not a much smaller one",
          "[cpu]") {
  auto& cpu = static_cast<CpuBackend&>(backend(Device::cpu()));
  cpu.empty_cache();
  void* block = nullptr;
  {
    Tensor big = zeros({1 << 18});  // 1 MiB
    block = big.raw_data();
  }
  {
    Tensor smaller = ones({(1 << 18) * 3 / 4});  // 768 KiB: within 2/3 of the block, reuses it
    REQUIRE(smaller.raw_data() == block);
    REQUIRE(cpu.cached_bytes() == 0);
    REQUIRE(sum(smaller).item<float>() == float((1 << 18) * 3 / 4));
  }
  // Given back, the block keeps its full size: a full-size request finds it.
  REQUIRE(cpu.cached_bytes() == (size_t(1) << 20));
  {
    Tensor full_size = zeros({1 << 18});
    REQUIRE(full_size.raw_data() == block);
  }
  {
    Tensor much_smaller = zeros({1 << 16});  // 256 KiB: too wasteful, a fresh block
    REQUIRE(much_smaller.raw_data() != block);
    REQUIRE(cpu.cached_bytes() == (size_t(1) << 20));
  }
  cpu.empty_cache();
  REQUIRE(cpu.cached_bytes() == 0);
}
