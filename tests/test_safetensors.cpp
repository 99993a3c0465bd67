// Tests for nn/safetensors.h: round trips of every dtype and layout, byte-exact
// files written out by hand from the spec, every malformed-input error, a
// mutation fuzz that must only ever produce moegrad::Error, and the atomic
// file write. Expected bytes are spelled out here, never produced by the code
// under test.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "reference.h"

using namespace moegrad;
using namespace moegrad::testing;
namespace fs = std::filesystem;

namespace {

const std::vector<DType> kAllDTypes = {DType::f32, DType::f64, DType::i32, DType::i64, DType::b8};

std::string u64_le(uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += char((v >> (8 * i)) & 0xff);
  return s;
}

// A file: the 8-byte length of `header`, `header` as given, then `data`.
std::string file_of(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += char(x);
  return s;
}

// The raw little-endian bytes of host values.
template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// The bytes of a CPU tensor in row-major order, read through its strides.
std::string tensor_bytes(const Tensor& t) {
  std::string out;
  const size_t es = dtype_size(t.dtype());
  const char* base = static_cast<const char*>(t.storage()->data());
  for_each_index(t.shape(), [&](const Index& i) {
    int64_t off = t.offset();
    for (size_t d = 0; d < i.size(); ++d) off += i[d] * t.strides()[d];
    out.append(base + off * int64_t(es), es);
  });
  return out;
}

void require_same(const Tensor& got, const Tensor& want) {
  INFO("got " << dtype_name(got.dtype()) << shape_str(got.shape()) << ", want "
              << dtype_name(want.dtype()) << shape_str(want.shape()));
  REQUIRE(got.defined());
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.device().is_cpu());
  REQUIRE(got.is_contiguous());
  REQUIRE(tensor_bytes(got) == tensor_bytes(want));  // bit-exact, NaN included
}

// Requires parse_safetensors(bytes) to throw moegrad::Error whose message
// starts with "safetensors: <memory>: " and contains every needle.
void require_parse_error(const std::string& bytes, std::initializer_list<std::string> needles) {
  try {
    parse_safetensors(bytes);
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    REQUIRE(msg.rfind("safetensors: <memory>: ", 0) == 0);
    for (const std::string& n : needles) {
      INFO("needle: " << n);
      REQUIRE(msg.find(n) != std::string::npos);
    }
    return;
  }
  FAIL("expected moegrad::Error from parse_safetensors");
}

// An F32 entry as JSON.
std::string f32_entry(const std::string& shape, uint64_t begin, uint64_t end) {
  return "{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(begin) +
         "," + std::to_string(end) + "]}";
}

// A fresh empty directory, removed with everything in it at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> n{0};
    path = fs::temp_directory_path() /
           ("moegrad-st-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(path)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  REQUIRE(f.good());
}

// A map holding every dtype, a 0-d, an empty and a non-contiguous tensor.
TensorMap sample_tensors() {
  TensorMap m;
  m["w.f32"] = random_tensor({3, 4}, DType::f32, 1);
  m["w.f64"] = random_tensor({2, 3}, DType::f64, 2);
  m["idx.i32"] = random_tensor({5}, DType::i32, 3);
  m["idx.i64"] = random_tensor({2, 2, 2}, DType::i64, 4);
  m["mask"] = random_tensor({7}, DType::b8, 5);
  m["scalar"] = scalar_tensor(3.5, DType::f64);
  m["empty"] = zeros({2, 0, 3}, DType::f32);
  m["t"] = noncontiguous(random_tensor({4, 3}, DType::f32, 6));
  return m;
}

}  // namespace

// ---------------------------------------------------------------- round trips

TEST_CASE("safetensors round trip of every dtype and layout", "[safetensors]") {
  const std::vector<Shape> shapes = {{}, {0}, {1}, {5}, {2, 3}, {2, 0, 3}, {3, 1, 4}};
  for (DType dt : kAllDTypes) {
    TensorMap m;
    int k = 0;
    for (const Shape& s : shapes) {
      Tensor t = random_tensor(s, dt, 100 + k);
      m["c" + std::to_string(k)] = t;
      m["n" + std::to_string(k)] = noncontiguous(t);                // transposed / strided view
      if (numel(s) > 1) m["s" + std::to_string(k)] = t.flatten().slice(0, 0, numel(s), 2);
      ++k;
    }
    m["expanded"] = random_tensor({1, 3}, dt, 7).expand({4, 3});  // stride-0 view
    INFO("dtype " << dtype_name(dt));
    REQUIRE(!m.at("n4").is_contiguous());
    REQUIRE(!m.at("expanded").is_contiguous());

    SafetensorsFile f = parse_safetensors(serialize_safetensors(m));
    REQUIRE(f.metadata.empty());
    REQUIRE(f.tensors.size() == m.size());
    for (const auto& [name, t] : m) {
      INFO("tensor " << name);
      REQUIRE(f.tensors.count(name) == 1);
      require_same(f.tensors.at(name), t);
    }
  }
}

