#include "apps/translate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <numeric>
#include <ostream>
#include <sstream>

#include "apps/evaluate.h"
#include "apps/model.h"
#include "core/copy.h"
#include "core/elementwise.h"
#include "core/factory.h"
#include "core/graph.h"
#include "core/indexing.h"
#include "core/reduce.h"
#include "nn/file.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/safetensors.h"
#include "nn/schedule.h"

namespace moegrad::app {

namespace fs = std::filesystem;

namespace {

constexpr const char* kOp = "translate";
constexpr const char* kFormat = "moegrad-translate-1";

// Visits the translation's own settings: key, field, help.
template <class C, class F>
void visit_translate_fields(C& c, F&& f) {
  f("bpe_vocab", c.bpe_vocab, "size of the shared BPE vocabulary learned from the training pairs");
  f("valid_fraction", c.valid_fraction, "share of the pairs held out for validation (hashed by pair id)");
  f("test_fraction", c.test_fraction, "share of the pairs held out for testing (hashed by pair id)");
  f("max_train_pairs", c.max_train_pairs, "train on the first n training pairs only (0: all)");
  f("bleu_pairs", c.bleu_pairs, "validation pairs scored with BLEU at the end of training (0: all)");
}

constexpr auto kVisitTranslateFields = [](auto& c, auto&& f) { visit_translate_fields(c, f); };

// A pair as ids: the source with <eos>, the target without <bos>/<eos>.
struct EncodedPair {
  std::vector<int32_t> source, target;
};

EncodedPair encode_pair(const BpeTokenizer& bpe, const SentencePair& p) {
  EncodedPair e{bpe.encode(p.source), bpe.encode(p.target)};
  e.source.push_back(BpeTokenizer::eos_id);
  return e;
}

// Cuts a source's ids to what the position embeddings hold and adds <eos>.
std::vector<int32_t> fit_source(std::vector<int32_t> ids, int64_t max_len) {
  if (int64_t(ids.size()) + 1 > max_len) ids.resize(size_t(max_len - 1));
  ids.push_back(BpeTokenizer::eos_id);
  return ids;
}

// A padded batch: src [B, S] with its padding mask, the decoder's input
// <bos> + target [B, T] and its targets target + <eos> [B, T] (-100 on padding).
struct PairBatch {
  Tensor src, src_padding, tgt_in, tgt_out;
  int64_t target_tokens = 0;
};

PairBatch make_batch(const std::vector<const EncodedPair*>& pairs, Device device) {
  const int64_t B = int64_t(pairs.size());
  size_t S = 1, T = 1;
  for (const EncodedPair* p : pairs) {
    S = std::max(S, p->source.size());
    T = std::max(T, p->target.size() + 1);
  }
  std::vector<int64_t> src(size_t(B) * S, BpeTokenizer::pad_id), in(size_t(B) * T, BpeTokenizer::pad_id),
      out(size_t(B) * T, -100);
  std::vector<uint8_t> pad(size_t(B) * S, 1);
  PairBatch b;
  for (size_t i = 0; i < pairs.size(); ++i) {
    const EncodedPair& p = *pairs[i];
    for (size_t j = 0; j < p.source.size(); ++j) {
      src[i * S + j] = p.source[j];
      pad[i * S + j] = 0;
    }
    in[i * T] = BpeTokenizer::bos_id;
    for (size_t j = 0; j < p.target.size(); ++j) {
      in[i * T + j + 1] = p.target[j];
      out[i * T + j] = p.target[j];
    }
    out[i * T + p.target.size()] = BpeTokenizer::eos_id;
    b.target_tokens += int64_t(p.target.size()) + 1;
  }
  b.src = from_vector(src, {B, int64_t(S)}, device);
  b.src_padding = ne(from_vector(std::vector<int32_t>(pad.begin(), pad.end()), {B, int64_t(S)}, device), 0.0);
  b.tgt_in = from_vector(in, {B, int64_t(T)}, device);
  b.tgt_out = from_vector(out, {B, int64_t(T)}, device);
  return b;
}

// Summed cross-entropy (nats, no smoothing) and target tokens of the pairs,
// in eval mode without a graph.
std::pair<double, int64_t> summed_loss(EncoderDecoder& model, Device device, const std::vector<EncodedPair>& pairs,
                                       int64_t batch) {
  EvalMode mode(model);
  NoGradGuard no_grad;
  double total = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < pairs.size(); i += size_t(batch)) {
    std::vector<const EncodedPair*> chunk;
    for (size_t j = i; j < std::min(pairs.size(), i + size_t(batch)); ++j) chunk.push_back(&pairs[j]);
    PairBatch b = make_batch(chunk, device);
    CrossEntropyOptions ce;
    ce.reduction = Reduction::sum;
    total += cast(cross_entropy(model.forward(b.src, b.tgt_in, b.src_padding), b.tgt_out, ce), DType::f64)
                 .item<double>();
    tokens += b.target_tokens;
  }
  return {total, tokens};
}

std::string fixed(double v, int precision) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(precision) << v;
  return os.str();
}

}  // namespace

