// What the fuzz targets share. A target feeds its input to a moegrad reader;
// a moegrad::Error is the reader refusing bad input, which is fine. Anything
// else is a finding that libFuzzer saves as a crash: a sanitizer report, an
// exception of another type escaping (std::terminate), or a property that
// FUZZ_CHECK finds broken (a round trip that does not return what went in).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, ...)                                                \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

namespace moegrad::fuzz {

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace moegrad::fuzz