TEST_CASE("safetensors round trip keeps extreme values bit-exact", "[safetensors]") {
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  const float finf = std::numeric_limits<float>::infinity();
  TensorMap m;
  m["f32"] = from_vector<float>({-0.0f, finf, -finf, fnan, 1e-45f, std::numeric_limits<float>::max()});
  m["f64"] = from_vector<double>({-0.0, std::numeric_limits<double>::denorm_min(),
                                  std::numeric_limits<double>::lowest(), 0.1});
  m["i32"] = from_vector<int32_t>({std::numeric_limits<int32_t>::min(), -1, 0,
                                   std::numeric_limits<int32_t>::max()});
  m["i64"] = from_vector<int64_t>({std::numeric_limits<int64_t>::min(), (int64_t(1) << 53) + 1,
                                   std::numeric_limits<int64_t>::max()});
  m["b"] = from_vector<bool>({true, false, true});
  SafetensorsFile f = parse_safetensors(serialize_safetensors(m));
  for (const auto& [name, t] : m) {
    INFO("tensor " << name);
    require_same(f.tensors.at(name), t);
  }
  REQUIRE(f.tensors.at("i64").to_vector<int64_t>()[1] == (int64_t(1) << 53) + 1);
}

TEST_CASE("safetensors round trip of metadata and unusual names", "[safetensors]") {
  const std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"empty", ""},
      {"", "empty key"},
      {"unicode", "h\xc3\xa9llo \xe2\x9c\x93"},
      {"escapes", "quote\" backslash\\ newline\n tab\t nul-free \x01"},
      {"json", "{\"step\": 3}"}};
  TensorMap m;
  m["layer.0/weight"] = random_tensor({2, 2}, DType::f32, 1);
  m["\xe5\x90\x8d\xe5\x89\x8d"] = random_tensor({3}, DType::i64, 2);
  m["a\"b\\c"] = scalar_tensor(1, DType::b8);
  m["__metadata"] = scalar_tensor(2, DType::i32);  // only the exact key is reserved
  SafetensorsFile f = parse_safetensors(serialize_safetensors(m, meta));
  REQUIRE(f.metadata == meta);
  REQUIRE(f.tensors.size() == m.size());
  for (const auto& [name, t] : m) {
    INFO("tensor " << name);
    require_same(f.tensors.at(name), t);
  }
}

TEST_CASE("safetensors round trip of an empty map", "[safetensors]") {
  const std::string bytes = serialize_safetensors({});
  REQUIRE(bytes == file_of("{}      "));
  SafetensorsFile f = parse_safetensors(bytes);
  REQUIRE(f.tensors.empty());
  REQUIRE(f.metadata.empty());
  SafetensorsFile g = parse_safetensors(serialize_safetensors({}, {{"k", "v"}}));
  REQUIRE(g.tensors.empty());
  REQUIRE(g.metadata == std::map<std::string, std::string>{{"k", "v"}});
}

TEST_CASE("safetensors saves tensors that require grad, as plain data", "[safetensors]") {
  Tensor w = random_tensor({3, 2}, DType::f64, 9).requires_grad_();
  TensorMap m = {{"w", w}, {"wt", w.t()}};
  SafetensorsFile f = parse_safetensors(serialize_safetensors(m));
  require_same(f.tensors.at("w"), w.detach());
  require_same(f.tensors.at("wt"), w.detach().t());
  REQUIRE(!f.tensors.at("w").requires_grad());
}

TEST_CASE("safetensors writes bool bytes as 0 or 1", "[safetensors]") {
  Tensor b = Tensor::empty({3}, DType::b8);
  unsigned char* p = static_cast<unsigned char*>(b.raw_data());
  p[0] = 0;
  p[1] = 1;
  p[2] = 7;  // not a valid bool byte; any nonzero byte means true
  const std::string bytes = serialize_safetensors({{"m", b}});
  REQUIRE(bytes.substr(bytes.size() - 3) == bytes_of({0, 1, 1}));
  REQUIRE(parse_safetensors(bytes).tensors.at("m").to_vector<bool>() == std::vector<bool>{false, true, true});
}

