// SWORD zText reading, OSIS to text, KJV versification: see sword.h.
#include "apps/sword.h"

#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/data.h"
#include "core/error.h"

namespace moegrad::app {

namespace {

const char* const kOp = "sword";

// The whole file; an Error names it when it is missing, a directory or unreadable.
std::string read_file_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  MOEGRAD_CHECK(fs::exists(st), kOp, path, ": no such file");
  MOEGRAD_CHECK(!fs::is_directory(st), kOp, path, ": is a directory");
  std::ifstream in(path, std::ios::binary);
  MOEGRAD_CHECK(in.is_open(), kOp, path, ": cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  MOEGRAD_CHECK(!in.bad(), kOp, path, ": read error");
  return ss.str();
}

uint32_t u32_at(const std::string& b, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + off);
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

uint16_t u16_at(const std::string& b, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + off);
  return uint16_t(p[0] | p[1] << 8);
}

struct BlockRecord {
  uint32_t offset, compressed, size;
};

// Block `index` of the .bzz bytes, inflated. The size cap keeps a damaged
// .bzs from asking for gigabytes: deflate cannot expand data by more than
// about 1032:1, so anything claiming more is not a zlib stream of that size.
std::string inflate_block(const std::string& bzz, const std::string& path, uint32_t index, const BlockRecord& r) {
  MOEGRAD_CHECK(uint64_t(r.offset) + r.compressed <= bzz.size(), kOp, path, ": block ", index, " (bytes ", r.offset,
                " + ", r.compressed, ") reaches past the end of the file (", bzz.size(), " bytes)");
  MOEGRAD_CHECK(uint64_t(r.size) <= 1032 * uint64_t(r.compressed) + 64, kOp, path, ": block ", index, " claims ",
                r.size, " bytes from ", r.compressed, " compressed bytes, more than zlib can produce");
  std::string out(r.size, '\0');
  z_stream zs;
  std::memset(&zs, 0, sizeof zs);
  MOEGRAD_CHECK(inflateInit(&zs) == Z_OK, kOp, path, ": zlib could not start inflating");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bzz.data() + r.offset));
  zs.avail_in = r.compressed;
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = r.size;
  const int rc = inflate(&zs, Z_FINISH);
  const uLong produced = zs.total_out;
  const uInt out_left = zs.avail_out;
  const std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc == Z_STREAM_END) {
    MOEGRAD_CHECK(produced == r.size, kOp, path, ": block ", index, " inflates to ", produced,
                  " bytes but the .bzs says ", r.size);
    return out;
  }
  MOEGRAD_CHECK(rc != Z_DATA_ERROR && rc != Z_NEED_DICT && rc != Z_STREAM_ERROR && rc != Z_MEM_ERROR, kOp, path,
                ": block ", index, " is not a valid zlib stream", (msg.empty() ? "" : " ("), msg,
                (msg.empty() ? "" : ")"));
  MOEGRAD_CHECK(out_left != 0, kOp, path, ": block ", index, " inflates to more than the ", r.size,
                " bytes the .bzs says");
  detail::fail(kOp, path, ": block ", index, " is a truncated zlib stream (it ends after ", produced, " of ", r.size,
               " bytes)");
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' || c == '_' ||
         c == '-' || c == '.';
}

struct Tag {
  std::string name;
  bool closing = false, self_closing = false;
  size_t end = 0;  // one past the '>'
};

// The tag that starts at s[i] == '<', or end == 0 when no '>' closes it.
Tag parse_tag(const std::string& s, size_t i) {
  Tag t;
  const size_t close = s.find('>', i + 1);
  if (close == std::string::npos) return t;
  size_t k = i + 1;
  if (k < close && s[k] == '/') t.closing = true, ++k;
  const size_t name_start = k;
  while (k < close && is_name_char(s[k])) ++k;
  t.name = s.substr(name_start, k - name_start);
  t.self_closing = close > i + 1 && s[close - 1] == '/';
  t.end = close + 1;
  return t;
}

bool is_structural(const std::string& name) {
  static const char* const names[] = {"l", "lg", "lb", "p", "br", "div", "chapter", "title", "milestone"};
  for (const char* n : names)
    if (name == n) return true;
  return false;
}


