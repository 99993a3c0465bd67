#include "apps/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "apps/checkpoint.h"
#include "apps/evaluate.h"
#include "apps/fortunes.h"
#include "apps/model.h"
#include "apps/plot.h"
#include "apps/train.h"
#include "core/device.h"
#include "moe/mhmoe.h"
#include "nn/file.h"

namespace moegrad::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "compare";

// The LM every lm arm starts from: byte-level Moby-Dick, an MoE layer in
// every second of 4 blocks, 8 experts of 4d, top-2, capacity 1.25.
RunConfig lm_base(bool quick) {
  RunConfig c;
  c.data = "moby-dick";
  c.model = "smoe";
  c.gate = "xmoe";
  c.dim = 128;
  c.layers = 4;
  c.attn_heads = 4;
  c.seq_len = 128;
  c.ffn_hidden = 512;
  c.experts = 8;
  c.top_k = 2;
  c.steps = 1000;
  c.batch = 16;
  c.warmup = 100;
  c.eval_every = 0;
  c.eval_batches = 16;
  c.checkpoint_every = 0;
  c.log_every = 50;
  if (quick) {
    c.dim = 32;
    c.layers = 2;
    c.attn_heads = 2;
    c.seq_len = 32;
    c.ffn_hidden = 128;
    c.experts = 4;
    c.steps = 30;
    c.batch = 8;
    c.warmup = 5;
    c.eval_batches = 4;
    c.log_every = 10;
  }
  return c;
}