TEST_CASE("safetensors round trip from a CUDA tensor", "[safetensors][cuda]") {
  if (!cuda_is_available()) {
    SUCCEED("no CUDA device: skipped");
    return;
  }
  Tensor h = random_tensor({4, 5}, DType::f32, 3);
  Tensor d = h.to(Device::cuda());
  SafetensorsFile f = parse_safetensors(serialize_safetensors({{"d", d}, {"dt", d.t()}}));
  require_same(f.tensors.at("d"), h);
  require_same(f.tensors.at("dt"), h.t());
}

// ---------------------------------------------------------------- exact bytes

TEST_CASE("safetensors writes a tiny file byte for byte as the spec says", "[safetensors]") {
  // {"x": F32 [2] = {1.0, 2.0}}: a 54-byte header padded with 2 spaces to
  // 56 = 0x38, then 1.0f = 0x3f800000 and 2.0f = 0x40000000, little-endian.
  const std::string expected =
      bytes_of({0x38, 0, 0, 0, 0, 0, 0, 0}) +
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  " +
      bytes_of({0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40});
  REQUIRE(expected.size() == 72);
  REQUIRE(serialize_safetensors({{"x", from_vector<float>({1.0f, 2.0f})}}) == expected);

  SafetensorsFile f = parse_safetensors(expected);
  REQUIRE(f.tensors.size() == 1);
  REQUIRE(f.tensors.at("x").dtype() == DType::f32);
  REQUIRE(f.tensors.at("x").shape() == Shape{2});
  REQUIRE(f.tensors.at("x").to_vector<float>() == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("safetensors writes metadata first, then tensors in name order", "[safetensors]") {
  // The names are given out of order in the C++ source but std::map sorts
  // them; the data is in name order: I32 "a" = 7 at [0,4), BOOL "b" at [4,6).
  // Header: 138 bytes + 6 spaces = 144 = 0x90.
  const std::string expected =
      bytes_of({0x90, 0, 0, 0, 0, 0, 0, 0}) +
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
      "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[4,6]}}      " +
      bytes_of({7, 0, 0, 0, 1, 0});
  TensorMap m;
  m["b"] = from_vector<bool>({true, false});
  m["a"] = scalar_tensor(7, DType::i32);
  REQUIRE(serialize_safetensors(m, {{"format", "pt"}}) == expected);
}

TEST_CASE("safetensors output is deterministic, aligned and tiles the buffer in name order", "[safetensors]") {
  TensorMap m = sample_tensors();
  const std::string bytes = serialize_safetensors(m, {{"k", "v"}});
  REQUIRE(serialize_safetensors(m, {{"k", "v"}}) == bytes);

  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  REQUIRE(n % 8 == 0);
  const std::string header = bytes.substr(8, n);
  REQUIRE(header.find_last_not_of(' ') == header.find_last_of('}'));  // padded with spaces only
  const nlohmann::json j = nlohmann::json::parse(header);
  uint64_t cursor = 0;
  for (const auto& [name, t] : m) {  // name order
    INFO("tensor " << name);
    const auto& e = j.at(name);
    REQUIRE(e.at("data_offsets")[0].get<uint64_t>() == cursor);
    cursor += uint64_t(t.numel()) * dtype_size(t.dtype());
    REQUIRE(e.at("data_offsets")[1].get<uint64_t>() == cursor);
    REQUIRE(e.at("shape").get<Shape>() == t.shape());
  }
  REQUIRE(8 + n + cursor == bytes.size());
}

TEST_CASE("safetensors parses a hand-written file with a space-padded header", "[safetensors]") {
  // Entries in the header in a different order than their data; a zero-size
  // tensor between two others; generous padding.
  const std::string header =
      "{\"__metadata__\":{\"format\":\"np\"},"
      "\"z\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
      "\"e\":{\"dtype\":\"F64\",\"shape\":[0,4],\"data_offsets\":[8,8]},"
      "\"a\":{\"dtype\":\"F64\",\"shape\":[2,1],\"data_offsets\":[8,24]},"
      "\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[24,27]}}"
      "                    ";
  const std::string data = raw<int64_t>({-5}) + raw<double>({0.5, -2.25}) + bytes_of({1, 0, 1});
  SafetensorsFile f = parse_safetensors(file_of(header, data));
  REQUIRE(f.metadata == std::map<std::string, std::string>{{"format", "np"}});
  REQUIRE(f.tensors.size() == 4);
  REQUIRE(f.tensors.at("z").dtype() == DType::i64);
  REQUIRE(f.tensors.at("z").to_vector<int64_t>() == std::vector<int64_t>{-5});
  REQUIRE(f.tensors.at("e").shape() == Shape{0, 4});
  REQUIRE(f.tensors.at("e").dtype() == DType::f64);
  REQUIRE(f.tensors.at("a").shape() == Shape{2, 1});
  REQUIRE(f.tensors.at("a").to_vector<double>() == std::vector<double>{0.5, -2.25});
  REQUIRE(f.tensors.at("m").dtype() == DType::b8);
  REQUIRE(f.tensors.at("m").to_vector<bool>() == std::vector<bool>{true, false, true});

  // Whitespace inside the JSON and a header with a trailing newline parse too.
  const std::string spaced = "{ \"x\" : { \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 4 ] , \"dtype\" : \"I32\" } }\n";
  REQUIRE(parse_safetensors(file_of(spaced, raw<int32_t>({42}))).tensors.at("x").item<int32_t>() == 42);
}

// ---------------------------------------------------------------- malformed input

TEST_CASE("safetensors rejects a bad length prefix", "[safetensors]") {
  require_parse_error("", {"too short"});
  require_parse_error(bytes_of({1, 0, 0}), {"too short"});
  require_parse_error(bytes_of({0, 0, 0, 0, 0, 0, 0}), {"too short"});
  // Header longer than the buffer (by one byte, and by far).
  require_parse_error(u64_le(3) + "{}", {"header length 3", "past the end"});
  require_parse_error(u64_le(1000) + "{}      ", {"past the end"});
  // Absurd lengths, which must not overflow the bounds check.
  require_parse_error(u64_le(100'000'001) + "{}", {"100 MB"});
  require_parse_error(u64_le(uint64_t(1) << 40) + "{}", {"100 MB"});
  require_parse_error(u64_le(std::numeric_limits<uint64_t>::max()) + "{}", {"100 MB"});
  require_parse_error(u64_le(std::numeric_limits<uint64_t>::max() - 6) + "{}", {"100 MB"});
}

TEST_CASE("safetensors rejects a header that is not a JSON object", "[safetensors]") {
  require_parse_error(file_of(""), {"'{'"});
  require_parse_error(file_of("[1,2]   "), {"'{'"});
  require_parse_error(file_of("\"x\"     "), {"'{'"});
  require_parse_error(file_of("  {}    "), {"'{'"});  // the reference requires '{' first
  require_parse_error(file_of("{\"a\":   "), {"not valid JSON"});
  require_parse_error(file_of("{}{}    "), {"not valid JSON"});
  require_parse_error(file_of("{} x    "), {"not valid JSON"});
  require_parse_error(file_of(std::string("{}\0\0\0\0\0\0", 8)), {"not valid JSON", "NUL"});  // NUL padding
  require_parse_error(file_of(std::string("{}\0x", 4)), {"NUL"});  // nlohmann alone would stop at the NUL
  require_parse_error(file_of(std::string("{\"a\0\":{}}", 9)), {"NUL"});
  require_parse_error(file_of("{/*c*/} "), {"not valid JSON"});                        // no comments
  // Nesting no valid header needs is refused early, however long the header.
  require_parse_error(file_of("{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}"),
                      {"nests deeper than 8"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{}}}}}}}}}"),
                      {"nests deeper"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":{\"a\":{}}}}"), {"'k'", "string"});
}

