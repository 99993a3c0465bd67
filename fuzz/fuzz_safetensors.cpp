// Fuzzes the safetensors reader (nn/safetensors.h) with arbitrary bytes.
// Properties: parse_safetensors either refuses with a "safetensors: " Error or
// returns tensors; load_safetensors of the same bytes in a file agrees with it
// (both refuse, or both return the same tensors); and what was accepted is
// written back by serialize_safetensors into bytes that parse to the same
// tensors and serialize to the same bytes again.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "core/error.h"
#include "fuzz/fuzz.h"
#include "nn/safetensors.h"

using namespace moegrad;
using moegrad::fuzz::starts_with;

namespace {

bool same_tensors(const SafetensorsFile& a, const SafetensorsFile& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (const auto& [name, t] : a.tensors) {
    auto it = b.tensors.find(name);
    if (it == b.tensors.end()) return false;
    const Tensor& u = it->second;
    if (t.dtype() != u.dtype() || t.shape() != u.shape()) return false;
    const size_t n = size_t(t.numel()) * dtype_size(t.dtype());
    if (n > 0 && std::memcmp(t.raw_data(), u.raw_data(), n) != 0) return false;
  }
  return true;
}

// The file reader has its own code path (fstat, sequential reads into the
// tensors) worth comparing with the buffer parser. The file is in memory
// (memfd), opened by path through /proc: a disk file would make the target
// wait on every other process's fsyncs.
int scratch_fd() {
  static const int fd = ::memfd_create("moegrad-fuzz-safetensors", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0, "memfd_create failed");
  return fd;
}

const std::string& scratch_path() {
  static const std::string path = "/proc/self/fd/" + std::to_string(scratch_fd());
  return path;
}

void write_scratch(const uint8_t* data, size_t size) {
  FUZZ_CHECK(::ftruncate(scratch_fd(), 0) == 0, "cannot truncate %s", scratch_path().c_str());
  for (size_t done = 0; done < size;) {
    ssize_t w = ::pwrite(scratch_fd(), data + done, size - done, off_t(done));
    FUZZ_CHECK(w > 0, "cannot write %s", scratch_path().c_str());
    done += size_t(w);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  std::optional<SafetensorsFile> parsed;
  try {
    parsed = parse_safetensors(bytes);
  } catch (const Error& e) {
    FUZZ_CHECK(starts_with(e.what(), "safetensors: <memory>: "), "%s", e.what());
  }

  write_scratch(data, size);
  std::optional<SafetensorsFile> loaded;
  try {
    loaded = load_safetensors(scratch_path());
  } catch (const Error& e) {
    FUZZ_CHECK(starts_with(e.what(), "safetensors: " + scratch_path() + ": "), "%s", e.what());
  }
  FUZZ_CHECK(parsed.has_value() == loaded.has_value(), "parse %s but load %s", parsed ? "accepts" : "refuses",
             loaded ? "accepts" : "refuses");
  if (!parsed) return 0;
  FUZZ_CHECK(same_tensors(*parsed, *loaded), "parse and load return different tensors");

  // The writer refuses empty names, which the format (and so the reader) allows.
  for (const auto& [name, t] : parsed->tensors)
    if (name.empty()) return 0;
  const std::string written = serialize_safetensors(parsed->tensors, parsed->metadata);
  const SafetensorsFile again = parse_safetensors(written);
  FUZZ_CHECK(same_tensors(*parsed, again), "serialize then parse changed the tensors");
  FUZZ_CHECK(serialize_safetensors(again.tensors, again.metadata) == written, "serialize is not deterministic");
  return 0;
}
