// Where a tensor's bytes live. Every tensor carries its device; ops check that
// their inputs share one and run the kernels of that device's backend.
#pragma once

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

// GPUs the CUDA runtime sees; 0 in a build without CUDA or without a driver.
int cuda_device_count();
// True when tensors can live on a GPU: this build has the CUDA tensor backend
// and a GPU is visible. CUDA tests skip unless it is true. (The tensor
// backend is not written yet, so for now this is false even with a GPU.)
bool cuda_is_available();

}  // namespace moegrad
