#include "apps/checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>

#include "apps/model.h"
#include "core/error.h"
#include "nn/file.h"

namespace moegrad::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "checkpoint";

std::string stem_of(int64_t step) {
  std::ostringstream os;
  os << "step-" << std::setw(8) << std::setfill('0') << step;
  return os.str();
}

nlohmann::json generator_json(const Generator& g) { return {{"seed", g.seed()}, {"offset", g.offset()}}; }

Generator generator_from(const nlohmann::json& j, const std::string& what) {
  MOEGRAD_CHECK(j.is_object() && j.contains("seed") && j.contains("offset") && j["seed"].is_number_unsigned() &&
                    j["offset"].is_number_unsigned(),
                kOp, what, ": random state must be {\"seed\": n, \"offset\": n}");
  Generator g(j["seed"].get<uint64_t>());
  g.set_offset(j["offset"].get<uint64_t>());
  return g;
}

}  // namespace

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::string> out;
  fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) == 0 && entry.path().extension() == ".json") out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded steps sort by number
  return out;
}

std::string save_checkpoint(const std::string& run_dir, int64_t step, const RunConfig& config,
                            const Tokenizer& tokenizer, const DecoderLM& model, const Optimizer& optimizer,
                            const RandomState& random, int64_t keep) {
  fs::path dir = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  // A directory just made must itself be durable before the files in it can be.
  if (fs::create_directories(dir, ec)) sync_directory(dir.parent_path().string());
  MOEGRAD_CHECK(!ec, kOp, "cannot create '", dir.string(), "': ", ec.message());

  TensorMap tensors;
  for (const auto& [name, t] : model.named_parameters()) tensors["model." + name] = t;
  for (const auto& [name, t] : optimizer.state_dict()) tensors["optim." + name] = t;
  const std::string stem = stem_of(step);
  const std::string weights = (dir / (stem + ".safetensors")).string();
  save_safetensors(weights, tensors, {{"format", "pt"}, {"producer", "moegrad"}});

  nlohmann::json side;
  side["format"] = "moegrad-checkpoint-1";
  side["step"] = step;
  side["weights"] = stem + ".safetensors";
  side["config"] = to_json(config);
  side["tokenizer"] = tokenizer.to_json();
  side["random"] = {{"global", generator_json(random.global)},
                    {"data", generator_json(random.data)},
                    {"layers", random.layer_offsets}};
  const std::string sidecar = (dir / (stem + ".json")).string();
  write_file_atomically(kOp, sidecar, side.dump(2) + "\n");

  // Rotate, only now that the new checkpoint is complete. The old sidecars
  // go first, and the directory is synced before their weights go, so no
  // crash (a power cut included) leaves a sidecar without its weights. Then
  // the leftovers of killed saves: weights older than this step that no
  // sidecar names (killed between the two writes) and dead writers'
  // temporaries. Failures here leave extra files, never a broken checkpoint.
  std::vector<std::string> all = list_checkpoints(run_dir);
  const size_t drop = all.size() > size_t(keep) ? all.size() - size_t(keep) : 0;
  for (size_t i = 0; i < drop; ++i) fs::remove(all[i], ec);
  if (drop > 0) sync_directory(dir.string());
  std::set<std::string> named;
  for (size_t i = drop; i < all.size(); ++i)
    named.insert(fs::path(all[i]).replace_extension(".safetensors").filename().string());
  std::vector<fs::path> orphans;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) == 0 && entry.path().extension() == ".safetensors" && name < stem && !named.count(name))
      orphans.push_back(entry.path());  // zero-padded: name < stem is an older step
  }
  for (const fs::path& p : orphans) fs::remove(p, ec);
  remove_stale_temporaries(dir.string());
  return sidecar;
}