// The translation every translate arm starts from: translation_run_defaults,
// for 2000 steps (2.2 epochs) with BLEU on 200 pairs, so that the suite's
// twelve runs fit under an hour of one GPU.
TranslateConfig mt_base(bool quick) {
  TranslateConfig c;
  c.run.steps = 2000;
  c.run.log_every = 50;
  c.bleu_pairs = 200;
  if (quick) {
    RunConfig& r = c.run;
    r.dim = 32;
    r.layers = 1;
    r.attn_heads = 2;
    r.ffn_hidden = 64;
    r.seq_len = 48;
    r.experts = 2;
    r.moe_every = 1;
    r.steps = 30;
    r.warmup = 5;
    r.batch = 8;
    r.eval_every = 0;
    r.eval_batches = 2;
    r.log_every = 10;
    c.bpe_vocab = 400;
    c.max_train_pairs = 2000;
    c.bleu_pairs = 20;
  }
  return c;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

double stddev_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

std::string cell(const std::vector<double>& v, int precision) {
  if (v.empty()) return "";
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << mean_of(v);
  if (v.size() > 1) os << " ± " << std::setprecision(precision) << stddev_of(v);
  return os.str();
}

// The mean over MoE layers of one figure of layers_json.
double layers_mean(const nlohmann::json& layers, const char* key) {
  std::vector<double> v;
  for (const auto& l : layers) v.push_back(l[key].get<double>());
  return mean_of(v);
}

// One LM run: train, then evaluate its final checkpoint on its own
// validation split and on each (language, file) of per_language.
nlohmann::json run_lm(RunConfig c, const std::string& log_path,
                      const std::vector<std::pair<std::string, std::string>>& per_language) {
  std::ofstream log(log_path);
  TrainResult r = train(c, false, default_data_dir(), log);
  Checkpoint ck = load_checkpoint(c.run_dir);
  EvalResult e = evaluate_checkpoint(ck, "", 0, c.device);
  nlohmann::json layers = layers_json(e.layers);
  double tokens_per_s = 0;
  std::ifstream metrics(fs::path(c.run_dir) / "metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("kind", "") == "train") tokens_per_s = j.value("tokens_per_s", 0.0);
  }
  int64_t parameters = 0;
  for (const auto& [name, t] : ck.model) parameters += t.numel();
  nlohmann::json out = {{"valid_loss", e.loss},
                        {"valid_ppl", e.ppl},
                        {"tokens_per_s", tokens_per_s},
                        {"parameters", parameters},
                        {"flops_per_token", flops_per_token(ck.config, ck.tokenizer.vocab_size())},
                        {"steps", r.step}};
  for (const auto& [language, file] : per_language) out["valid_loss_" + language] = evaluate_checkpoint(ck, file, 0, c.device).loss;
  if (!layers.empty()) {
    out["activation_per_unit"] = layers_mean(layers, "activation_per_unit");
    out["activation_per_token"] = layers_mean(layers, "activation_per_token");
  }
  return out;
}

// One translation run: train, then test BLEU (greedy, beam 4, THOR's modes).
nlohmann::json run_mt(const TranslateConfig& c, const std::string& log_path) {
  std::ofstream log(log_path);
  TranslateResult r = translate_train(c, log);
  Translator t = load_translator(c.run.run_dir, c.run.device);
  std::vector<SentencePair> test = load_pairs(c).test;
  if (c.bleu_pairs > 0 && int64_t(test.size()) > c.bleu_pairs) test.resize(size_t(c.bleu_pairs));
  nlohmann::json out = {{"valid_loss", r.valid_loss},
                        {"valid_bleu", r.valid_bleu.score},
                        {"tokens_per_s", r.tokens_per_s},
                        {"parameters", r.parameters},
                        {"steps", r.step},
                        {"test_pairs", test.size()}};
  DecodeOptions beam4;
  beam4.beam = 4;
  out["test_bleu_beam4"] = t.bleu(test, beam4).score;
  if (c.run.model != "thor") {
    out["test_bleu"] = t.bleu(test).score;
    return out;
  }
  for (const char* mode : {"random_token", "random_sequence", "ensemble"}) {
    set_thor_inference(*t.model, mode);
    out[std::string("test_bleu_") + mode] = t.bleu(test).score;
  }
  out["test_bleu"] = out["test_bleu_" + c.run.thor_inference];
  return out;
}

struct Column {
  std::string key, title;
  int precision;
};

std::string table(const std::vector<CompareArm>& arms, const std::vector<nlohmann::json>& results,
                  const std::vector<Column>& columns) {
  std::ostringstream os, legend;
  os << "| arm |";
  for (const Column& c : columns) os << " " << c.title << " |";
  os << " seeds |\n| --- |";
  for (size_t i = 0; i < columns.size(); ++i) os << " ---: |";
  os << " ---: |\n";
  for (const CompareArm& arm : arms) {
    std::vector<const nlohmann::json*> mine;
    for (const auto& r : results)
      if (r["arm"] == arm.name) mine.push_back(&r);
    if (mine.empty()) continue;
    os << "| " << arm.name << " |";
    for (const Column& c : columns) {
      std::vector<double> v;
      for (const auto* r : mine)
        if (r->contains(c.key)) v.push_back((*r)[c.key].get<double>());
      os << " " << cell(v, c.precision) << " |";
    }
    os << " " << mine.size() << " |\n";
    legend << "- **" << arm.name << "**: " << arm.what << "\n";
  }
  return os.str() + "\n" + legend.str();
}

// Per arm, its finished runs' loss of one kind of metrics.jsonl record
// ("train" or "valid") averaged over seeds at each step every one of them logged.
std::vector<Curve> loss_curves(const fs::path& dir, const std::vector<CompareArm>& arms,
                               const std::vector<nlohmann::json>& results, const std::string& kind) {
  std::vector<Curve> curves;
  for (const CompareArm& arm : arms) {
    std::map<int64_t, std::vector<double>> by_step;
    int64_t runs = 0;
    for (const auto& r : results) {
      const fs::path metrics = dir / arm.name / ("seed-" + std::to_string(r["seed"].get<int64_t>())) / "metrics.jsonl";
      if (r["arm"] != arm.name || !fs::exists(metrics)) continue;
      ++runs;
      const MetricsLog m = read_metrics(metrics.string());
      for (const auto& t : kind == "train" ? m.train : m.valid)
        by_step[t["step"].get<int64_t>()].push_back(t.value("loss", std::nan("")));
    }
    Curve c{arm.name, {}};
    for (const auto& [step, losses] : by_step)
      if (int64_t(losses.size()) == runs) c.points[step] = mean_of(losses);
    if (!c.points.empty()) curves.push_back(c);
  }
  return curves;
}

}  // namespace

