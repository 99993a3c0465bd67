// Reading and writing safetensors files, the tensor format of Hugging Face
// (https://huggingface.co/docs/safetensors) that PyTorch, transformers and
// candle read. moegrad checkpoints are safetensors files.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON, then the
// data buffer. The JSON maps each tensor name to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// (offsets in bytes, relative to the start of the data buffer) and may hold
// "__metadata__": {string: string}. Data is little-endian, row-major and
// contiguous.
//
//   TensorMap t = {{"w", randn({4, 3})}, {"step", scalar_tensor(7, DType::i64)}};
//   save_safetensors("ckpt.safetensors", t, {{"format", "pt"}});
//   SafetensorsFile f = load_safetensors("ckpt.safetensors");
//   Tensor w = f.tensors.at("w");          // f32 [4,3] on the CPU
//
// dtypes: F32, F64, I32, I64 and BOOL map to f32, f64, i32, i64 and b8 (one
// byte per element, 0 or 1). Other safetensors dtypes (F16, BF16, U8, ...) are
// refused on load with an error that says so.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace moegrad {

using TensorMap = std::map<std::string, Tensor>;

struct SafetensorsFile {
  TensorMap tensors;                            // contiguous, on the CPU
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty if absent
};

// The bytes of a safetensors file holding `tensors` and `metadata`.
// Requires: every tensor defined; names non-empty, valid UTF-8 and not
// "__metadata__"; metadata keys and values valid UTF-8.
// Guarantees: the same input gives the same bytes. Data is laid out in name
// order with no gaps; the header is compact JSON (metadata first, if any,
// then tensors in name order), padded with spaces to a multiple of 8 bytes,
// so every tensor starts 8-byte aligned in the file. Tensors may be
// non-contiguous views or on any device: they are copied to the host
// contiguous; autograd is not recorded. Bool elements are written as 0/1.
// Throws moegrad::Error ("safetensors: ...") when a requirement fails.
std::string serialize_safetensors(const TensorMap& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// Writes serialize_safetensors(tensors, metadata) to `path` atomically: the
// bytes go to "<path>.tmp-<pid>-<n>" in the same directory, are fsynced, and
// the file is renamed over `path` (then the directory is fsynced). A crash
// leaves either the old `path` or the new one, never a half-written one; on
// error the temporary file is removed and `path` is untouched.
// Throws moegrad::Error naming the path if the directory does not exist or
// any write fails. Concurrent saves to one path from several threads are
// safe (each uses its own temporary file; the last rename wins).
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Parses the bytes of a safetensors file. `what` names the source in error
// messages (a path, or "<memory>"). The whole header is checked against the
// buffer before any tensor is allocated; it never reads outside `bytes`.
// Throws moegrad::Error whose message starts with "safetensors: <what>: "
// (and names the tensor where one is at fault) for:
//  - a buffer shorter than 8 bytes; a header length over 100 MB or past the
//    end of the buffer;
//  - a header that is not UTF-8 JSON starting with '{' (trailing spaces are
//    allowed), or that has a duplicate key, a NUL byte, or nesting deeper
//    than a valid header needs;
//  - an entry that is not exactly {"dtype": string, "shape": [ints >= 0],
//    "data_offsets": [begin, end]}; an unsupported dtype; a shape whose byte
//    size overflows; begin > end; end - begin != numel * dtype size;
//  - data that does not tile the buffer exactly (a gap, an overlap, bytes
//    after the last tensor, an offset past the end);
//  - "__metadata__" that is not an object of strings;
//  - a BOOL byte other than 0 or 1.
// Empty tensor names are accepted on load (the format allows them).
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what = "<memory>");

// Reads and parses the file at `path`, with the checks of parse_safetensors.
// Tensor data is read straight into the tensors (the file is not held in
// memory twice). Throws moegrad::Error naming the path if it cannot be
// opened or read, is not a regular file, or is malformed.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace moegrad