TEST_CASE("safetensors rejects non-UTF-8 and duplicate keys", "[safetensors]") {
  require_parse_error(file_of("{\"\xff\":{}}"), {"not valid JSON"});
  require_parse_error(file_of("{\"a\xc3\":{}}"), {"not valid JSON"});                      // truncated sequence
  require_parse_error(file_of("{\"\xc0\xaf\":{}}"), {"not valid JSON"});                   // overlong '/'
  require_parse_error(file_of("{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}"), {"not valid JSON"});  // surrogate
  require_parse_error(file_of("{\"__metadata__\":{\"k\":\"\\ud800\"}}"), {"not valid JSON"});       // lone escape

  const std::string a = f32_entry("[1]", 0, 4);
  require_parse_error(file_of("{\"a\":" + a + ",\"a\":" + a + "}", raw<float>({1})),
                      {"duplicate key 'a'"});
  require_parse_error(
      file_of("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
              raw<float>({1})),
      {"duplicate key 'dtype'"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), {"duplicate key 'k'"});
  require_parse_error(file_of("{\"__metadata__\":{},\"__metadata__\":{}}"), {"duplicate key '__metadata__'"});
}

TEST_CASE("safetensors rejects malformed entries, naming the tensor", "[safetensors]") {
  auto entry_error = [&](const std::string& entry, std::initializer_list<std::string> needles,
                         const std::string& data = raw<float>({1})) {
    INFO("entry " << entry);
    std::vector<std::string> all = {"tensor 'w'"};
    all.insert(all.end(), needles);
    try {
      parse_safetensors(file_of("{\"w\":" + entry + "}", data));
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO("message: " << msg);
      REQUIRE(msg.rfind("safetensors: <memory>: ", 0) == 0);
      for (const std::string& n : all) {
        INFO("needle: " << n);
        REQUIRE(msg.find(n) != std::string::npos);
      }
      return;
    }
    FAIL("expected moegrad::Error");
  };
  // Not an object; missing, extra or wrongly typed fields.
  entry_error("5", {"JSON object"});
  entry_error("[0,4]", {"JSON object"});
  entry_error("null", {"JSON object"});
  entry_error("{\"shape\":[1],\"data_offsets\":[0,4]}", {"missing field 'dtype'"});
  entry_error("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}", {"missing field 'shape'"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1]}", {"missing field 'data_offsets'"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}", {"unknown field 'x'"});
  entry_error("{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}", {"dtype must be a string"});
  entry_error("{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}", {"shape must be an array"});
  entry_error("{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}", {"shape must be an array"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"}", {"data_offsets must be [begin, end]"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}", {"data_offsets must be [begin, end]"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}", {"data_offsets must be [begin, end]"});
  // Unsupported and unknown dtypes.
  entry_error("{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}", {"unsupported dtype \"F16\""});
  entry_error("{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}", {"unsupported dtype \"BF16\""});
  entry_error("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}", {"unsupported dtype \"U8\""});
  entry_error("{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}", {"unsupported dtype \"f32\""});
  // Shapes: negative, non-integer, too large, overflowing.
  entry_error(f32_entry("[-1]", 0, 4), {"shape[0]", "negative"});
  entry_error(f32_entry("[1,-2]", 0, 4), {"shape[1]", "negative"});
  entry_error(f32_entry("[1.5]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[1.0]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[1e0]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[\"1\"]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[null]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[[1]]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[9223372036854775808]", 0, 4), {"shape[0]", "too large"});
  entry_error(f32_entry("[99999999999999999999999]", 0, 4), {"shape[0]", "non-negative integer"});
  entry_error(f32_entry("[4294967296,4294967296]", 0, 4), {"overflows"});
  entry_error(f32_entry("[2305843009213693952]", 0, 4), {"overflows"});  // 2^61 * 4 bytes > 2^63
  entry_error(f32_entry("[4294967296,4294967296,0]", 0, 0), {"overflows"}, "");
  // Offsets: wrongly typed, negative, decreasing, wrong size, past the end.
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-1,3]}", {"data_offsets[0]", "negative"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}", {"data_offsets[1]", "non-negative integer"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}", {"data_offsets[1]", "non-negative integer"});
  entry_error("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}", {"decrease"});
  entry_error(f32_entry("[2]", 0, 4), {"needs 8"});
  entry_error(f32_entry("[]", 0, 8), {"needs 4"}, raw<float>({1, 2}));
  entry_error(f32_entry("[2]", 0, 8), {"past the end"});
  entry_error(f32_entry("[1]", 4, 8), {"past the end"});
  entry_error(f32_entry("[1]", 18446744073709551612ull, 18446744073709551615ull), {"too large"});
  // Bool bytes other than 0/1.
  entry_error("{\"dtype\":\"BOOL\",\"shape\":[4],\"data_offsets\":[0,4]}", {"BOOL element 2 is 2"},
              bytes_of({0, 1, 2, 1}));
  entry_error("{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[0,1]}", {"BOOL element 0 is 255"},
              bytes_of({255}));
}