// Decodes the entity at s[i] == '&' into out and returns the index after it,
// or returns i unchanged when it is not one we know.
size_t decode_entity(const std::string& s, size_t i, std::string& out) {
  const size_t semi = s.find(';', i + 1);
  if (semi == std::string::npos || semi - i > 12) return i;
  const std::string body = s.substr(i + 1, semi - i - 1);
  static const std::pair<const char*, char> named[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  for (const auto& [name, c] : named)
    if (body == name) {
      out += c;
      return semi + 1;
    }
  if (body.size() >= 2 && body[0] == '#') {
    const bool hex = body[1] == 'x' || body[1] == 'X';
    const std::string digits = body.substr(hex ? 2 : 1);
    if (digits.empty() || digits.size() > 8) return i;
    uint32_t cp = 0;
    for (char c : digits) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (hex && c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return i;
      cp = cp * (hex ? 16 : 10) + uint32_t(d);
      if (cp > 0x10FFFF) return i;
    }
    if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    append_utf8(out, cp);
    return semi + 1;
  }
  return i;
}

// The index just past the </note> that closes the note whose opening tag
// ends at i (nested notes counted), or s.size() when it is never closed.
size_t skip_note(const std::string& s, size_t i) {
  int depth = 1;
  while (i < s.size()) {
    const size_t lt = s.find('<', i);
    if (lt == std::string::npos) return s.size();
    const Tag t = parse_tag(s, lt);
    if (t.end == 0) return s.size();
    if (t.name == "note" && !t.self_closing) depth += t.closing ? -1 : 1;
    i = t.end;
    if (depth == 0) return i;
  }
  return s.size();
}

}  // namespace

const char* testament_stem(Testament t) { return t == Testament::old_testament ? "ot" : "nt"; }

std::vector<std::string> read_ztext_testament(const std::string& dir, Testament t) {
  const std::string stem = (std::filesystem::path(dir) / testament_stem(t)).string();
  const std::string bzs_path = stem + ".bzs", bzv_path = stem + ".bzv", bzz_path = stem + ".bzz";
  const std::string bzs = read_file_bytes(bzs_path);
  const std::string bzv = read_file_bytes(bzv_path);
  const std::string bzz = read_file_bytes(bzz_path);
  MOEGRAD_CHECK(bzs.size() % 12 == 0, kOp, bzs_path, ": ", bzs.size(),
                " bytes is not a whole number of 12-byte block records (truncated?)");
  MOEGRAD_CHECK(bzv.size() % 10 == 0, kOp, bzv_path, ": ", bzv.size(),
                " bytes is not a whole number of 10-byte entry records (truncated?)");
  std::vector<BlockRecord> blocks(bzs.size() / 12);
  for (size_t b = 0; b < blocks.size(); ++b)
    blocks[b] = {u32_at(bzs, 12 * b), u32_at(bzs, 12 * b + 4), u32_at(bzs, 12 * b + 8)};

  std::vector<std::string> inflated(blocks.size());
  std::vector<bool> done(blocks.size(), false);
  std::vector<std::string> entries(bzv.size() / 10);
  for (size_t e = 0; e < entries.size(); ++e) {
    const uint32_t block = u32_at(bzv, 10 * e), start = u32_at(bzv, 10 * e + 4);
    const uint16_t length = u16_at(bzv, 10 * e + 8);
    if (length == 0) continue;
    MOEGRAD_CHECK(block < blocks.size(), kOp, bzv_path, ": entry ", e, " is in block ", block, " but ", bzs_path,
                  " lists ", blocks.size(), " blocks");
    if (!done[block]) {
      inflated[block] = inflate_block(bzz, bzz_path, block, blocks[block]);
      done[block] = true;
    }
    const std::string& data = inflated[block];
    MOEGRAD_CHECK(uint64_t(start) + length <= data.size(), kOp, bzv_path, ": entry ", e, " (bytes ", start, " + ",
                  length, " of block ", block, ") reaches past the end of its block (", data.size(), " bytes)");
    entries[e] = data.substr(start, length);
  }
  return entries;
}