std::vector<CompareArm> compare_arms(const std::string& suite, bool quick) {
  std::vector<CompareArm> arms;
  if (suite == "lm" || suite == "multilingual") {
    const RunConfig base = lm_base(quick);
    auto arm = [&](const std::string& name, const std::string& what, auto&& edit) {
      CompareArm a{name, what, base, {}};
      edit(a.lm);
      arms.push_back(a);
    };
    arm("dense", "dense FFN of ffn_hidden in every block", [](RunConfig& c) { c.model = "dense"; });
    arm("smoe", "SMoE, X-MoE gate, top-2 of E experts of ffn_hidden in every second block", [](RunConfig&) {});
    auto mhmoe = [](int64_t heads) {
      return [heads](RunConfig& c) {
        c.model = "mhmoe";
        c.moe_heads = heads;
      };
    };
    arm("mhmoe-v1", "MH-MoE h=4, parameter-matched to smoe (mhmoe_v1: wider experts, about h x the FLOPs)", mhmoe(4));
    arm("mhmoe-v2", "MH-MoE h=4, FLOPs-matched to smoe (mhmoe_v2: top-k = h, narrower and more experts)",
        [](RunConfig& c) {
          MoEConfig m = mhmoe_v2(moe_layer_config(c, c.moe_every - 1), 4);
          c.model = "mhmoe";
          c.moe_heads = 4;
          c.experts = m.num_experts;
          c.top_k = m.top_k;
          c.expert_hidden = m.hidden;
        });
    arm("mhmoe-split", "MH-MoE v1 h=4 without the head and merge layers: the sub-token split alone (ablation)",
        [](RunConfig& c) {
          c.model = "mhmoe";
          c.moe_heads = 4;
          c.mhmoe_no_head_merge = true;
        });
    arm("mhmoe-h1", "MH-MoE v1 with h=1: SMoE plus the head and merge layers only (ablation)", mhmoe(1));
    arm("mhmoe-h2", "MH-MoE v1 with h=2", mhmoe(2));
    arm("mhmoe-h8", "MH-MoE v1 with h=8", mhmoe(8));
    return arms;
  }
  if (suite == "translate") {
    const TranslateConfig base = mt_base(quick);
    auto arm = [&](const std::string& name, const std::string& what, auto&& edit) {
      CompareArm a{name, what, {}, base};
      edit(a.mt.run);
      arms.push_back(a);
    };
    arm("dense", "dense Transformer", [](RunConfig& c) { c.model = "dense"; });
    arm("switch", "Switch: SMoE top-1, linear gate, aux 0.01, capacity 1.25, same experts as THOR",
        [](RunConfig& c) {
          c.model = "smoe";
          c.top_k = 1;
          c.aux_weight = 0.01;
        });
    arm("thor", "THOR, alpha 5 (consistency loss), random_sequence inference", [](RunConfig& c) {
      c.model = "thor";
      c.thor_alpha = 5;
    });
    arm("thor-a0", "THOR with alpha 0: random experts without the consistency loss (ablation)", [](RunConfig& c) {
      c.model = "thor";
      c.thor_alpha = 0;
    });
    return arms;
  }
  MOEGRAD_CHECK(false, kOp, "--suite must be lm, multilingual or translate, got '", suite, "'");
}