TEST_CASE("safetensors rejects data that does not tile the buffer", "[safetensors]") {
  const std::string d12 = raw<float>({1, 2, 3});
  // Overlap: b starts inside a.
  require_parse_error(
      file_of("{\"a\":" + f32_entry("[2]", 0, 8) + ",\"b\":" + f32_entry("[2]", 4, 12) + "}", d12),
      {"tensor 'b'", "overlap tensor 'a'"});
  // Two tensors over the same bytes.
  require_parse_error(
      file_of("{\"a\":" + f32_entry("[3]", 0, 12) + ",\"b\":" + f32_entry("[3]", 0, 12) + "}", d12),
      {"overlap"});
  // Gap between tensors, and before the first.
  require_parse_error(
      file_of("{\"a\":" + f32_entry("[1]", 0, 4) + ",\"b\":" + f32_entry("[1]", 8, 12) + "}", d12),
      {"tensor 'b'", "gap of 4 bytes"});
  require_parse_error(file_of("{\"a\":" + f32_entry("[2]", 4, 12) + "}", d12), {"tensor 'a'", "gap"});
  // A zero-size tensor inside another one.
  require_parse_error(
      file_of("{\"a\":" + f32_entry("[3]", 0, 12) + ",\"e\":" + f32_entry("[0]", 4, 4) + "}", d12),
      {"tensor 'e'", "overlap"});
  // Bytes after the last tensor, or no tensors at all over a non-empty buffer.
  require_parse_error(file_of("{\"a\":" + f32_entry("[2]", 0, 8) + "}", d12), {"cover only 8"});
  require_parse_error(file_of("{}", d12), {"cover only 0"});
  require_parse_error(file_of("{}      ", "x"), {"cover only 0"});
}

