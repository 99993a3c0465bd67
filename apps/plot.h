// `moegrad plot RUN_DIR`: pictures of a training run from its metrics log.
//
// `moegrad train` appends one JSON object per line to RUN_DIR/metrics.jsonl:
//   {"kind":"train","step":12,"loss":3.21,"lr":0.001,...}
//   {"kind":"valid","step":100,"loss":2.9,"ppl":18.2,
//    "layers":[{"layer":0,"tokens_per_expert":[120,80,...],...},...]}
// read_metrics() parses it; plot_run() turns it into PNGs with gnuplot
// (Debian: gnuplot-nox, installed by scripts/setup.sh), run as a child process
// on a generated script. Example:
//
//   PlotResult r = plot_run("runs/smoe-small");
//   for (const auto& f : r.files) std::cout << f << "\n";
//   // runs/smoe-small/plots/loss.png
//   // runs/smoe-small/plots/expert_load_layer0.png ...
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moegrad::app {

// The records of a metrics.jsonl, in file order.
struct MetricsLog {
  std::vector<nlohmann::json> train, valid;  // objects with "kind" "train" / "valid"
  int64_t skipped_lines = 0;                 // a truncated last line (a killed or still-running run)
};

// Reads a metrics.jsonl.
// Requires: every line but the last is empty or a JSON object; "train" and
//   "valid" records carry an integer "step".
// Guarantees: records of other kinds, objects without "kind" and unknown
//   fields are kept out of the way (other kinds are dropped, fields are left in
//   the json untouched); a last line that is not valid JSON is skipped with a
//   warning on stderr and counted in skipped_lines.
// Throws moegrad::Error("read_metrics: <path>:<line>: ...") for a malformed
// line before the last, and "read_metrics: <path>: ..." when it cannot be read.
MetricsLog read_metrics(const std::string& path);

struct PlotResult {
  std::vector<std::string> files;  // paths of the PNGs written, loss.png first
};

// Writes RUN_DIR/plots/loss.png: train loss (raw and, from 100 records on,
// smoothed) and valid loss against step; the right axis reads perplexity
// (exp(loss)) off the loss axis when the logged ppl is exp(loss), and is a
// separate valid-perplexity line otherwise. And, for each MoE layer L in the
// valid records (layers with "tokens_per_expert"),
// RUN_DIR/plots/expert_load_layer<L>.png: a heatmap of experts (y) by
// validation (x, one column per validation on the step axis), colour = the
// share of the layer's routed choices that went to each expert (viridis, 0 to
// the largest share; the title gives the uniform share 1/E; grey where a
// validation has no data for the layer).
// Requires: RUN_DIR/metrics.jsonl with at least one train record with a finite
//   loss; gnuplot on PATH with the pngcairo or png terminal.
// Guarantees: each PNG is replaced atomically (written under a temporary name
//   in RUN_DIR/plots and renamed); the temporary directory with the script and
//   data files is removed, on errors too. No user path reaches a shell or the
//   gnuplot script (gnuplot is fork/exec'd inside the temporary directory and
//   reads relative names). Files from an earlier call for layers no longer in
//   the log are left alone.
// A step logged twice is plotted once, with the record that came last in the file.
// Throws moegrad::Error("plot: ...", one line) when RUN_DIR or its metrics.jsonl
// is missing, there are no train records, gnuplot is not installed ("gnuplot
// not found: install gnuplot-nox (bash scripts/setup.sh)"), or gnuplot fails
// (the message carries gnuplot's error line, else the first line of its
// stderr); read_metrics' errors pass through.
PlotResult plot_run(const std::string& run_dir);

// One named line of plot_curves: a value per step.
struct Curve {
  std::string name;
  std::map<int64_t, double> points;
};

// Writes `png` (a path ending in .png): every curve against step on one
// axis, each in its own colour with its name in the key, under `title` with
// the y axis labelled `ylabel`. What `moegrad compare` draws its arms with.
// Requires: at least one curve with a finite point; gnuplot as plot_run.
// Guarantees: png is replaced atomically (written in a temporary directory
// beside it, then renamed); names and titles keep only [A-Za-z0-9 _.,:()+-]
// (the label rule of plot_run; titles up to 100 characters, names 40). Throws moegrad::Error("plot: ...") as plot_run.
void plot_curves(const std::string& png, const std::string& title, const std::string& ylabel,
                 const std::vector<Curve>& curves);

}  // namespace moegrad::app