Checkpoint parse_sidecar(const std::string& text, const std::string& sidecar) {
  nlohmann::json side;
  try {
    side = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    MOEGRAD_CHECK(false, kOp, "'", sidecar, "' is not valid JSON: ", e.what());
  }
  auto need = [&](const char* key) -> const nlohmann::json& {
    MOEGRAD_CHECK(side.is_object() && side.contains(key), kOp, "'", sidecar, "' has no '", key, "'");
    return side[key];
  };
  MOEGRAD_CHECK(need("format") == "moegrad-checkpoint-1", kOp, "'", sidecar, "' has an unknown format ",
                side["format"].dump());
  Checkpoint ck;
  ck.sidecar_path = sidecar;
  MOEGRAD_CHECK(need("step").is_number_integer() && side["step"].get<int64_t>() >= 0, kOp, "'", sidecar,
                "': step must be a non-negative integer");
  ck.step = side["step"].get<int64_t>();
  try {
    ck.config = from_json(need("config"));
    validate(ck.config);
    ck.tokenizer = Tokenizer::from_json(need("tokenizer"));
  } catch (const Error& e) {
    MOEGRAD_CHECK(false, kOp, "'", sidecar, "': ", e.what());
  }
  const nlohmann::json& r = need("random");
  // value() below throws nlohmann's type_error on anything but an object.
  MOEGRAD_CHECK(r.is_object(), kOp, "'", sidecar, "': random must be an object, got ", r.dump());
  ck.random.global = generator_from(r.value("global", nlohmann::json()), sidecar);
  ck.random.data = generator_from(r.value("data", nlohmann::json()), sidecar);
  MOEGRAD_CHECK(r.contains("layers") && r["layers"].is_array(), kOp, "'", sidecar, "': random.layers missing");
  for (const auto& v : r["layers"]) {
    MOEGRAD_CHECK(v.is_number_unsigned(), kOp, "'", sidecar, "': random.layers holds ", v.dump());
    ck.random.layer_offsets.push_back(v.get<uint64_t>());
  }
  MOEGRAD_CHECK(need("weights").is_string(), kOp, "'", sidecar, "': weights must be a file name");
  ck.weights_file = side["weights"].get<std::string>();
  return ck;
}

Checkpoint load_checkpoint(const std::string& path_in) {
  std::error_code ec;
  fs::path path = fs::path(path_in).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();  // "run/checkpoints/"
  MOEGRAD_CHECK(fs::exists(path, ec), kOp, "'", path_in, "' does not exist");
  if (fs::is_directory(path, ec)) {
    fs::path run_dir = path.filename() == "checkpoints" ? path.parent_path() : path;
    std::vector<std::string> all = list_checkpoints(run_dir.string());
    MOEGRAD_CHECK(!all.empty(), kOp, "no checkpoint in '", path_in, "' (expected checkpoints/step-*.json)");
    path = all.back();
  } else if (path.extension() == ".safetensors") {
    path.replace_extension(".json");
  }
  const std::string sidecar = path.string();
  std::ifstream in(sidecar, std::ios::binary);
  MOEGRAD_CHECK(in.good(), kOp, "cannot read '", sidecar, "'");
  std::ostringstream text;
  text << in.rdbuf();
  MOEGRAD_CHECK(!in.bad(), kOp, "cannot read '", sidecar, "'");
  Checkpoint ck = parse_sidecar(text.str(), sidecar);
  fs::path weights = fs::path(sidecar).parent_path() / ck.weights_file;
  SafetensorsFile file = load_safetensors(weights.string());
  for (auto& [name, t] : file.tensors) {
    if (name.rfind("model.", 0) == 0) {
      ck.model[name.substr(6)] = t;
    } else if (name.rfind("optim.", 0) == 0) {
      ck.optimizer[name.substr(6)] = t;
    } else {
      MOEGRAD_CHECK(false, kOp, "'", weights.string(), "' holds an unexpected tensor '", name, "'");
    }
  }
  // The weights must be those of the model the sidecar's config describes.
  // Building it draws initial weights: keep the caller's random state.
  Generator saved = default_generator();
  try {
    build_model(ck.config, ck.tokenizer.vocab_size())->load_state_dict(ck.model);
  } catch (const Error& e) {
    default_generator() = saved;
    MOEGRAD_CHECK(false, kOp, "'", sidecar, "' does not match its weights: ", e.what());
  }
  default_generator() = saved;
  return ck;
}

}  // namespace moegrad::app
