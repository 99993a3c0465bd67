// Reproducible random numbers from a counter-based generator (Philox4x32-10,
// Salmon et al., SC 2011). Element i of a draw is a pure function of
// (seed, offset + i), so a CUDA kernel can produce exactly the CPU's stream,
// and no state is shared between threads.
//
// A Generator only holds (seed, offset); each draw of n elements advances the
// offset by n. Same seed, same sequence of draws -> bit-identical tensors.
#pragma once

#include <array>
#include <cstdint>

namespace moegrad {

// Philox4x32 with 10 rounds: 4 random 32-bit words from a 128-bit counter and
// a 64-bit key. Host and device code can share this inline function.
inline std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }  // for checkpoints
  // Reserves n counters and returns the first.
  uint64_t advance(uint64_t n) { uint64_t first = offset_; offset_ += n; return first; }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide generator that factories use when none is given.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace moegrad
