// `moegrad plot`: metrics.jsonl -> data files + a gnuplot script in a
// temporary directory -> gnuplot (fork/exec, no shell) -> PNGs renamed into
// RUN_DIR/plots. See plot.h for the contract.
#include "apps/plot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <locale>
#include <map>
#include <sstream>

#include "core/error.h"

namespace moegrad::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error(msg); }

// ---------------------------------------------------------------- reading

// "syntax error while parsing object - ..." out of nlohmann's
// "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error ...".
std::string parse_reason(const json::parse_error& e) {
  std::string what = e.what();
  size_t col = what.find("column ");
  size_t colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
  std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
  return "not valid JSON at column " + std::to_string(e.byte) + " (" + reason + ")";
}

bool is_integral_number(const json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15;
}

// ---------------------------------------------------------------- series

double number_or_nan(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return NAN;  // null: a NaN the writer could not spell in JSON
  return it->get<double>();
}

int64_t step_of(const json& record) { return int64_t(record.at("step").get<double>()); }

struct LayerLoad {
  std::string kind;
  int64_t experts = 0;
  std::map<int64_t, std::vector<double>> shares;  // valid step -> share per expert
};

// Only [A-Za-z0-9 _.,:()+-], at most max_size characters: text that goes
// into the script's single-quoted titles (where a quote would end the string).
std::string safe_label(const std::string& s, size_t max_size = 40) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || (c != '\0' && std::strchr(" _.,:()+-", c))) out += c;
    if (out.size() >= max_size) break;
  }
  return out;
}

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os.precision(9);
  os << v;
  return os.str();
}

// ---------------------------------------------------------------- processes and files

std::string find_on_path(const std::string& name) {
  const char* env = std::getenv("PATH");
  std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      std::error_code ec;
      fs::path absolute = fs::absolute(candidate, ec);  // the child changes directory before exec
      return ec ? candidate : absolute.string();
    }
    start = end + 1;
  }
  return "";
}

// A directory removed with everything in it when this goes out of scope.
class TempDir {
 public:
  explicit TempDir(const fs::path& parent) {
    std::string tmpl = (parent / ".plot-tmp-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data()))
      fail("plot: cannot create a temporary directory in " + parent.string() + ": " + std::strerror(errno));
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) fail("plot: cannot write " + path.string());
}

// The line of gnuplot's stderr that says what went wrong: its error line
// ("plot.gp" line N: ...; gnuplot stops at the first error, so the last such
// line that is not a warning), else the first non-blank line.
std::string gnuplot_error_line(const fs::path& err_file) {
  std::ifstream in(err_file);
  std::string line, first, error;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    if (first.empty()) first = line;
    if (line.rfind("\"plot.gp\" line ", 0) == 0 && line.find(": warning:") == std::string::npos) error = line;
  }
  return error.empty() ? first : error;
}