std::string osis_to_text(const std::string& markup) {
  const std::string& s = markup;
  std::string raw;
  raw.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '<') {
      const Tag t = parse_tag(s, i);
      if (t.end == 0) {
        raw += '<';
        ++i;
        continue;
      }
      if (t.name == "note" && !t.closing && !t.self_closing) {
        i = skip_note(s, t.end);
        continue;
      }
      if (is_structural(t.name)) raw += ' ';
      i = t.end;
    } else if (c == '&') {
      const size_t next = decode_entity(s, i, raw);
      if (next == i) {
        raw += '&';
        ++i;
      } else {
        i = next;
      }
    } else if (c == '\xC2' && i + 1 < s.size() && s[i + 1] == '\xB6') {
      i += 2;  // the pilcrow
    } else {
      raw += c;
      ++i;
    }
  }
  std::string out;
  out.reserve(raw.size());
  for (size_t k = 0; k < raw.size();) {
    if (is_space(raw[k])) {
      while (k < raw.size() && is_space(raw[k])) ++k;
      if (!out.empty() && k < raw.size()) out += ' ';
    } else {
      out += raw[k++];
    }
  }
  return out;
}

// ---- KJV versification ----

const std::vector<KjvBook>& kjv_books() {
  // Verses per chapter of each book, as in SWORD's KJV versification; the
  // tests check them against the chapter markers of the real modules.
  static const std::vector<KjvBook> books = {
      {"Gen", Testament::old_testament, {31, 25, 24, 26, 32, 22, 24, 22, 29, 32, 32, 20, 18, 24, 21, 16, 27,
                                         33, 38, 18, 34, 24, 20, 67, 34, 35, 46, 22, 35, 43, 55, 32, 20, 31,
                                         29, 43, 36, 30, 23, 23, 57, 38, 34, 34, 28, 34, 31, 22, 33, 26}},
      {"Exod", Testament::old_testament, {22, 25, 22, 31, 23, 30, 25, 32, 35, 29, 10, 51, 22, 31,
                                          27, 36, 16, 27, 25, 26, 36, 31, 33, 18, 40, 37, 21, 43,
                                          46, 38, 18, 35, 23, 35, 35, 38, 29, 31, 43, 38}},
      {"Lev", Testament::old_testament, {17, 16, 17, 35, 19, 30, 38, 36, 24, 20, 47, 8,  59, 57,
                                         33, 34, 16, 30, 37, 27, 24, 33, 44, 23, 55, 46, 34}},
      {"Num", Testament::old_testament, {54, 34, 51, 49, 31, 27, 89, 26, 23, 36, 35, 16, 33, 45, 41, 50, 13, 32,
                                         22, 29, 35, 41, 30, 25, 18, 65, 23, 31, 40, 16, 54, 42, 56, 29, 34, 13}},
      {"Deut", Testament::old_testament, {46, 37, 29, 49, 33, 25, 26, 20, 29, 22, 32, 32, 18, 29, 23, 22, 20,
                                          22, 21, 20, 23, 30, 25, 22, 19, 19, 26, 68, 29, 20, 30, 52, 29, 12}},
      {"Josh", Testament::old_testament, {18, 24, 17, 24, 15, 27, 26, 35, 27, 43, 23, 24,
                                          33, 15, 63, 10, 18, 28, 51, 9,  45, 34, 16, 33}},
      {"Judg", Testament::old_testament, {36, 23, 31, 24, 31, 40, 25, 35, 57, 18, 40,
                                          15, 25, 20, 20, 31, 13, 31, 30, 48, 25}},
      {"Ruth", Testament::old_testament, {22, 23, 18, 22}},
      {"1Sam", Testament::old_testament, {28, 36, 21, 22, 12, 21, 17, 22, 27, 27, 15, 25, 23, 52, 35, 23,
                                          58, 30, 24, 42, 15, 23, 29, 22, 44, 25, 12, 25, 11, 31, 13}},
      {"2Sam", Testament::old_testament, {27, 32, 39, 12, 25, 23, 29, 18, 13, 19, 27, 31,
                                          39, 33, 37, 23, 29, 33, 43, 26, 22, 51, 39, 25}},
      {"1Kgs", Testament::old_testament, {53, 46, 28, 34, 18, 38, 51, 66, 28, 29, 43,
                                          33, 34, 31, 34, 34, 24, 46, 21, 43, 29, 53}},
      {"2Kgs", Testament::old_testament, {18, 25, 27, 44, 27, 33, 20, 29, 37, 36, 21, 21, 25,
                                          29, 38, 20, 41, 37, 37, 21, 26, 20, 37, 20, 30}},
      {"1Chr", Testament::old_testament, {54, 55, 24, 43, 26, 81, 40, 40, 44, 14, 47, 40, 14, 17, 29,
                                          43, 27, 17, 19, 8,  30, 19, 32, 31, 31, 32, 34, 21, 30}},
      {"2Chr", Testament::old_testament, {17, 18, 17, 22, 14, 42, 22, 18, 31, 19, 23, 16, 22, 15, 19, 14, 19, 34,
                                          11, 37, 20, 12, 21, 27, 28, 23, 9,  27, 36, 27, 21, 33, 25, 33, 27, 23}},
      {"Ezra", Testament::old_testament, {11, 70, 13, 24, 17, 22, 28, 36, 15, 44}},
      {"Neh", Testament::old_testament, {11, 20, 32, 23, 19, 19, 73, 18, 38, 39, 36, 47, 31}},
      {"Esth", Testament::old_testament, {22, 23, 15, 17, 14, 14, 10, 17, 32, 3}},
      {"Job", Testament::old_testament, {22, 13, 26, 21, 27, 30, 21, 22, 35, 22, 20, 25, 28, 22,
                                         35, 22, 16, 21, 29, 29, 34, 30, 17, 25, 6,  14, 23, 28,
                                         25, 31, 40, 22, 33, 37, 16, 33, 24, 41, 30, 24, 34, 17}},
      {"Ps",
       Testament::old_testament,
       {6,  12, 8,  8,  12, 10, 17, 9,  20, 18, 7,  8,  6,  7,  5,  11, 15, 50, 14,  9,  13, 31, 6,  10, 22,
        12, 14, 9,  11, 12, 24, 11, 22, 22, 28, 12, 40, 22, 13, 17, 13, 11, 5,  26,  17, 11, 9,  14, 20, 23,
        19, 9,  6,  7,  23, 13, 11, 11, 17, 12, 8,  12, 11, 10, 13, 20, 7,  35, 36,  5,  24, 20, 28, 23, 10,
        12, 20, 72, 13, 19, 16, 8,  18, 12, 13, 17, 7,  18, 52, 17, 16, 15, 5,  23,  11, 13, 12, 9,  9,  5,
        8,  28, 22, 35, 45, 48, 43, 13, 31, 7,  10, 10, 9,  8,  18, 19, 2,  29, 176, 7,  8,  9,  4,  8,  5,
        6,  5,  6,  8,  8,  3,  18, 3,  3,  21, 26, 9,  8,  24, 13, 10, 7,  12, 15,  21, 10, 20, 14, 9,  6}},
      {"Prov", Testament::old_testament, {33, 22, 35, 27, 23, 35, 27, 36, 18, 32, 31, 28, 25, 35, 33, 33,
                                          28, 24, 29, 30, 31, 29, 35, 34, 28, 28, 27, 28, 27, 33, 31}},
      {"Eccl", Testament::old_testament, {18, 26, 22, 16, 20, 12, 29, 17, 18, 20, 10, 14}},
      {"Song", Testament::old_testament, {17, 17, 11, 16, 16, 13, 13, 14}},
      {"Isa", Testament::old_testament, {31, 22, 26, 6,  30, 13, 25, 22, 21, 34, 16, 6,  22, 32, 9,  14, 14,
                                         7,  25, 6,  17, 25, 18, 23, 12, 21, 13, 29, 24, 33, 9,  20, 24, 17,
                                         10, 22, 38, 22, 8,  31, 29, 25, 28, 28, 25, 13, 15, 22, 26, 11, 23,
                                         15, 12, 17, 13, 12, 21, 14, 21, 22, 11, 12, 19, 12, 25, 24}},
      {"Jer", Testament::old_testament, {19, 37, 25, 31, 31, 30, 34, 22, 26, 25, 23, 17, 27, 22, 21, 21, 27, 23,
                                         15, 18, 14, 30, 40, 10, 38, 24, 22, 17, 32, 24, 40, 44, 26, 22, 19, 32,
                                         21, 28, 18, 16, 18, 22, 13, 30, 5,  28, 7,  47, 39, 46, 64, 34}},
      {"Lam", Testament::old_testament, {22, 22, 66, 22, 22}},
      {"Ezek", Testament::old_testament, {28, 10, 27, 17, 17, 14, 27, 18, 11, 22, 25, 28, 23, 23, 8,  63,
                                          24, 32, 14, 49, 32, 31, 49, 27, 17, 21, 36, 26, 21, 26, 18, 32,
                                          33, 31, 15, 38, 28, 23, 29, 49, 26, 20, 27, 31, 25, 24, 23, 35}},
      {"Dan", Testament::old_testament, {21, 49, 30, 37, 31, 28, 28, 27, 27, 21, 45, 13}},
      {"Hos", Testament::old_testament, {11, 23, 5, 19, 15, 11, 16, 14, 17, 15, 12, 14, 16, 9}},
      {"Joel", Testament::old_testament, {20, 32, 21}},
      {"Amos", Testament::old_testament, {15, 16, 15, 13, 27, 14, 17, 14, 15}},
      {"Obad", Testament::old_testament, {21}},
      {"Jonah", Testament::old_testament, {17, 10, 10, 11}},
      {"Mic", Testament::old_testament, {16, 13, 12, 13, 15, 16, 20}},
      {"Nah", Testament::old_testament, {15, 13, 19}},
      {"Hab", Testament::old_testament, {17, 20, 19}},
      {"Zeph", Testament::old_testament, {18, 15, 20}},
      {"Hag", Testament::old_testament, {15, 23}},
      {"Zech", Testament::old_testament, {21, 13, 10, 14, 11, 15, 14, 23, 17, 12, 17, 14, 9, 21}},
      {"Mal", Testament::old_testament, {14, 17, 18, 6}},
      {"Matt", Testament::new_testament, {25, 23, 17, 25, 48, 34, 29, 34, 38, 42, 30, 50, 58, 36,
                                          39, 28, 27, 35, 30, 34, 46, 46, 39, 51, 46, 75, 66, 20}},
      {"Mark", Testament::new_testament, {45, 28, 35, 41, 43, 56, 37, 38, 50, 52, 33, 44, 37, 72, 47, 20}},
      {"Luke", Testament::new_testament, {80, 52, 38, 44, 39, 49, 50, 56, 62, 42, 54, 59,
                                          35, 35, 32, 31, 37, 43, 48, 47, 38, 71, 56, 53}},
      {"John", Testament::new_testament, {51, 25, 36, 54, 47, 71, 53, 59, 41, 42, 57,
                                          50, 38, 31, 27, 33, 26, 40, 42, 31, 25}},
      {"Acts", Testament::new_testament, {26, 47, 26, 37, 42, 15, 60, 40, 43, 48, 30, 25, 52, 28,
                                          41, 40, 34, 28, 41, 38, 40, 30, 35, 27, 27, 32, 44, 31}},
      {"Rom", Testament::new_testament, {32, 29, 31, 25, 21, 23, 25, 39, 33, 21, 36, 21, 14, 23, 33, 27}},
      {"1Cor", Testament::new_testament, {31, 16, 23, 21, 13, 20, 40, 13, 27, 33, 34, 31, 13, 40, 58, 24}},
      {"2Cor", Testament::new_testament, {24, 17, 18, 18, 21, 18, 16, 24, 15, 18, 33, 21, 14}},
      {"Gal", Testament::new_testament, {24, 21, 29, 31, 26, 18}},
      {"Eph", Testament::new_testament, {23, 22, 21, 32, 33, 24}},
      {"Phil", Testament::new_testament, {30, 30, 21, 23}},
      {"Col", Testament::new_testament, {29, 23, 25, 18}},
      {"1Thess", Testament::new_testament, {10, 20, 13, 18, 28}},
      {"2Thess", Testament::new_testament, {12, 17, 18}},
      {"1Tim", Testament::new_testament, {20, 15, 16, 16, 25, 21}},
      {"2Tim", Testament::new_testament, {18, 26, 17, 22}},
      {"Titus", Testament::new_testament, {16, 15, 15}},
      {"Phlm", Testament::new_testament, {25}},
      {"Heb", Testament::new_testament, {14, 18, 19, 16, 14, 20, 28, 13, 28, 39, 40, 29, 25}},
      {"Jas", Testament::new_testament, {27, 26, 18, 17, 20}},
      {"1Pet", Testament::new_testament, {25, 25, 22, 19, 14}},
      {"2Pet", Testament::new_testament, {21, 22, 18}},
      {"1John", Testament::new_testament, {10, 29, 24, 21, 21}},
      {"2John", Testament::new_testament, {13}},
      {"3John", Testament::new_testament, {14}},
      {"Jude", Testament::new_testament, {25}},
      {"Rev", Testament::new_testament, {20, 29, 22, 11, 14, 17, 17, 13, 21, 11, 19,
                                         17, 18, 20, 8,  21, 18, 24, 21, 15, 27, 21}},
  };
  return books;
}