RunConfig translation_run_defaults() {
  RunConfig r;
  r.data = "bible";
  r.model = "thor";
  r.dim = 256;
  r.layers = 2;
  r.attn_heads = 4;
  r.ffn_hidden = 1024;
  r.seq_len = 128;
  r.experts = 4;
  r.top_k = 1;
  r.steps = 4000;
  r.batch = 32;
  r.lr = 1e-3;
  r.min_lr = 1e-4;
  r.warmup = 200;
  r.weight_decay = 0.01;
  r.eval_every = 500;
  r.eval_batches = 8;
  r.log_every = 50;
  r.label_smoothing = 0.1;
  r.run_dir = "runs/translate";
  return r;
}

nlohmann::json to_json(const TranslateConfig& c) {
  nlohmann::json j;
  visit_translate_fields(c, [&](const char* key, const auto& field, const char*) { j[key] = field; });
  j["run"] = to_json(c.run);
  return j;
}

TranslateConfig translate_config_from_json(const nlohmann::json& j, TranslateConfig base) {
  MOEGRAD_CHECK(j.is_object(), kOp, "config must be a JSON object, got ", j.dump());
  std::set<std::string> known = read_json_fields(j, base, kVisitTranslateFields, kOp);
  // Runs saved before the device became one of the run's settings keep it at the top: they still load.
  if (j.contains("device")) {
    base.run = from_json({{"device", j["device"]}}, base.run);  // the run's reader checks its type
    known.insert("device");
  }
  for (const auto& item : j.items())
    MOEGRAD_CHECK(item.key() == "run" || known.count(item.key()), kOp, "unknown config key '", item.key(), "'");
  if (j.contains("run")) base.run = from_json(j["run"], base.run);
  return base;
}

void validate(const TranslateConfig& c) {
  validate(c.run);
  MOEGRAD_CHECK(c.bpe_vocab >= BpeTokenizer::base_vocab && c.bpe_vocab <= (int64_t(1) << 24), kOp,
                "--bpe-vocab must be in [", BpeTokenizer::base_vocab, ", 2^24], got ", c.bpe_vocab);
  for (double f : {c.valid_fraction, c.test_fraction})
    MOEGRAD_CHECK(std::isfinite(f) && f >= 0 && f < 1, kOp, "--valid-fraction and --test-fraction must be in [0, 1), got ",
                  f);
  MOEGRAD_CHECK(c.valid_fraction + c.test_fraction < 1, kOp,
                "--valid-fraction + --test-fraction must be below 1, got ", c.valid_fraction + c.test_fraction);
  MOEGRAD_CHECK(c.max_train_pairs >= 0, kOp, "--max-train-pairs must be >= 0, got ", c.max_train_pairs);
  MOEGRAD_CHECK(c.bleu_pairs >= 0, kOp, "--bleu-pairs must be >= 0, got ", c.bleu_pairs);
  MOEGRAD_CHECK(c.run.seq_len >= 2, kOp, "--seq-len must be >= 2 (a token and <eos>), got ", c.run.seq_len);
}

void add_translate_flags(CLI::App& cmd, TranslateConfig& c) {
  add_field_flags(cmd, c, kVisitTranslateFields);
  add_config_flags(cmd, c.run, {"tokenizer", "valid_fraction"});
}

ParallelSplit load_pairs(const TranslateConfig& c) {
  ParallelCorpus corpus = c.run.data == "bible" ? read_bible_pairs() : read_tsv_pairs(c.run.data);
  MOEGRAD_CHECK(!corpus.pairs.empty(), kOp, "'", c.run.data, "' holds no pair with both sides non-empty");
  ParallelSplit s = split_pairs(corpus.pairs, c.valid_fraction, c.test_fraction);
  if (c.max_train_pairs > 0 && int64_t(s.train.size()) > c.max_train_pairs) s.train.resize(size_t(c.max_train_pairs));
  return s;
}