// Runs `gnuplot plot.gp` inside dir, stdin from /dev/null, stdout and stderr
// into files there. Throws with gnuplot's error line when it fails.
void run_gnuplot(const std::string& gnuplot, const fs::path& dir) {
  const std::string dir_s = dir.string(), out_s = (dir / "gnuplot.out").string(),
                    err_s = (dir / "gnuplot.err").string();
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = ::open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err_fd = ::open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int status_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {in_fd, out_fd, err_fd, status_pipe[0], status_pipe[1]})
      if (fd >= 0) ::close(fd);
  };
  if (in_fd < 0 || out_fd < 0 || err_fd < 0 || ::pipe2(status_pipe, O_CLOEXEC) != 0) {
    std::string why = std::strerror(errno);
    close_all();
    fail("plot: cannot set up gnuplot's files in " + dir_s + ": " + why);
  }
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (the parent may have threads).
  const char* argv[] = {"gnuplot", "plot.gp", nullptr};
  pid_t pid = ::fork();
  if (pid < 0) {
    std::string why = std::strerror(errno);
    close_all();
    fail("plot: cannot start gnuplot: " + why);
  }
  if (pid == 0) {
    if (::chdir(dir_s.c_str()) == 0 && ::dup2(in_fd, 0) >= 0 && ::dup2(out_fd, 1) >= 0 && ::dup2(err_fd, 2) >= 0)
      ::execv(gnuplot.c_str(), const_cast<char* const*>(argv));
    int e = errno;
    ssize_t ignored = ::write(status_pipe[1], &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  ::close(status_pipe[1]);
  status_pipe[1] = -1;
  int child_errno = 0;
  ssize_t got;
  do got = ::read(status_pipe[0], &child_errno, sizeof child_errno);
  while (got < 0 && errno == EINTR);
  int status = 0;
  pid_t waited;
  do waited = ::waitpid(pid, &status, 0);
  while (waited < 0 && errno == EINTR);
  close_all();
  // A host that ignores SIGCHLD has its children reaped for it (ECHILD): the
  // check that every PNG was written then stands in for the exit status.
  if (got == ssize_t(sizeof child_errno)) fail("plot: cannot run " + gnuplot + ": " + std::strerror(child_errno));
  if (waited < 0) return;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string line = gnuplot_error_line(dir / "gnuplot.err");
  std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                      : "was killed by signal " + std::to_string(WTERMSIG(status));
  fail("plot: gnuplot " + how + (line.empty() ? "" : ": " + line));
}

// ---------------------------------------------------------------- the script

// pngcairo when this gnuplot has it (anti-aliased, fonts), else libgd's png.
const char* kTerminal = R"(if (strstrt(" ".GPVAL_TERMINALS." ", " pngcairo ") > 0) {
  TERM = "pngcairo noenhanced font 'sans,11'"
} else {
  TERM = "png noenhanced"
}
)";

// Viridis, 8 stops: readable in grey and for colour-blind readers.
const char* kPalette =
    "set palette defined (0 '#440154', 1 '#46327e', 2 '#365c8d', 3 '#277f8e', 4 '#1fa187', 5 '#4ac16d', "
    "6 '#a0da39', 7 '#fde725')\n";