TEST_CASE("safetensors rejects malformed metadata", "[safetensors]") {
  require_parse_error(file_of("{\"__metadata__\":5}"), {"__metadata__", "object"});
  require_parse_error(file_of("{\"__metadata__\":null}"), {"__metadata__", "object"});
  require_parse_error(file_of("{\"__metadata__\":[\"a\"]}"), {"__metadata__", "object"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":1}}"), {"__metadata__", "'k'", "string"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}"), {"'k'", "string"});
  require_parse_error(file_of("{\"__metadata__\":{\"k\":null}}"), {"'k'", "string"});
}

TEST_CASE("safetensors parse survives truncation and byte mutations", "[safetensors]") {
  const std::string good = serialize_safetensors(sample_tensors(), {{"format", "pt"}});
  REQUIRE(parse_safetensors(good).tensors.size() == sample_tensors().size());
  // Every strict prefix is malformed: the length, the header or the tiling breaks.
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE_THROWS_AS(parse_safetensors(good.substr(0, n)), Error);
  }
  REQUIRE_THROWS_AS(parse_safetensors(good + "x"), Error);
  // Every single-byte change either parses or throws moegrad::Error, never
  // anything else (and never crashes, which a sanitizer build would show).
  int parsed = 0, rejected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int v : {0x00, 0x01, 0x20, 0x22, 0x2c, 0x2d, 0x30, 0x39, 0x5b, 0x5d, 0x7b, 0x7d, 0x80, 0xff}) {
      std::string b = good;
      if (uint8_t(b[i]) == v) continue;
      b[i] = char(v);
      try {
        parse_safetensors(b);
        ++parsed;
      } catch (const Error& e) {
        ++rejected;
        if (std::string(e.what()).rfind("safetensors: ", 0) != 0) FAIL("bad message: " << e.what());
      } catch (const std::exception& e) {
        FAIL("byte " << i << " = " << v << ": non-moegrad exception: " << e.what());
      }
    }
  }
  REQUIRE(parsed > 0);  // mutating data bytes keeps the file valid
  REQUIRE(rejected > parsed);
}

// ---------------------------------------------------------------- serialize errors

TEST_CASE("safetensors refuses to write bad names and values", "[safetensors]") {
  Tensor x = zeros({1});
  require_error([&] { serialize_safetensors({{"", x}}); }, "non-empty");
  require_error([&] { serialize_safetensors({{"__metadata__", x}}); }, "reserved");
  require_error([&] { serialize_safetensors({{"u", Tensor()}}); }, "tensor 'u' is undefined");
  require_error([&] { serialize_safetensors({{"bad\xff", x}}); }, "UTF-8");
  require_error([&] { serialize_safetensors({{"x", x}}, {{"k\xc3", "v"}}); }, "metadata key");
  require_error([&] { serialize_safetensors({{"x", x}}, {{"k", "v\xfe"}}); }, "metadata value of 'k'");
  require_error([&] { serialize_safetensors({{"", x}}); }, "safetensors: <memory>: ");
}

