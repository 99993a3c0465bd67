// Running the `moegrad` binary from tests: its exit status and output.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "reference.h"

namespace moegrad::testing {

// Runs a shell command; returns its exit status (-1 when it did not exit).
inline int shell(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// s as one single-quoted shell word.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

struct CliResult {
  int status;
  std::string command, out, err;
};

// Runs the moegrad binary with args, capturing stdout and stderr through
// files in `logs` (which must lie outside any directory being watched).
inline CliResult run_cli(const std::vector<std::string>& args, const ScratchDir& logs) {
  CliResult r;
  r.command = quote(MOEGRAD_CLI_PATH);
  for (const auto& a : args) r.command += " " + quote(a);
  const std::string out = logs / "stdout", err = logs / "stderr";
  r.status = shell(r.command + " > " + quote(out) + " 2> " + quote(err) + " < /dev/null");
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace moegrad::testing