// Round perplexities between exp(lo) and exp(hi) for the right axis, which
// gnuplot would otherwise label at exp(3), exp(4), ... (20.0855, 54.5982).
// The sparsest of the mantissa sets that gives at least 4 tics; for a range
// too narrow for any, evenly spaced round values.
std::vector<double> perplexity_tics(double lo, double hi) {
  const double plo = std::exp(lo), phi = std::exp(hi);
  if (!(plo > 0) || !std::isfinite(phi) || !(phi > plo)) return {};
  const std::vector<std::vector<double>> sets = {
      {1}, {1, 3}, {1, 2, 5}, {1, 2, 3, 5, 7}, {1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9}};
  for (const auto& mantissas : sets) {
    std::vector<double> tics;
    for (int k = int(std::floor(std::log10(plo))); k <= int(std::ceil(std::log10(phi))); ++k)
      for (double m : mantissas) {
        double v = m * std::pow(10.0, k);
        if (v >= plo && v <= phi) tics.push_back(v);
      }
    if (tics.size() >= 4) return tics;
  }
  const double raw = (phi - plo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 2 ? mag : raw / mag < 5 ? 2 * mag : 5 * mag;
  std::vector<double> tics;
  for (double v = std::ceil(plo / step) * step; v <= phi; v += step) tics.push_back(v);
  return tics;
}

std::string loss_section(const std::map<int64_t, double>& train,
                         const std::map<int64_t, std::pair<double, double>>& valid, const fs::path& dir) {
  // Train: step, loss, smoothed loss (for runs of 100+ records: a debiased EMA
  // over 1/50 of the records, at least 5).
  const bool smooth = train.size() >= 100;
  const double alpha = 2.0 / (std::max(double(train.size()) / 50.0, 5.0) + 1.0);
  std::string data;
  double ema = 0, weight = 0;
  for (const auto& [step, loss] : train) {
    std::string smoothed = "NaN";
    if (smooth && std::isfinite(loss)) {
      ema = (1 - alpha) * ema + alpha * loss;
      weight = (1 - alpha) * weight + alpha;
      smoothed = num(ema / weight);
    }
    data += std::to_string(step) + " " + num(loss) + " " + smoothed + "\n";
  }
  write_text(dir / "train.dat", data);

  // Valid: step, loss, ppl. The right axis reads perplexity off the loss axis
  // when every logged ppl is exp(loss); otherwise ppl gets its own line.
  data.clear();
  bool have_ppl = false, ppl_is_exp_loss = true;
  for (const auto& [step, lp] : valid) {
    auto [loss, ppl] = lp;
    data += std::to_string(step) + " " + num(loss) + " " + num(ppl) + "\n";
    if (std::isfinite(ppl)) {
      have_ppl = true;
      if (!std::isfinite(loss) || std::fabs(std::log(ppl) - loss) > 1e-3 * std::max(1.0, std::fabs(loss)))
        ppl_is_exp_loss = false;
    }
  }
  write_text(dir / "valid.dat", data);
  bool have_valid_loss = false;
  for (const auto& [step, lp] : valid) have_valid_loss |= std::isfinite(lp.first);
  const bool link_ppl = have_ppl && ppl_is_exp_loss && have_valid_loss;

  std::ostringstream s;
  s << "reset\nset terminal @TERM size 1100,650\nset output 'loss.png.tmp'\n"
    << "set title 'loss'\nset xlabel 'step'\nset ylabel 'loss'\nset grid\n"
    << "set key top right box opaque\nset xtics nomirror\nset ytics nomirror\n"
    << "set border " << (have_ppl ? 11 : 3) << "\n"   // left, bottom and, with perplexity, right
    << "set offsets 0, 0, graph 0.04, graph 0.02\n";  // room above the first, highest losses
  if (link_ppl) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& [step, loss] : train)
      if (std::isfinite(loss)) lo = std::min(lo, loss), hi = std::max(hi, loss);
    for (const auto& [step, lp] : valid)
      if (std::isfinite(lp.first)) lo = std::min(lo, lp.first), hi = std::max(hi, lp.first);
    const double margin = 0.1 * std::max(hi - lo, 1e-3);  // gnuplot's autoscaled range is a little wider
    std::string tics;
    for (double v : perplexity_tics(lo - margin, hi + margin)) tics += (tics.empty() ? "" : ", ") + num(v);
    s << "set link y2 via exp(y) inverse log(y)\nset y2label 'perplexity = exp(loss)'\nset format y2 '%g'\n"
      << (tics.empty() ? "set y2tics\n" : "set y2tics (" + tics + ")\n");
  } else if (have_ppl) {
    s << "set y2tics\nset y2label 'valid perplexity'\n";
  }
  const char* train_style = train.size() >= 2 ? "lines" : "points pt 7";
  s << "plot 'train.dat' using 1:2 with " << train_style << " lw 1 lc rgb '" << (smooth ? "#9ecae1" : "#2171b5")
    << "' title 'train loss'";
  if (smooth) s << ", \\\n  'train.dat' using 1:3 with lines lw 2 lc rgb '#08519c' title 'train loss (smoothed)'";
  if (have_valid_loss)
    s << ", \\\n  'valid.dat' using 1:2 with linespoints pt 7 ps 0.9 lw 2 lc rgb '#d94801' title 'valid loss'";
  if (have_ppl && !link_ppl)
    s << ", \\\n  'valid.dat' using 1:3 axes x1y2 with linespoints pt 5 ps 0.8 lw 1 dt 2 lc rgb '#6a51a3' title "
         "'valid perplexity (right axis)'";
  s << "\nunset output\n";
  return s.str();
}

