// sacreBLEU-compatible BLEU and its 13a tokenizer: see bleu.h.
#include "apps/bleu.h"

#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "core/error.h"

namespace moegrad::app {

namespace {

// The code point at s[i] (moving i past it); a byte that does not start a
// valid UTF-8 sequence reads as itself, one byte long, which is never a space.
uint32_t next_code_point(const std::string& s, size_t& i) {
  const auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len <= 1 || i + len > s.size()) {
    ++i;
    return len == 1 ? c : 0xFFFFFFFFu;
  }
  uint32_t cp = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((at(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFFFFFFu;
    }
    cp = (cp << 6) | (at(i + k) & 0x3F);
  }
  i += len;
  return cp;
}

// Python's str.isspace(), which sacreBLEU's split() and rstrip() use.
bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::vector<std::string> split_whitespace(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    if (is_python_space(next_code_point(s, i))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur.append(s, start, i - start);
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string rstrip(const std::string& s) {
  size_t end = 0;  // one past the last non-space code point
  for (size_t i = 0; i < s.size();)
    if (!is_python_space(next_code_point(s, i))) end = i;
  return s.substr(0, end);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The ASCII punctuation 13a surrounds with spaces: all of it but . , ' -.
bool is_13a_punct(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return (u >= '{' && u <= '~') || (u >= '[' && u <= '`') || (u >= ' ' && u <= '&') || (u >= '(' && u <= '+') ||
         (u >= ':' && u <= '@') || u == '/';
}

// One left-to-right pass of a two-character rule, matches not overlapping (as
// a regex substitution scans): where match(s[i], s[i+1]), write emit(a, b).
template <class Match, class Emit>
std::string two_char_pass(const std::string& s, Match match, Emit emit) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && match(s[i], s[i + 1])) {
      emit(out, s[i], s[i + 1]);
      i += 2;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::vector<std::string> tokens_of(const std::string& segment, const BleuOptions& o) {
  const std::string line = rstrip(segment);
  return split_whitespace(o.tokenize == BleuTokenize::v13a ? tokenize_13a(line) : line);
}

using NgramCounts = std::unordered_map<std::string, int64_t>;

// Every n-gram of order 1..max_order, keyed by its tokens joined with spaces
// (tokens hold no whitespace, so keys are unambiguous).
NgramCounts ngrams(const std::vector<std::string>& tokens, int max_order) {
  NgramCounts counts;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string key;
    for (size_t n = 1; n <= size_t(max_order) && i + n <= tokens.size(); ++n) {
      if (n > 1) key += ' ';
      key += tokens[i + n - 1];
      ++counts[key];
    }
  }
  return counts;
}

size_t order_of(const std::string& key) {
  size_t n = 1;
  for (char c : key) n += c == ' ';
  return n;
}

double log_or_floor(double p) { return p == 0.0 ? -9999999999.0 : std::log(p); }

}  // namespace

std::string tokenize_13a(const std::string& input) {
  std::string line = input;
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";
  std::string spaced;
  spaced.reserve(line.size() * 2);
  for (char c : line) {
    if (is_13a_punct(c)) {
      spaced += ' ';
      spaced += c;
      spaced += ' ';
    } else {
      spaced += c;
    }
  }
  const auto is_period_comma = [](char c) { return c == '.' || c == ','; };
  spaced = two_char_pass(
      spaced, [&](char a, char b) { return !is_digit(a) && is_period_comma(b); },
      [](std::string& out, char a, char b) { out += a, out += ' ', out += b, out += ' '; });
  spaced = two_char_pass(
      spaced, [&](char a, char b) { return is_period_comma(a) && !is_digit(b); },
      [](std::string& out, char a, char b) { out += ' ', out += a, out += ' ', out += b; });
  spaced = two_char_pass(
      spaced, [](char a, char b) { return is_digit(a) && b == '-'; },
      [](std::string& out, char a, char b) { out += a, out += ' ', out += b, out += ' '; });
  std::string joined;
  for (const std::string& t : split_whitespace(spaced)) {
    if (!joined.empty()) joined += ' ';
    joined += t;
  }
  return joined;
}

BleuStats bleu_segment_stats(const std::string& hypothesis, const std::vector<std::string>& references,
                             const BleuOptions& o) {
  const char* op = "bleu";
  MOEGRAD_CHECK(o.max_order >= 1, op, "max_order must be >= 1, got ", o.max_order);
  NgramCounts ref_max;
  std::vector<int64_t> ref_lens;
  for (const std::string& ref : references) {
    if (ref.empty()) continue;
    const std::vector<std::string> toks = tokens_of(ref, o);
    ref_lens.push_back(int64_t(toks.size()));
    for (const auto& [key, c] : ngrams(toks, o.max_order)) {
      int64_t& m = ref_max[key];
      m = std::max(m, c);
    }
  }
  MOEGRAD_CHECK(!ref_lens.empty(), op, "a hypothesis has no non-empty reference");
  const std::vector<std::string> hyp = tokens_of(hypothesis, o);
  BleuStats s;
  s.sys_len = int64_t(hyp.size());
  int64_t best_diff = -1;
  for (int64_t len : ref_lens) {
    const int64_t diff = std::abs(s.sys_len - len);
    if (best_diff < 0 || diff < best_diff || (diff == best_diff && len < s.ref_len)) {
      best_diff = diff;
      s.ref_len = len;
    }
  }
  s.correct.assign(size_t(o.max_order), 0);
  s.total.assign(size_t(o.max_order), 0);
  for (const auto& [key, c] : ngrams(hyp, o.max_order)) {
    const size_t n = order_of(key) - 1;
    s.total[n] += c;
    const auto it = ref_max.find(key);
    if (it != ref_max.end()) s.correct[n] += std::min(c, it->second);
  }
  return s;
}

BleuScore bleu_from_stats(const BleuStats& st, const BleuOptions& o) {
  const char* op = "bleu";
  MOEGRAD_CHECK(o.max_order >= 1 && st.correct.size() == size_t(o.max_order) && st.total.size() == size_t(o.max_order),
                op, "statistics for ", st.correct.size(), "/", st.total.size(), " orders, but max_order is ",
                o.max_order);
  BleuScore r;
  r.sys_len = st.sys_len;
  r.ref_len = st.ref_len;
  r.counts = st.correct;
  r.totals = st.total;
  r.ratio = st.ref_len ? double(st.sys_len) / double(st.ref_len) : 0.0;
  r.bp =
      st.sys_len < st.ref_len ? (st.sys_len > 0 ? std::exp(1.0 - double(st.ref_len) / double(st.sys_len)) : 0.0) : 1.0;
  r.precisions.assign(size_t(o.max_order), 0.0);
  bool any_correct = false;
  for (int64_t c : st.correct) any_correct = any_correct || c != 0;
  if (!any_correct) return r;  // score 0

  const double value = o.smooth_value >= 0 ? o.smooth_value : (o.smooth == BleuSmooth::add_k ? 1.0 : 0.1);
  double mteval = 1.0;
  int orders = o.max_order;
  for (int n = 1; n <= o.max_order; ++n) {
    double correct = double(st.correct[size_t(n - 1)]), total = double(st.total[size_t(n - 1)]);
    if (o.smooth == BleuSmooth::add_k && n > 1) correct += value, total += value;
    if (total == 0) break;
    if (o.effective_order) orders = n;
    double& p = r.precisions[size_t(n - 1)];
    if (correct == 0) {
      if (o.smooth == BleuSmooth::exp) {
        mteval *= 2;
        p = 100.0 / (mteval * total);
      } else if (o.smooth == BleuSmooth::floor) {
        p = 100.0 * value / total;
      }
    } else {
      p = 100.0 * correct / total;
    }
  }
  double sum = 0;
  for (int n = 0; n < orders; ++n) sum += log_or_floor(r.precisions[size_t(n)]);
  r.score = r.bp * std::exp(sum / orders);
  return r;
}

BleuScore corpus_bleu_multi(const std::vector<std::string>& hypotheses,
                            const std::vector<std::vector<std::string>>& streams, const BleuOptions& o) {
  const char* op = "corpus_bleu";
  MOEGRAD_CHECK(!streams.empty(), op, "no reference stream");
  for (size_t r = 0; r < streams.size(); ++r)
    MOEGRAD_CHECK(streams[r].size() == hypotheses.size(), op, hypotheses.size(), " hypotheses but reference stream ", r,
                  " has ", streams[r].size(), " segments");
  BleuStats sum;
  sum.correct.assign(size_t(std::max(o.max_order, 1)), 0);
  sum.total = sum.correct;
  std::vector<std::string> refs(streams.size());
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    for (size_t r = 0; r < streams.size(); ++r) refs[r] = streams[r][i];
    BleuStats s;
    try {
      s = bleu_segment_stats(hypotheses[i], refs, o);
    } catch (const Error& e) {
      detail::fail(op, "segment ", i, ": ", e.what());
    }
    sum.sys_len += s.sys_len;
    sum.ref_len += s.ref_len;
    for (size_t n = 0; n < s.correct.size(); ++n) sum.correct[n] += s.correct[n], sum.total[n] += s.total[n];
  }
  return bleu_from_stats(sum, o);
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& o) {
  return corpus_bleu_multi(hypotheses, {references}, o);
}

BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                        const BleuOptions& o) {
  return bleu_from_stats(bleu_segment_stats(hypothesis, references, o), o);
}

std::string BleuScore::str() const {
  std::string prec;
  char buf[64];
  for (size_t n = 0; n < precisions.size(); ++n) {
    std::snprintf(buf, sizeof buf, "%s%.1f", n ? "/" : "", precisions[n]);
    prec += buf;
  }
  char out[256];
  std::snprintf(out, sizeof out, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", score,
                prec.c_str(), bp, ratio, static_cast<long long>(sys_len), static_cast<long long>(ref_len));
  return out;
}

}  // namespace moegrad::app
