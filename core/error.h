// moegrad::Error and the check macro every op uses to validate its inputs.
//
// The library never aborts its host program: bad input throws moegrad::Error
// whose message starts with the op's name and says what was expected, e.g.
//   matmul: [4,3] @ [5,2]: inner dims 3 != 5
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace moegrad {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
[[noreturn]] void fail(const char* op, const Parts&... parts) {
  std::ostringstream os;
  os << op << ": ";
  (os << ... << parts);
  throw Error(os.str());
}
}  // namespace detail

}  // namespace moegrad

// MOEGRAD_CHECK(cond, "op", parts...): throws moegrad::Error("op: parts...")
// when cond is false. The message is only built on failure, so checks are
// cheap enough for hot paths.
#define MOEGRAD_CHECK(cond, op, ...)                      \
  do {                                                    \
    if (!(cond)) ::moegrad::detail::fail(op, __VA_ARGS__); \
  } while (0)