// steps: every validation's step, ascending, so that all heatmaps share their
// columns; a validation without this layer leaves its column grey.
std::string load_section(int64_t layer, const LayerLoad& load, const std::vector<int64_t>& steps, const fs::path& dir,
                         std::string* png) {
  // One box per (validation, expert), x from halfway to the previous
  // validation to halfway to the next, so the x axis is the step axis of loss.png.
  const size_t n = steps.size();
  std::vector<double> edges(n + 1);
  for (size_t i = 1; i < n; ++i) edges[i] = 0.5 * double(steps[i - 1] + steps[i]);
  edges[0] = n == 1 ? double(steps[0]) - 0.5 : double(steps[0]) - (edges[1] - double(steps[0]));
  edges[n] = n == 1 ? double(steps[0]) + 0.5 : double(steps[n - 1]) + (double(steps[n - 1]) - edges[n - 1]);
  std::string data;
  double max_share = 0;
  bool gaps = false;
  for (size_t i = 0; i < n; ++i) {
    auto it = load.shares.find(steps[i]);
    if (it == load.shares.end() || int64_t(it->second.size()) < load.experts) gaps = true;
    if (it == load.shares.end()) continue;
    const std::vector<double>& shares = it->second;
    for (size_t e = 0; e < shares.size(); ++e) {
      if (!std::isfinite(shares[e])) gaps = true;
      if (!std::isfinite(shares[e])) continue;
      max_share = std::max(max_share, shares[e]);
      // Each box reaches 2% into its right and upper neighbours, which are drawn after it and cover the overlap:
      // otherwise anti-aliasing leaves light seams between the cells.
      const double right = i + 1 < n ? edges[i + 1] + 0.02 * (edges[i + 1] - edges[i]) : edges[i + 1];
      const double top = e + 1 < shares.size() ? double(e) + 0.52 : double(e) + 0.5;
      data += std::to_string(steps[i]) + " " + std::to_string(e) + " " + num(edges[i]) + " " + num(right) + " " +
              num(double(e) - 0.5) + " " + num(top) + " " + num(shares[e]) + "\n";
    }
  }
  const std::string stem = "expert_load_layer" + std::to_string(layer);
  write_text(dir / (stem + ".dat"), data);
  *png = stem + ".png";

  const int64_t E = load.experts;
  const int height = int(std::clamp<int64_t>(250 + 14 * E, 500, 1600));
  std::ostringstream s;
  s << "reset\nset terminal @TERM size 1100," << height << "\nset output '" << *png << ".tmp'\n";
  std::string kind = safe_label(load.kind);
  s << "set title 'layer " << layer << (kind.empty() ? "" : " (" + kind + ")") << ": share of routed choices per expert"
    << " (uniform = 1/" << E << " = " << num(1.0 / double(E)) << ")'\n"
    << "set xlabel 'step (one column per validation" << (gaps ? "; grey: no data" : "") << ")'\nset ylabel 'expert'\n"
    << "set cblabel 'share of routed choices'\n"
    << "set xrange [" << num(edges[0]) << ":" << num(edges[n]) << "]\nset yrange [-0.5:" << E - 0.5 << "]\n"
    << "set cbrange [0:" << num(max_share > 0 ? max_share : 1.0) << "]\n"
    << (E <= 32 ? "set ytics 0,1\n" : "set ytics 0," + std::to_string((E + 15) / 16) + "\n")
    << "set xtics nomirror out\nset ytics nomirror out\nunset key\nset tics front\n"
    << "set object 1 rectangle from graph 0,0 to graph 1,1 behind fillcolor rgb '#d9d9d9' fillstyle solid 1.0 "
       "noborder\n"
    << kPalette;
  if (n <= 12) {  // few validations: label each column with its step
    std::string tics;
    for (int64_t step : steps) tics += (tics.empty() ? "" : ", ") + std::to_string(step);
    s << "set xtics (" << tics << ")\n";
  }
  // An empty data file (nothing routed anywhere) is a warning to gnuplot, with the ranges fixed: a grey frame.
  s << "plot '" << stem << ".dat' using 1:2:3:4:5:6:7 with boxxyerror fs solid 1.0 noborder fc palette\n"
    << "unset output\n";
  return s.str();
}

}  // namespace