// ---------------------------------------------------------------- files

TEST_CASE("safetensors save and load a file", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  TensorMap m = sample_tensors();
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"step", "12"}};
  save_safetensors(path, m, meta);
  REQUIRE(read_file(path) == serialize_safetensors(m, meta));  // same bytes as in memory
  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.metadata == meta);
  REQUIRE(f.tensors.size() == m.size());
  for (const auto& [name, t] : m) {
    INFO("tensor " << name);
    require_same(f.tensors.at(name), t);
  }
  REQUIRE(dir.entries() == std::vector<std::string>{"model.safetensors"});
}

TEST_CASE("safetensors save replaces an existing file atomically", "[safetensors]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  write_file(path, std::string(100000, 'o'));  // an older, longer file
  TensorMap m = {{"a", from_vector<int32_t>({1, 2, 3})}};
  save_safetensors(path, m);
  REQUIRE(read_file(path) == serialize_safetensors(m));
  TensorMap m2 = {{"b", from_vector<double>({4.5})}};
  save_safetensors(path, m2, {{"v", "2"}});
  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == 1);
  REQUIRE(f.tensors.at("b").to_vector<double>() == std::vector<double>{4.5});
  REQUIRE(f.metadata.at("v") == "2");
  REQUIRE(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});  // no *.tmp* left

  // A save that fails validation leaves the old file and no temporary behind.
  require_error([&] { save_safetensors(path, {{"", zeros({1})}}); }, path);
  REQUIRE(load_safetensors(path).tensors.count("b") == 1);
  REQUIRE(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
}

TEST_CASE("safetensors save reports unwritable paths", "[safetensors]") {
  TempDir dir;
  const std::string missing = dir.file("no/such/dir/x.safetensors");
  require_error([&] { save_safetensors(missing, {{"a", zeros({2})}}); }, "safetensors: " + missing);
  REQUIRE(!fs::exists(dir.path / "no"));
  // A directory in the way: the rename fails and the temporary is removed.
  fs::create_directory(dir.path / "d");
  fs::create_directory(dir.path / "d" / "inside");
  require_error([&] { save_safetensors(dir.file("d"), {{"a", zeros({2})}}); }, "rename");
  REQUIRE(dir.entries() == std::vector<std::string>{"d"});
  REQUIRE(fs::is_directory(dir.path / "d" / "inside"));
}

TEST_CASE("safetensors load reports missing and malformed files by path", "[safetensors]") {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  require_error([&] { load_safetensors(missing); }, "safetensors: " + missing + ": cannot open");
  require_error([&] { load_safetensors(dir.path.string()); }, "not a regular file");

  const std::string path = dir.file("bad.safetensors");
  auto load_error = [&](const std::string& bytes, const std::string& needle) {
    write_file(path, bytes);
    INFO("file bytes " << bytes.size());
    require_error([&] { load_safetensors(path); }, "safetensors: " + path + ": ");
    require_error([&] { load_safetensors(path); }, needle);
  };
  const std::string good = serialize_safetensors({{"a", from_vector<float>({1, 2})}, {"m", from_vector<bool>({true})}});
  load_error("", "too short");
  load_error(good.substr(0, 5), "too short");
  load_error(good.substr(0, 20), "past the end");
  load_error(good.substr(0, good.size() - 1), "past the end");
  load_error(good + "extra", "cover only");
  load_error(u64_le(uint64_t(1) << 62) + "{}", "100 MB");
  load_error(file_of("{\"x\":" + f32_entry("[1]", 0, 4) + ",\"x\":" + f32_entry("[1]", 0, 4) + "}",
                     raw<float>({1})),
             "duplicate key 'x'");
  std::string bad_bool = good;
  bad_bool.back() = char(3);
  load_error(bad_bool, "tensor 'm': BOOL element 0 is 3");
  // The good file loads.
  write_file(path, good);
  REQUIRE(load_safetensors(path).tensors.at("a").to_vector<float>() == std::vector<float>{1, 2});
}
