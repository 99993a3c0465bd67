// safetensors reading and writing (see nn/safetensors.h for the format and
// the contract). Loading validates the whole header against the buffer size
// before it allocates a tensor or reads a data byte: every offset is checked
// to lie inside the buffer, and the tensors must tile it exactly, as the
// reference implementation (huggingface/safetensors, Rust) requires.
#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "nn/file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nn/safetensors.cpp copies tensor bytes as they are: it needs a little-endian host"
#endif

namespace moegrad {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr const char* kMetadataKey = "__metadata__";

template <class... Parts>
[[noreturn]] void fail(const std::string& what, const Parts&... parts) {
  detail::fail("safetensors", what, ": ", parts...);
}

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::b8: return "BOOL";
  }
  return "?";
}

bool st_dtype_from_name(const std::string& s, DType& out) {
  for (DType t : {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8}) {
    if (s == st_dtype_name(t)) {
      out = t;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- reading

struct Entry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data buffer
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON integer >= 0 that fits in int64, or an error saying what it is.
// `field` names it for the message ("shape[1]").
int64_t nonneg_int(const json& v, const std::string& what, const std::string& name,
                   const std::string& field) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(what, "tensor '", name, "': ", field, " = ", u, " is too large");
    return int64_t(u);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) fail(what, "tensor '", name, "': ", field, " = ", i, " is negative");
    return i;
  }
  fail(what, "tensor '", name, "': ", field, " must be a non-negative integer, got ", v.dump());
}

// Parses the JSON header. A callback throws on duplicate keys (nlohmann
// keeps the last one silently) and on nesting deeper than any valid header
// needs (3: header, entry, shape), before a hostile header can build a huge
// DOM. Valid headers never come near the limit.
constexpr int kMaxJsonDepth = 8;

