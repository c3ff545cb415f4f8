// safetensors reading and writing (https://github.com/huggingface/safetensors format):
//   u64 little-endian header length N | N bytes of JSON header | raw little-endian tensor data.
// The header maps tensor names to {dtype, shape, data_offsets [begin, end)} relative to the data
// section, plus an optional "__metadata__" object of string -> string.
// Reading validates everything (header size vs file size, JSON, dtypes, shapes, offsets inside the data,
// byte counts equal to numel * item size, no overlaps) and throws questbench::Error naming the file and
// the problem; it never reads out of bounds.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace questbench {

struct SafetensorsFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // in data-offset order, CPU, native dtype
  std::map<std::string, std::string> metadata;
  const torch::Tensor* find(const std::string& name) const;
};

// Supported dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
SafetensorsFile read_safetensors(const std::string& path);

// Writes tensors (any device; copied to CPU, made contiguous) in the given order with tight offsets,
// header padded with spaces to a multiple of 8; atomic (temp file + rename). Names must be unique.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace questbench
