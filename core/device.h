// Where a tensor's bytes live. Every tensor carries its device; ops check that
// their inputs share one and run the kernels of that device's backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

namespace moegrad {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

// Parses "cpu", "cuda", "cuda:1"; throws moegrad::Error otherwise.
Device parse_device(const std::string& s);

// parse_device, and an Error naming `op`, the device and the GPU count when
// this build and machine cannot hold tensors there.
Device usable_device(const std::string& s, const char* op);

// GPUs the CUDA runtime sees; 0 in a build without CUDA or without a driver.
int cuda_device_count();
// True when tensors can live on a GPU: this build has the CUDA tensor backend
// and a GPU is visible. CUDA tests skip unless it is true.
bool cuda_is_available();

// ---- the CUDA backend's knobs and figures (backends/cuda) ----
// In a build without CUDA the queries return 0/false, cuda_set_tf32(false)
// does nothing, and the rest throw moegrad::Error.
//
// TF32: f32 matmuls on tensor cores, which round their inputs to 10 mantissa
// bits (about 1e-3 relative error) for several times the speed. Off by
// default, so CUDA f32 results stay within f32 tolerances of the CPU's.
// Process-wide; affects matmuls launched after the call.
void cuda_set_tf32(bool on);
bool cuda_tf32();
// The caching allocator of GPU `device`: bytes handed out to tensors (in
// size-class units), bytes kept free for reuse, and giving those back.
size_t cuda_memory_allocated(int device = 0);
size_t cuda_memory_cached(int device = 0);
void cuda_empty_cache(int device = 0);
// Waits for every queued kernel of GPU `device`; reports a kernel fault.
void cuda_synchronize(int device = 0);

}  // namespace moegrad
