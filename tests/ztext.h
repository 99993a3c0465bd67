// Builds SWORD zText modules for the tests of apps/sword and apps/parallel.
// The zlib streams are written by hand as stored (uncompressed) deflate blocks
// with their Adler-32, so the reader is checked against the format itself
// rather than against the zlib it inflates with; the real compressed bytes
// are covered by the fixtures in tests/data/sword/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "reference.h"

namespace moegrad::testing {

inline void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xFF);
}

inline void put_u16(std::string& out, uint16_t v) {
  out += char(v & 0xFF);
  out += char(v >> 8);
}

// A zlib stream (RFC 1950) holding `data` in stored deflate blocks (RFC 1951).
inline std::string zlib_stored(const std::string& data) {
  std::string out = "\x78\x01";  // deflate, 32 KiB window; 0x7801 % 31 == 0
  size_t pos = 0;
  do {
    const size_t n = std::min<size_t>(65535, data.size() - pos);
    const bool last = pos + n == data.size();
    out += char(last ? 1 : 0);  // BFINAL, BTYPE = 00 (stored)
    put_u16(out, uint16_t(n));
    put_u16(out, uint16_t(~n & 0xFFFF));
    out.append(data, pos, n);
    pos += n;
  } while (pos < data.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  const uint32_t adler = (b << 16) | a;
  for (int i = 3; i >= 0; --i) out += char((adler >> (8 * i)) & 0xFF);
  return out;
}

// Writes dir/<stem>.{bzs,bzv,bzz} holding `entries` ("" is an empty entry,
// stored with length 0), `per_block` consecutive entries to a block.
inline void write_ztext(const std::filesystem::path& dir, const std::string& stem,
                        const std::vector<std::string>& entries, size_t per_block = 3) {
  std::filesystem::create_directories(dir);
  std::string bzs, bzv, bzz;
  for (size_t first = 0; first < entries.size(); first += per_block) {
    const uint32_t block = uint32_t(bzs.size() / 12);
    std::string text;
    for (size_t e = first; e < std::min(entries.size(), first + per_block); ++e) {
      put_u32(bzv, entries[e].empty() ? 0 : block);
      put_u32(bzv, entries[e].empty() ? 0 : uint32_t(text.size()));
      put_u16(bzv, uint16_t(entries[e].size()));
      text += entries[e];
    }
    const std::string z = zlib_stored(text);
    put_u32(bzs, uint32_t(bzz.size()));
    put_u32(bzs, uint32_t(z.size()));
    put_u32(bzs, uint32_t(text.size()));
    bzz += z;
  }
  write_file(dir / (stem + ".bzs"), bzs);
  write_file(dir / (stem + ".bzv"), bzv);
  write_file(dir / (stem + ".bzz"), bzz);
}

}  // namespace moegrad::testing
