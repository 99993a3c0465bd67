// Memory stays flat over a long training run: 1,000 steps of a small MH-MoE
// language model through train(), the loop `moegrad train` runs. Dropless
// routing: the experts' buffers still change size every step, but what the
// layers keep of their last call (the routing plan) does not, so live bytes
// can be compared exactly. Two measures at every step boundary after a
// warm-up:
// - the CPU backend's live bytes (CpuBackend::allocated_bytes) must come back
//   to exactly the same value: any tensor kept from one step to the next (a
//   graph not freed, a loss or routing tensor held in a list) shows up in it
//   byte for byte, however small;
// - the process's resident set (/proc/self/statm) must not grow by more than
//   a small allowance: catches leaks outside tensors (graph nodes, buffers
//   malloc'ed by ops) that the first measure cannot see.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "apps/train.h"
#include "backends/cpu/cpu_backend.h"
#include "cli.h"
#include "core/backend.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::app;
using namespace moegrad::testing;

namespace {

size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  REQUIRE(statm.good());
  return pages_resident * size_t(::sysconf(_SC_PAGESIZE));
}

}  // namespace

TEST_CASE("1000 training steps of an MH-MoE LM keep memory flat: live tensor bytes and RSS", "[memory]") {
  ScratchDir scratch("memory");
  RunConfig c = tiny_lm("mhmoe");
  c.moe_heads = 2;
  c.expert_hidden = 16;
  c.capacity_factor = 0;  // see above
  c.steps = 1000;
  c.batch = 2;
  c.warmup = 10;
  c.log_every = 100;
  c.eval_every = 0;  // nothing but training steps between the measures
  c.eval_batches = 1;
  c.checkpoint_every = 0;
  c.run_dir = scratch / "run";

  auto& cpu = static_cast<CpuBackend&>(backend(Device::cpu()));
  const int64_t kWarmup = 20;
  std::vector<size_t> live(size_t(c.steps) + 1, 0);
  size_t rss_at_warmup = 0, rss_at_100 = 0, rss_max = 0;
  TrainHooks hooks;
  hooks.after_step = [&](int64_t step, double) {
    live[size_t(step)] = cpu.allocated_bytes();
    if (step < kWarmup) return;
    const size_t rss = resident_bytes();
    if (step == kWarmup) rss_at_warmup = rss;
    if (step == 100) rss_at_100 = rss;
    rss_max = std::max(rss_max, rss);
  };
  std::ostringstream out;
  TrainResult r = train(c, false, MOEGRAD_TEST_DATA_DIR, out, hooks);
  REQUIRE(r.step == c.steps);
  const size_t rss_at_end = resident_bytes();

  std::cout << "memory test: live tensor bytes at step " << kWarmup << " " << live[kWarmup] << ", at step 1000 "
            << live[1000] << "; RSS at step " << kWarmup << " " << rss_at_warmup / 1024 << " KiB, at step 100 "
            << rss_at_100 / 1024 << " KiB, max over steps " << kWarmup << "-1000 " << rss_max / 1024
            << " KiB, after the run " << rss_at_end / 1024 << " KiB" << std::endl;

  REQUIRE(live[kWarmup] > 0);
  for (int64_t step = kWarmup; step <= c.steps; ++step) {
    INFO("step " << step << ": " << live[size_t(step)] << " live bytes, " << live[kWarmup] << " at step " << kWarmup);
    REQUIRE(live[size_t(step)] == live[kWarmup]);
  }
  // 1 MiB: malloc's arenas move by a few hundred KiB over the run; holding on
  // to each step's graph nodes (about 20 KiB a step here: what keeping each
  // step's loss tensor does) crosses it within 50 steps.
  const size_t kRssAllowance = size_t(1) << 20;
  CHECK(rss_max <= rss_at_warmup + kRssAllowance);
  CHECK(rss_max <= rss_at_100 + kRssAllowance);
}