json parse_json(const char* p, size_t n, const std::string& what) {
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (++depth > kMaxJsonDepth) fail(what, "header nests deeper than ", kMaxJsonDepth, " levels");
        if (ev == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        --depth;
        if (ev == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second)
          fail(what, "header has duplicate key '", parsed.get<std::string>(), "'");
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(p, p + n, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail(what, "header is not valid JSON (", e.what(), ")");
  }
}

Entry parse_entry(const std::string& name, const json& v, uint64_t buffer_size,
                  const std::string& what) {
  if (!v.is_object()) fail(what, "tensor '", name, "': entry must be a JSON object, got ", v.type_name());
  for (const auto& kv : v.items()) {
    const std::string& k = kv.key();
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      fail(what, "tensor '", name, "': unknown field '", k, "' (expected dtype, shape, data_offsets)");
  }
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(what, "tensor '", name, "': missing field '", k, "'");

  Entry e;
  e.name = name;
  const json& dt = v.at("dtype");
  if (!dt.is_string()) fail(what, "tensor '", name, "': dtype must be a string, got ", dt.dump());
  const std::string dts = dt.get<std::string>();
  if (!st_dtype_from_name(dts, e.dtype))
    fail(what, "tensor '", name, "': unsupported dtype \"", dts,
         "\" (moegrad reads F32, F64, I32, I64 and BOOL)");

  const json& sh = v.at("shape");
  if (!sh.is_array()) fail(what, "tensor '", name, "': shape must be an array, got ", sh.dump());
  // numel * dtype size, checked for overflow as each dim is multiplied in.
  const uint64_t limit = uint64_t(std::numeric_limits<int64_t>::max());
  uint64_t nbytes = dtype_size(e.dtype);
  for (size_t i = 0; i < sh.size(); ++i) {
    int64_t d = nonneg_int(sh[i], what, name, "shape[" + std::to_string(i) + "]");
    e.shape.push_back(d);
    if (d != 0 && nbytes > limit / uint64_t(d))
      fail(what, "tensor '", name, "': shape ", sh.dump(), " overflows the element count");
    nbytes *= uint64_t(d);
  }

  const json& off = v.at("data_offsets");
  if (!off.is_array() || off.size() != 2)
    fail(what, "tensor '", name, "': data_offsets must be [begin, end], got ", off.dump());
  e.begin = uint64_t(nonneg_int(off[0], what, name, "data_offsets[0]"));
  e.end = uint64_t(nonneg_int(off[1], what, name, "data_offsets[1]"));
  if (e.begin > e.end)
    fail(what, "tensor '", name, "': data_offsets [", e.begin, ",", e.end, "] decrease");
  if (e.end > buffer_size)
    fail(what, "tensor '", name, "': data_offsets [", e.begin, ",", e.end,
         "] run past the end of the data buffer (", buffer_size, " bytes)");
  if (e.end - e.begin != nbytes)
    fail(what, "tensor '", name, "': data_offsets [", e.begin, ",", e.end, "] hold ", e.end - e.begin,
         " bytes but ", dts, " ", shape_str(e.shape), " needs ", nbytes);
  return e;
}

// Validates the header (n bytes at p) against a data buffer of buffer_size
// bytes. Allocates nothing but the parsed header.
Header parse_header(const char* p, size_t n, uint64_t buffer_size, const std::string& what) {
  if (n == 0 || p[0] != '{') fail(what, "header must be a JSON object starting with '{'");
  // nlohmann stops at a NUL byte as if the input ended there; JSON allows
  // none outside strings (and none raw inside them), so refuse them first.
  if (const void* nul = std::memchr(p, 0, n))
    fail(what, "header is not valid JSON (NUL byte at offset ",
         static_cast<const char*>(nul) - p, ")");
  json j = parse_json(p, n, what);
  if (!j.is_object()) fail(what, "header must be a JSON object, got ", j.type_name());

  Header h;
  for (const auto& kv : j.items()) {
    const std::string& name = kv.key();
    const json& v = kv.value();
    if (name == kMetadataKey) {
      if (!v.is_object()) fail(what, "__metadata__ must be an object of strings, got ", v.type_name());
      for (const auto& m : v.items()) {
        if (!m.value().is_string())
          fail(what, "__metadata__ value of '", m.key(), "' must be a string, got ", m.value().dump());
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    h.entries.push_back(parse_entry(name, v, buffer_size, what));
  }

  // The tensors must tile [0, buffer_size) exactly: no gap, no overlap, no
  // trailing bytes. Zero-size tensors may sit at any boundary.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin < cursor)
      fail(what, "tensor '", e.name, "': data_offsets [", e.begin, ",", e.end, "] overlap tensor '",
           prev->name, "' [", prev->begin, ",", prev->end, "]");
    if (e.begin > cursor)
      fail(what, "tensor '", e.name, "': data_offsets [", e.begin, ",", e.end, "] leave a gap of ",
           e.begin - cursor, " bytes at offset ", cursor, " (tensors must tile the buffer)");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != buffer_size)
    fail(what, "data buffer has ", buffer_size, " bytes but the tensors cover only ", cursor);
  return h;
}

void check_bools(const Tensor& t, const std::string& name, const std::string& what) {
  const auto* p = static_cast<const unsigned char*>(t.raw_data());
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (p[i] > 1)
      fail(what, "tensor '", name, "': BOOL element ", i, " is ", int(p[i]), ", expected 0 or 1");
}

// ---------------------------------------------------------------- writing

// The header (padded) and the host-contiguous tensors, in data order.
struct Prepared {
  std::string header;
  std::vector<Tensor> data;
};

std::string json_string(const std::string& s, const std::string& what, const char* role) {
  try {
    return json(s).dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::strict);
  } catch (const json::exception&) {
    fail(what, role, " is not valid UTF-8");
  }
}

Tensor host_contiguous(const Tensor& t) {
  Tensor h = t.detach().contiguous();
  if (!h.device().is_cpu()) h = h.to(Device::cpu()).contiguous();
  if (h.dtype() == DType::b8) {  // a bool byte other than 0/1 is written as 1
    const auto* p = static_cast<const unsigned char*>(h.raw_data());
    const int64_t n = h.numel();
    if (std::any_of(p, p + n, [](unsigned char c) { return c > 1; })) {
      Tensor c = Tensor::empty(h.shape(), DType::b8);
      auto* q = static_cast<unsigned char*>(c.raw_data());
      for (int64_t i = 0; i < n; ++i) q[i] = p[i] != 0;
      h = c;
    }
  }
  return h;
}

Prepared prepare(const TensorMap& tensors, const std::map<std::string, std::string>& metadata,
                 const std::string& what) {
  Prepared out;
  std::string& hd = out.header;
  hd = "{";
  bool first = true;
  if (!metadata.empty()) {
    hd += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) hd += ",";
      first = false;
      hd += json_string(k, what, "metadata key");
      hd += ":";
      hd += json_string(v, what, ("metadata value of '" + k + "'").c_str());
    }
    hd += "}";
  }
  uint64_t offset = 0;
  first = metadata.empty();
  for (const auto& [name, t] : tensors) {  // std::map: sorted by name, bytewise
    if (name.empty()) fail(what, "tensor names must be non-empty");
    if (name == kMetadataKey) fail(what, "tensor name '__metadata__' is reserved");
    if (!t.defined()) fail(what, "tensor '", name, "' is undefined");
    Tensor h = host_contiguous(t);
    const uint64_t nbytes = uint64_t(h.numel()) * dtype_size(h.dtype());
    if (!first) hd += ",";
    first = false;
    hd += json_string(name, what, "tensor name");
    hd += ":{\"dtype\":\"";
    hd += st_dtype_name(h.dtype());
    hd += "\",\"shape\":[";
    for (size_t i = 0; i < h.shape().size(); ++i) {
      if (i) hd += ",";
      hd += std::to_string(h.shape()[i]);
    }
    hd += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + nbytes) + "]}";
    offset += nbytes;
    out.data.push_back(std::move(h));
  }
  hd += "}";
  hd.append((8 - hd.size() % 8) % 8, ' ');
  if (hd.size() > kMaxHeaderBytes)
    fail(what, "header would be ", hd.size(), " bytes, over the 100 MB limit readers accept");
  return out;
}

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xff);
  return s;
}