int64_t kjv_entry_count(Testament t) {
  int64_t n = 2;  // module and testament headings
  for (const KjvBook& b : kjv_books()) {
    if (b.testament != t) continue;
    n += 1 + int64_t(b.verses.size());  // book heading, chapter headings
    for (int v : b.verses) n += v;
  }
  return n;
}

const std::vector<VerseEntry>& kjv_verses() {
  static const std::vector<VerseEntry> verses = [] {
    std::vector<VerseEntry> out;
    int64_t index[2] = {2, 2};  // the first book heading of each testament
    const std::vector<KjvBook>& books = kjv_books();
    for (size_t b = 0; b < books.size(); ++b) {
      int64_t& at = index[books[b].testament == Testament::old_testament ? 0 : 1];
      ++at;  // past the book heading
      for (size_t c = 0; c < books[b].verses.size(); ++c) {
        ++at;  // past the chapter heading
        for (int v = 1; v <= books[b].verses[c]; ++v) {
          VerseEntry e;
          e.ref = books[b].osis + "." + std::to_string(c + 1) + "." + std::to_string(v);
          e.book = int(b);
          e.chapter = int(c + 1);
          e.verse = v;
          e.testament = books[b].testament;
          e.index = at++;
          out.push_back(std::move(e));
        }
      }
    }
    return out;
  }();
  return verses;
}