std::shared_ptr<EncoderDecoder> build_translation_model(const RunConfig& c, int64_t vocab) {
  validate(c);
  manual_seed(c.seed);
  TransformerConfig t = transformer_config(c, vocab);
  // The decoder's MoE layers number on from the encoder's, so each layer has its own stream.
  return std::make_shared<EncoderDecoder>(t, family_ffn(c, t, 0), family_ffn(c, t, c.layers));
}

std::vector<std::vector<int32_t>> Translator::translate_ids(const std::vector<std::vector<int32_t>>& sources,
                                                            const DecodeOptions& o) const {
  MOEGRAD_CHECK(o.beam >= 1 && o.beam <= 1024, kOp, "--beam must be in [1, 1024], got ", o.beam);
  MOEGRAD_CHECK(o.batch >= 1, kOp, "decode batch must be >= 1, got ", o.batch);
  MOEGRAD_CHECK(std::isfinite(o.length_penalty), kOp, "--length-penalty must be finite, got ", o.length_penalty);
  EvalMode mode(*model);
  NoGradGuard no_grad;
  const int64_t K = o.beam, V = model->config.vocab, max_len = model->config.max_len;
  const double kNone = -std::numeric_limits<double>::infinity();
  std::vector<Generator*> gens = layer_generators(*model);
  std::vector<std::vector<int32_t>> result(sources.size());

  for (size_t first = 0; first < sources.size(); first += size_t(o.batch)) {
    const size_t B = std::min(sources.size() - first, size_t(o.batch));
    std::vector<EncodedPair> enc(B);
    std::vector<const EncodedPair*> ptrs;
    for (size_t b = 0; b < B; ++b) {
      enc[b].source = fit_source(sources[first + b], max_len);
      ptrs.push_back(&enc[b]);
    }
    PairBatch batch = make_batch(ptrs, device);
    Tensor memory = model->encode(batch.src, batch.src_padding);

    // Row b * K + k is beam slot k of sentence b; slot 0 starts alone.
    std::vector<std::vector<int32_t>> hyp(B * size_t(K), std::vector<int32_t>{BpeTokenizer::bos_id});
    std::vector<double> score(B * size_t(K), kNone);
    for (size_t b = 0; b < B; ++b) score[b * size_t(K)] = 0;
    struct Finished {
      double score;
      std::vector<int32_t> ids;
    };
    std::vector<std::vector<Finished>> finished(B);
    std::vector<int64_t> limit(B);
    for (size_t b = 0; b < B; ++b) limit[b] = std::min<int64_t>(max_len, int64_t(enc[b].source.size()) * 3 / 2 + 10);
    std::vector<uint8_t> done(B, 0);
    std::vector<uint64_t> offsets;
    for (Generator* g : gens) offsets.push_back(g->offset());

    for (int64_t t = 1;; ++t) {
      std::vector<int64_t> rows;  // the rows of sentences still decoding
      for (size_t b = 0; b < B; ++b)
        if (!done[b])
          for (int64_t k = 0; k < K; ++k) rows.push_back(int64_t(b) * K + k);
      if (rows.empty()) break;
      std::vector<int64_t> prefix;
      for (int64_t r : rows) prefix.insert(prefix.end(), hyp[size_t(r)].begin(), hyp[size_t(r)].end());
      std::vector<int64_t> sentence_of(rows.size());
      for (size_t i = 0; i < rows.size(); ++i) sentence_of[i] = rows[i] / K;
      Tensor which = from_vector(sentence_of, {int64_t(rows.size())}, device);
      for (size_t i = 0; i < gens.size(); ++i) gens[i]->set_offset(offsets[i]);  // replay the draws
      Tensor logits = model->decode(from_vector(prefix, {int64_t(rows.size()), t}, device), index_select(memory, 0, which),
                                    index_select(batch.src_padding, 0, which));
      std::vector<float> logp =
          log_softmax(logits.select(1, t - 1), -1).contiguous().to_vector<float>();  // [rows, V]

      std::vector<std::vector<int32_t>> next_hyp = hyp;
      std::vector<double> next_score = score;
      for (size_t i0 = 0; i0 < rows.size(); i0 += size_t(K)) {
        const size_t b = size_t(rows[i0] / K);
        // The 2K best continuations over the sentence's K slots and V tokens.
        std::vector<std::pair<double, int64_t>> cand;  // (score, slot * V + token)
        for (int64_t k = 0; k < K; ++k) {
          const double base = score[b * size_t(K) + size_t(k)];
          if (base == kNone) continue;
          const float* row = &logp[(i0 + size_t(k)) * size_t(V)];
          for (int64_t v = 0; v < V; ++v) cand.push_back({base + double(row[v]), k * V + v});
        }
        const size_t keep = std::min(cand.size(), size_t(2 * K));
        std::partial_sort(cand.begin(), cand.begin() + long(keep), cand.end(),
                          [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
        int64_t live = 0;
        for (size_t j = 0; j < keep && live < K && int64_t(finished[b].size()) < K; ++j) {
          const int64_t k = cand[j].second / V, v = cand[j].second % V;
          std::vector<int32_t> ids = hyp[b * size_t(K) + size_t(k)];
          if (v == BpeTokenizer::eos_id) {
            ids.push_back(BpeTokenizer::eos_id);
            const double length = double(ids.size() - 1);  // without <bos>, with <eos>
            finished[b].push_back({cand[j].first / std::pow(length, o.length_penalty), std::move(ids)});
            continue;
          }
          ids.push_back(int32_t(v));
          next_hyp[b * size_t(K) + size_t(live)] = std::move(ids);
          next_score[b * size_t(K) + size_t(live)] = cand[j].first;
          ++live;
        }
        for (int64_t k = live; k < K; ++k) {  // slots left empty (fewer candidates than slots) stay dead
          next_score[b * size_t(K) + size_t(k)] = kNone;
          next_hyp[b * size_t(K) + size_t(k)].push_back(BpeTokenizer::pad_id);  // but as long as the others
        }
        if (int64_t(finished[b].size()) >= K || live == 0) done[b] = 1;
        if (!done[b] && t >= limit[b]) {  // out of room: the live ones finish as they are
          for (int64_t k = 0; k < live; ++k) {
            const std::vector<int32_t>& ids = next_hyp[b * size_t(K) + size_t(k)];
            finished[b].push_back(
                {next_score[b * size_t(K) + size_t(k)] / std::pow(double(ids.size() - 1), o.length_penalty), ids});
          }
          done[b] = 1;
        }
      }
      hyp = std::move(next_hyp);
      score = std::move(next_score);
    }
    for (size_t b = 0; b < B; ++b) {
      const Finished* best = nullptr;
      for (const Finished& f : finished[b])
        if (!best || f.score > best->score) best = &f;
      std::vector<int32_t> out;
      if (best)
        for (int32_t id : best->ids)
          if (id != BpeTokenizer::bos_id && id != BpeTokenizer::eos_id) out.push_back(id);
      result[first + b] = std::move(out);
    }
  }
  return result;
}

void Translator::to(Device d) {
  model->to(d);
  device = d;
}

std::vector<std::string> Translator::translate(const std::vector<std::string>& sources, const DecodeOptions& o) const {
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& s : sources) ids.push_back(bpe.encode(s));
  std::vector<std::string> out;
  for (const auto& t : translate_ids(ids, o)) out.push_back(bpe.decode(t));
  return out;
}

BleuScore Translator::bleu(const std::vector<SentencePair>& pairs, const DecodeOptions& o,
                           std::vector<std::string>* hypotheses) const {
  std::vector<std::string> sources, references;
  for (const SentencePair& p : pairs) {
    sources.push_back(p.source);
    references.push_back(p.target);
  }
  std::vector<std::string> hyps = translate(sources, o);
  BleuScore s = corpus_bleu(hyps, references);
  if (hypotheses) *hypotheses = std::move(hyps);
  return s;
}

double Translator::loss(const std::vector<SentencePair>& pairs, int64_t batch) const {
  MOEGRAD_CHECK(!pairs.empty(), kOp, "no pairs to compute a loss on");
  const int64_t L = model->config.max_len;
  std::vector<EncodedPair> enc;
  for (const SentencePair& p : pairs) {
    EncodedPair e{fit_source(bpe.encode(p.source), L), bpe.encode(p.target)};
    if (int64_t(e.target.size()) + 1 > L) e.target.resize(size_t(L - 1));  // room for <bos>/<eos>
    enc.push_back(std::move(e));
  }
  auto [total, tokens] = summed_loss(*model, device, enc, batch);
  return total / double(tokens);
}

TranslateResult translate_train(const TranslateConfig& c, std::ostream& out) {
  // ---- everything that can fail on bad input, before any write ----
  validate(c);
  const Device device = usable_device(c.run.device, kOp);
  const fs::path dir(c.run.run_dir);
  // Weights without translate.json are what a killed save left: overwritten below.
  MOEGRAD_CHECK(!fs::exists(dir / "translate.json"), kOp, "'", c.run.run_dir,
                "' already holds a translation run: pick another --run-dir");
  ParallelSplit split = load_pairs(c);
  MOEGRAD_CHECK(!split.train.empty(), kOp, "no training pairs in '", c.run.data, "'");
  MOEGRAD_CHECK(!split.valid.empty(), kOp, "no validation pairs in '", c.run.data,
                "': raise --valid-fraction or give more pairs");
  std::vector<std::string> texts;
  for (const SentencePair& p : split.train) {
    texts.push_back(p.source);
    texts.push_back(p.target);
  }
  const auto t_bpe = std::chrono::steady_clock::now();
  BpeTokenizer bpe = BpeTokenizer::learn(texts, c.bpe_vocab);
  out << "moegrad translate: BPE of " << bpe.vocab_size() << " tokens learned from " << split.train.size()
      << " training pairs in " << fixed(std::chrono::duration<double>(std::chrono::steady_clock::now() - t_bpe).count(), 1)
      << " s" << std::endl;

  TranslateResult result;
  std::vector<EncodedPair> train;
  for (const SentencePair& p : split.train) {
    EncodedPair e = encode_pair(bpe, p);
    if (int64_t(e.source.size()) > c.run.seq_len || int64_t(e.target.size()) + 1 > c.run.seq_len) {
      ++result.skipped_long;
      continue;
    }
    train.push_back(std::move(e));
  }
  MOEGRAD_CHECK(!train.empty(), kOp, "every training pair is longer than --seq-len ", c.run.seq_len);
  result.train_pairs = int64_t(train.size());
  const int64_t valid_n = std::min<int64_t>(int64_t(split.valid.size()), c.run.eval_batches * c.run.batch);
  std::vector<SentencePair> valid(split.valid.begin(), split.valid.begin() + valid_n);

  Translator tr{c, bpe, build_translation_model(c.run, bpe.vocab_size())};
  tr.to(device);  // before the optimizer, which keeps its state where the parameters are
  EncoderDecoder& model = *tr.model;
  result.parameters = model.num_parameters();
  std::vector<Tensor> params = model.parameters();
  AdamW opt(params, c.run.lr, 0.9, 0.98, 1e-8, c.run.weight_decay);
  WarmupCosine schedule(c.run.lr, c.run.warmup, c.run.steps, c.run.min_lr);
  Generator data_gen(c.run.seed + 7919);

  out << "moegrad translate: " << c.run.model << ", " << result.parameters << " parameters, " << train.size()
      << " training pairs (" << result.skipped_long << " longer than " << c.run.seq_len << " tokens left out), "
      << c.run.steps << " steps of " << c.run.batch << " pairs -> " << c.run.run_dir << std::endl;

  const auto t_start = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  std::string metrics;  // metrics.jsonl's lines, written with the run
  for (int64_t step = 0; step < c.run.steps;) {
    opt.set_lr(schedule.lr(step));
    std::vector<double> u = rand({c.run.batch}, DType::f64, &data_gen).to_vector<double>();
    std::vector<const EncodedPair*> picked;
    for (double x : u) picked.push_back(&train[std::min(train.size() - 1, size_t(x * double(train.size())))]);
    PairBatch b = make_batch(picked, tr.device);
    Tensor loss = family_loss(model, c.run, [&] { return model.forward(b.src, b.tgt_in, b.src_padding); }, b.tgt_out,
                              b.target_tokens);
    opt.zero_grad();
    loss.backward();
    const double loss_v = cast(loss.detach(), DType::f64).item<double>();
    const double grad_norm = clip_grad_norm(params, c.run.clip > 0 ? c.run.clip : 1e30);
    MOEGRAD_CHECK(std::isfinite(loss_v) && std::isfinite(grad_norm), kOp, "step ", step + 1, ": non-finite ",
                  std::isfinite(loss_v) ? "gradient" : "loss", "; stopped with nothing saved. Lower --lr or raise --warmup");
    opt.step();
    ++step;
    tokens += b.target_tokens;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (step % c.run.log_every == 0 || step == c.run.steps) {
      out << "step " << step << "/" << c.run.steps << "  loss " << fixed(loss_v, 4) << "  lr " << std::scientific
          << std::setprecision(2) << opt.lr() << std::defaultfloat << "  " << int64_t(double(tokens) / elapsed)
          << " tgt tok/s" << std::endl;
      metrics += nlohmann::json{{"kind", "train"},        {"step", step},
                                {"loss", loss_v},         {"lr", opt.lr()},
                                {"grad_norm", grad_norm}, {"tokens_per_s", double(tokens) / elapsed}}
                     .dump() +
                 "\n";
    }
    if (step == c.run.steps || (c.run.eval_every > 0 && step % c.run.eval_every == 0)) {
      result.valid_loss = tr.loss(valid, c.run.batch);
      metrics += nlohmann::json{{"kind", "valid"}, {"step", step}, {"loss", result.valid_loss},
                                {"ppl", std::exp(result.valid_loss)}}
                     .dump() +
                 "\n";
      out << "valid  step " << step << "  loss " << fixed(result.valid_loss, 4) << "  ppl "
          << fixed(std::exp(result.valid_loss), 2) << std::endl;
    }
    result.step = step;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  result.tokens_per_s = double(tokens) / std::max(result.seconds, 1e-9);

  const int64_t bleu_n = c.bleu_pairs > 0 ? std::min<int64_t>(c.bleu_pairs, int64_t(split.valid.size()))
                                          : int64_t(split.valid.size());
  result.valid_bleu = tr.bleu({split.valid.begin(), split.valid.begin() + bleu_n});
  out << "valid  BLEU (greedy, " << bleu_n << " pairs): " << result.valid_bleu.str() << std::endl;

  // ---- the run's files: weights, then the file that says they are complete ----
  std::error_code ec;
  fs::create_directories(dir, ec);
  MOEGRAD_CHECK(!ec, kOp, "cannot create '", c.run.run_dir, "': ", ec.message());
  write_file_atomically(kOp, (dir / "metrics.jsonl").string(), metrics);
  TensorMap weights;
  for (const auto& [name, t] : model.named_parameters()) weights[name] = t;
  save_safetensors((dir / "model.safetensors").string(), weights, {{"format", "pt"}, {"producer", "moegrad"}});
  nlohmann::json j = {{"format", kFormat},
                      {"config", to_json(c)},
                      {"bpe", bpe.to_json()},
                      {"step", result.step},
                      {"train_pairs", result.train_pairs},
                      {"skipped_long", result.skipped_long},
                      {"valid_loss", result.valid_loss},
                      {"valid_bleu", result.valid_bleu.score},
                      {"valid_bleu_pairs", bleu_n},
                      {"seconds", result.seconds},
                      {"tokens_per_s", result.tokens_per_s}};
  write_file_atomically(kOp, (dir / "translate.json").string(), j.dump(1) + "\n");
  return result;
}

Translator load_translator(const std::string& run_dir, const std::string& device) {
  const fs::path dir(run_dir);
  const std::string meta = (dir / "translate.json").string();
  std::ifstream in(meta, std::ios::binary);
  MOEGRAD_CHECK(in.good(), kOp, "no translation run in '", run_dir, "' (cannot read '", meta, "')");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    MOEGRAD_CHECK(false, kOp, "'", meta, "' is not valid JSON: ", e.what());
  }
  MOEGRAD_CHECK(j.is_object() && j.value("format", "") == kFormat, kOp, "'", meta, "' is not a ", kFormat, " file");
  MOEGRAD_CHECK(j.contains("config") && j.contains("bpe"), kOp, "'", meta, "' lacks its config or its BPE");
  Translator t;
  try {
    t.config = translate_config_from_json(j["config"]);
    validate(t.config);
    t.bpe = BpeTokenizer::from_json(j["bpe"]);
  } catch (const Error& e) {
    MOEGRAD_CHECK(false, kOp, "'", meta, "': ", e.what());
  }
  Generator saved = default_generator();  // building draws initial weights: keep the caller's stream
  t.model = build_translation_model(t.config.run, t.bpe.vocab_size());
  default_generator() = saved;
  SafetensorsFile file = load_safetensors((dir / "model.safetensors").string());
  try {
    t.model->load_state_dict(file.tensors);
  } catch (const Error& e) {
    MOEGRAD_CHECK(false, kOp, "'", run_dir, "': the weights do not match translate.json: ", e.what());
  }
  t.to(usable_device(device, kOp));
  return t;
}

}  // namespace moegrad::app