size_t nbytes_of(const Tensor& t) { return size_t(t.numel()) * dtype_size(t.dtype()); }

}  // namespace

// ---------------------------------------------------------------- public API

std::string serialize_safetensors(const TensorMap& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata, "<memory>");
  size_t total = 8 + p.header.size();
  for (const Tensor& t : p.data) total += nbytes_of(t);
  std::string out;
  out.reserve(total);
  out += u64_le(p.header.size());
  out += p.header;
  for (const Tensor& t : p.data)
    if (nbytes_of(t) > 0) out.append(static_cast<const char*>(t.raw_data()), nbytes_of(t));
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Prepared p = prepare(tensors, metadata, path);  // all checks before touching the disk
  const std::string len = u64_le(p.header.size());
  std::vector<std::pair<const void*, size_t>> pieces = {{len.data(), len.size()}, {p.header.data(), p.header.size()}};
  for (const Tensor& t : p.data) pieces.emplace_back(t.raw_data(), nbytes_of(t));
  write_file_atomically("safetensors", path, pieces);
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 8)
    fail(what, "buffer is ", bytes.size(), " bytes, too short for the 8-byte header length");
  const uint64_t n = read_u64_le(reinterpret_cast<const unsigned char*>(bytes.data()));
  if (n > kMaxHeaderBytes) fail(what, "header length ", n, " is over the 100 MB limit");
  if (n > bytes.size() - 8)
    fail(what, "header length ", n, " runs past the end of the ", bytes.size(), "-byte buffer");
  const char* data = bytes.data() + 8 + n;
  Header h = parse_header(bytes.data() + 8, size_t(n), bytes.size() - 8 - n, what);

  SafetensorsFile f;
  f.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), data + e.begin, e.end - e.begin);
    if (e.dtype == DType::b8) check_bools(t, e.name, what);
    f.tensors.emplace(e.name, std::move(t));
  }
  return f;
}

SafetensorsFile load_safetensors(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail(path, "cannot open: ", errno_str());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail(path, "cannot stat: ", errno_str());
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) fail(path, "file is ", size, " bytes, too short for the 8-byte header length");

  unsigned char len[8];
  read_all("safetensors", fd.get(), len, 8, path);
  const uint64_t n = read_u64_le(len);
  if (n > kMaxHeaderBytes) fail(path, "header length ", n, " is over the 100 MB limit");
  if (n > size - 8) fail(path, "header length ", n, " runs past the end of the ", size, "-byte file");
  std::string header(size_t(n), '\0');
  read_all("safetensors", fd.get(), header.data(), header.size(), path);
  Header h = parse_header(header.data(), header.size(), size - 8 - n, path);

  // The entries tile the buffer in offset order, so one sequential pass
  // reads each tensor's bytes straight into its storage.
  SafetensorsFile f;
  f.metadata = std::move(h.metadata);
  for (const Entry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    read_all("safetensors", fd.get(), t.raw_data(), size_t(e.end - e.begin), path);
    if (e.dtype == DType::b8) check_bools(t, e.name, path);
    f.tensors.emplace(e.name, std::move(t));
  }
  return f;
}

}  // namespace moegrad