VerseEntry kjv_locate(const std::string& ref) {
  const char* op = "kjv_locate";
  const size_t dot2 = ref.rfind('.');
  const size_t dot1 = dot2 == std::string::npos || dot2 == 0 ? std::string::npos : ref.rfind('.', dot2 - 1);
  MOEGRAD_CHECK(dot1 != std::string::npos && dot1 > 0, op, "'", ref,
                "' is not a verse reference of the form Book.chapter.verse (e.g. John.3.16)");
  const std::string book = ref.substr(0, dot1);
  const auto number = [&](const std::string& text) {
    MOEGRAD_CHECK(!text.empty() && text.size() <= 4 && text.find_first_not_of("0123456789") == std::string::npos, op,
                  "'", ref, "': '", text, "' is not a chapter or verse number");
    return std::stoi(text);
  };
  const int chapter = number(ref.substr(dot1 + 1, dot2 - dot1 - 1));
  const int verse = number(ref.substr(dot2 + 1));
  const std::vector<KjvBook>& books = kjv_books();
  size_t b = 0;
  while (b < books.size() && books[b].osis != book) ++b;
  MOEGRAD_CHECK(b < books.size(), op, "'", ref, "': unknown book '", book,
                "' (OSIS ids: Gen, Exod, ..., John, ..., Rev)");
  MOEGRAD_CHECK(chapter >= 1 && chapter <= int(books[b].verses.size()), op, "'", ref, "': ", book, " has ",
                books[b].verses.size(), " chapters");
  MOEGRAD_CHECK(verse >= 1 && verse <= books[b].verses[size_t(chapter - 1)], op, "'", ref, "': ", book, " ", chapter,
                " has ", books[b].verses[size_t(chapter - 1)], " verses");
  size_t k = 0;
  for (size_t prev = 0; prev < b; ++prev)
    for (int v : books[prev].verses) k += size_t(v);
  for (int c = 1; c < chapter; ++c) k += size_t(books[b].verses[size_t(c - 1)]);
  return kjv_verses()[k + size_t(verse - 1)];
}

std::string sword_module_dir(const std::string& module) {
  const char* env = std::getenv("SWORD_PATH");
  const std::string root = env && *env ? env : "/usr/share/sword";
  return (std::filesystem::path(root) / "modules" / "texts" / "ztext" / module).string();
}

}  // namespace moegrad::app
