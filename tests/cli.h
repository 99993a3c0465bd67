// Running moegrad from tests: the `moegrad` binary (its exit status and
// output), and tiny_lm, the smallest run the library's training loop takes.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "apps/run_config.h"
#include "reference.h"

namespace moegrad::testing {

// One block of width 16 of `model` on the Moby-Dick fixture (a tenth kept for
// validation): 2 attention heads, windows of 16 bytes, FFN/experts of hidden
// 16, 4 experts top-2 in every block. Callers set steps, batch and logging.
inline app::RunConfig tiny_lm(const std::string& model) {
  app::RunConfig c;
  c.data = std::string(MOEGRAD_TEST_DATA_DIR) + "/moby_dick_chapter_1.txt";
  c.valid_fraction = 0.1;
  c.model = model;
  c.dim = 16;
  c.layers = 1;
  c.attn_heads = 2;
  c.seq_len = 16;
  c.ffn_hidden = 16;
  c.experts = 4;
  c.top_k = 2;
  c.moe_every = 1;
  return c;
}

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