std::string run_compare(const CompareOptions& o, std::ostream& out) {
  // ---- everything that can fail on bad input, before any run ----
  std::vector<CompareArm> all = compare_arms(o.suite, o.quick);
  MOEGRAD_CHECK(o.seeds >= 1 && o.seeds <= 100, kOp, "--seeds must be in [1, 100], got ", o.seeds);
  MOEGRAD_CHECK(o.seed >= 0 && o.seed <= 100, kOp, "--seed must be in [1, 100], got ", o.seed);
  MOEGRAD_CHECK(o.steps >= 0, kOp, "--steps must be >= 0, got ", o.steps);
  MOEGRAD_CHECK(o.bleu_pairs >= 0, kOp, "--bleu-pairs must be >= 0, got ", o.bleu_pairs);
  std::vector<CompareArm> arms;
  for (const std::string& name : o.arms) {
    auto it = std::find_if(all.begin(), all.end(), [&](const CompareArm& a) { return a.name == name; });
    std::string names;
    for (const CompareArm& a : all) names += (names.empty() ? "" : ", ") + a.name;
    MOEGRAD_CHECK(it != all.end(), kOp, "--arms: no arm '", name, "' in suite ", o.suite, " (", names, ")");
    arms.push_back(*it);
  }
  if (o.arms.empty()) arms = all;
  const fs::path dir = fs::path(o.out_dir) / o.suite;
  const bool lm = o.suite != "translate";
  // The multilingual suite trains on a mix it writes from the fortune files (--data: their root).
  MultilingualFiles languages;
  if (o.suite == "multilingual" && !o.table_only)
    languages = write_multilingual_corpus(read_fortunes(o.data.empty() ? "/usr/share/games/fortunes" : o.data),
                                          (dir / "data").string(), 0.05, o.quick ? 300 : 0);
  for (CompareArm& a : arms) {
    RunConfig& r = lm ? a.lm : a.mt.run;
    if (o.steps > 0) {
      r.steps = o.steps;
      r.warmup = std::min(r.warmup, o.steps);
    }
    if (!o.data.empty()) r.data = o.data;
    if (o.suite == "multilingual") r.data = languages.train;
    r.device = o.device;
    if (o.bleu_pairs > 0) a.mt.bleu_pairs = o.bleu_pairs;
    if (lm) {
      if (!o.table_only) validate(r);
    } else {
      validate(a.mt);
    }
    if (!o.table_only) usable_device(o.device, kOp);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  MOEGRAD_CHECK(!ec, kOp, "cannot create '", dir.string(), "': ", ec.message());
  const std::string results_path = (dir / "results.jsonl").string();
  auto read_results = [&] {
    std::vector<nlohmann::json> results;
    std::ifstream in(results_path);
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("arm") && j.contains("seed")) results.push_back(j);  // a torn line is skipped
    }
    return results;
  };

  for (const CompareArm& arm : o.table_only ? std::vector<CompareArm>() : arms) {
    for (int64_t seed = o.seed > 0 ? o.seed : 1; seed <= (o.seed > 0 ? o.seed : o.seeds); ++seed) {
      std::vector<nlohmann::json> done = read_results();
      if (std::any_of(done.begin(), done.end(), [&](const auto& j) { return j["arm"] == arm.name && j["seed"] == seed; }))
        continue;
      const fs::path run_dir = dir / arm.name / ("seed-" + std::to_string(seed));
      fs::remove_all(run_dir, ec);  // what a killed run left
      fs::create_directories(run_dir, ec);
      MOEGRAD_CHECK(!ec, kOp, "cannot create '", run_dir.string(), "': ", ec.message());
      out << o.suite << " " << arm.name << " seed " << seed << " ..." << std::flush;
      const std::string log = (run_dir / "train.log").string();
      const auto t0 = std::chrono::steady_clock::now();
      nlohmann::json r;
      if (lm) {
        RunConfig c = arm.lm;
        c.seed = uint64_t(seed);
        c.run_dir = run_dir.string();
        r = run_lm(c, log, languages.valid);
      } else {
        TranslateConfig c = arm.mt;
        c.run.seed = uint64_t(seed);
        c.run.run_dir = run_dir.string();
        r = run_mt(c, log);
      }
      r["arm"] = arm.name;
      r["seed"] = seed;
      // Wall time of the whole run (training, evaluation, BLEU): what a suite costs.
      r["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      out << " valid loss " << r["valid_loss"].get<double>() << std::endl;
      std::ofstream append(results_path, std::ios::app);
      append << r.dump() << "\n" << std::flush;
      MOEGRAD_CHECK(append.good(), kOp, "cannot append to '", results_path, "'");
    }
  }

  std::vector<Column> columns;
  std::vector<nlohmann::json> results = read_results();
  std::vector<std::string> per_language;  // "valid_loss_<language>" keys, in the order the runs wrote them
  for (const auto& r : results)
    for (const auto& item : r.items())
      if (item.key().rfind("valid_loss_", 0) == 0 &&
          std::find(per_language.begin(), per_language.end(), item.key()) == per_language.end())
        per_language.push_back(item.key());
  if (lm)
    columns = {{"valid_loss", "valid loss", 4},
               {"valid_ppl", "valid ppl", 3},
               {"activation_per_unit", "activation / unit", 3},
               {"activation_per_token", "activation / token", 3},
               {"tokens_per_s", "tokens/s", 0},
               {"parameters", "parameters", 0},
               {"flops_per_token", "FLOPs/token", 0},
               {"seconds", "run s", 0}};
  else
    columns = {{"valid_loss", "valid loss", 4},
               {"test_bleu", "test BLEU greedy", 2},
               {"test_bleu_beam4", "test BLEU beam 4", 2},
               {"test_bleu_random_token", "THOR per token", 2},
               {"test_bleu_random_sequence", "THOR per sentence", 2},
               {"test_bleu_ensemble", "THOR ensemble", 2},
               {"tokens_per_s", "target tokens/s", 0},
               {"parameters", "parameters", 0},
               {"seconds", "run s", 0}};
  for (const std::string& key : per_language) columns.push_back({key, key.substr(11), 3});
  const std::string md = table(all, results, columns);
  write_file_atomically(kOp, (dir / "table.md").string(), md);
  out << "\n" << md;
  // Translation plots the validation loss: THOR's training loss sums two
  // passes and the consistency term, so it is not comparable across arms.
  const std::string kind = lm ? "train" : "valid";
  try {
    const std::string title = o.suite + ": " + (lm ? "training" : "validation") + " loss, mean over seeds";
    plot_curves((dir / "loss.png").string(), title, kind + " loss", loss_curves(dir, all, results, kind));
    out << "\nplot: " << (dir / "loss.png").string() << std::endl;
  } catch (const Error& e) {
    out << "\nno plot (" << e.what() << ")" << std::endl;  // the table stands without it
  }
  return md;
}

}  // namespace moegrad::app