MetricsLog read_metrics(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("read_metrics: " + path + ": no such file");
  if (fs::is_directory(path, ec)) fail("read_metrics: " + path + ": is a directory, not a metrics file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("read_metrics: " + path + ": cannot open: " + std::strerror(errno));

  MetricsLog log;
  std::string line, pending_error;  // a bad line is an error only if another non-empty line follows it
  int64_t lineno = 0, pending_line = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!pending_error.empty())
      fail("read_metrics: " + path + ":" + std::to_string(pending_line) + ": " + pending_error);
    json record;
    try {
      record = json::parse(line);
    } catch (const json::parse_error& e) {
      pending_error = parse_reason(e);
      pending_line = lineno;
      continue;
    }
    auto where = [&] { return "read_metrics: " + path + ":" + std::to_string(lineno) + ": "; };
    if (!record.is_object()) fail(where() + "not a JSON object");
    auto kind = record.find("kind");
    if (kind == record.end() || !kind->is_string()) continue;
    const std::string& k = kind->get_ref<const std::string&>();
    if (k != "train" && k != "valid") continue;
    auto step = record.find("step");
    if (step == record.end() || !is_integral_number(*step)) fail(where() + k + " record without an integer \"step\"");
    (k == "train" ? log.train : log.valid).push_back(std::move(record));
  }
  if (in.bad()) fail("read_metrics: " + path + ": read failed");
  if (!pending_error.empty()) {
    ++log.skipped_lines;
    std::cerr << "warning: " << path << ":" << pending_line
              << ": incomplete last line skipped (the run was killed or is still writing)\n";
  }
  return log;
}

PlotResult plot_run(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::exists(run_dir, ec)) fail("plot: run directory " + run_dir + " does not exist");
  if (!fs::is_directory(run_dir, ec)) fail("plot: " + run_dir + " is not a directory");
  const fs::path metrics = fs::path(run_dir) / "metrics.jsonl";
  if (!fs::exists(metrics, ec))
    fail("plot: no metrics.jsonl in " + run_dir + " (is it a run directory written by `moegrad train`?)");
  MetricsLog log = read_metrics(metrics.string());
  if (log.train.empty()) fail("plot: " + metrics.string() + " has no train records");

  // Step -> value; a step logged again (a resumed run) keeps its last record.
  std::map<int64_t, double> train;
  for (const auto& r : log.train) train[step_of(r)] = number_or_nan(r, "loss");
  if (std::none_of(train.begin(), train.end(), [](const auto& p) { return std::isfinite(p.second); }))
    fail("plot: " + metrics.string() + ": no train record has a finite loss");
  std::map<int64_t, std::pair<double, double>> valid;
  std::map<int64_t, LayerLoad> layers;
  for (const auto& r : log.valid) {
    const int64_t step = step_of(r);
    valid[step] = {number_or_nan(r, "loss"), number_or_nan(r, "ppl")};
    auto ls = r.find("layers");
    if (ls == r.end() || !ls->is_array()) continue;
    for (size_t i = 0; i < ls->size(); ++i) {
      const json& l = (*ls)[i];
      if (!l.is_object()) continue;
      auto tpe = l.find("tokens_per_expert");
      if (tpe == l.end() || !tpe->is_array() || tpe->empty()) continue;  // not an MoE layer
      auto id = l.find("layer");
      const int64_t layer = id != l.end() && is_integral_number(*id) ? int64_t(id->get<double>()) : int64_t(i);
      LayerLoad& load = layers[layer];
      if (auto kind = l.find("kind"); kind != l.end() && kind->is_string()) load.kind = kind->get<std::string>();
      std::vector<double> counts;
      double total = 0;
      for (const auto& c : *tpe) {
        double v = c.is_number() ? c.get<double>() : NAN;
        counts.push_back(v);
        if (std::isfinite(v)) total += v;
      }
      for (double& c : counts) c = total > 0 ? c / total : NAN;  // nothing routed: no colour
      load.experts = std::max<int64_t>(load.experts, int64_t(counts.size()));
      load.shares[step] = std::move(counts);
    }
  }

  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) fail("plot: gnuplot not found: install gnuplot-nox (bash scripts/setup.sh)");

  const fs::path plots = fs::path(run_dir) / "plots";
  fs::create_directories(plots, ec);
  if (ec) fail("plot: cannot create " + plots.string() + ": " + ec.message());
  TempDir tmp(plots);

  std::vector<std::string> pngs = {"loss.png"};
  std::string script = std::string(kTerminal) + loss_section(train, valid, tmp.path());
  std::vector<int64_t> valid_steps;
  for (const auto& [step, lp] : valid) valid_steps.push_back(step);
  for (const auto& [layer, load] : layers) {
    std::string png;
    script += load_section(layer, load, valid_steps, tmp.path(), &png);
    pngs.push_back(png);
  }
  write_text(tmp.path() / "plot.gp", script);
  run_gnuplot(gnuplot, tmp.path());

  // Each PNG is complete before it is renamed over the old one, in the same directory.
  PlotResult result;
  for (const auto& png : pngs) {
    const fs::path written = tmp.path() / (png + ".tmp"), final_path = plots / png;
    if (fs::file_size(written, ec) == 0 || ec)
      fail("plot: gnuplot exited cleanly but did not write " + png + " (" +
           gnuplot_error_line(tmp.path() / "gnuplot.err") + ")");
    fs::rename(written, final_path, ec);  // same filesystem (the temporary directory is inside plots/): atomic
    if (ec) fail("plot: cannot move " + png + " into " + plots.string() + ": " + ec.message());
    result.files.push_back(final_path.string());
  }
  return result;
}

void plot_curves(const std::string& png, const std::string& title, const std::string& ylabel,
                 const std::vector<Curve>& curves) {
  const bool any = std::any_of(curves.begin(), curves.end(), [](const Curve& c) {
    return std::any_of(c.points.begin(), c.points.end(), [](const auto& p) { return std::isfinite(p.second); });
  });
  if (!any) fail("plot: no curve for " + png + " has a finite point");
  const std::string gnuplot = find_on_path("gnuplot");
  if (gnuplot.empty()) fail("plot: gnuplot not found: install gnuplot-nox (bash scripts/setup.sh)");
  const fs::path target(png), parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) fail("plot: cannot create " + parent.string() + ": " + ec.message());
  TempDir tmp(parent);

  std::ostringstream s;
  s << kTerminal << "set terminal @TERM size 1100,650\nset output 'curves.png.tmp'\n"
    << "set title '" << safe_label(title, 100) << "'\nset xlabel 'step'\nset ylabel '" << safe_label(ylabel, 100) << "'\n"
    << "set grid\nset key top right box opaque\nset xtics nomirror\nset ytics nomirror\nset border 3\n"
    << "set offsets 0, 0, graph 0.04, graph 0.02\nplot ";
  for (size_t i = 0; i < curves.size(); ++i) {
    std::string data;
    for (const auto& [step, v] : curves[i].points) data += std::to_string(step) + " " + num(v) + "\n";
    const std::string file = "curve" + std::to_string(i) + ".dat";
    write_text(tmp.path() / file, data);
    s << (i ? ", \\\n  " : "") << "'" << file << "' using 1:2 with " << (curves[i].points.size() >= 2 ? "lines" : "points pt 7")
      << " lw 2 lc " << i + 1 << " title '" << safe_label(curves[i].name) << "'";
  }
  s << "\nunset output\n";
  write_text(tmp.path() / "plot.gp", s.str());
  run_gnuplot(gnuplot, tmp.path());
  const fs::path written = tmp.path() / "curves.png.tmp";
  if (fs::file_size(written, ec) == 0 || ec)
    fail("plot: gnuplot exited cleanly but did not write " + png + " (" + gnuplot_error_line(tmp.path() / "gnuplot.err") +
         ")");
  fs::rename(written, target, ec);  // the temporary directory is beside png: the same filesystem
  if (ec) fail("plot: cannot move the plot to " + png + ": " + ec.message());
}

}  // namespace moegrad::app
