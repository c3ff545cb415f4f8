// NumPy .npy reading and writing (format versions 1.0, 2.0 and 3.0).
// Reading supports C-order (and Fortran-order, transposed on load) arrays of dtypes
// |u1 |i1 <u2 >u2 <i2 >i2 <i4 >i4 <u4 >u4 <i8 >i8 <u8 >u8 <f4 >f4 <f8 >f8 |b1 (byte orders '<', '>', '|', '=');
// anything else (object arrays, structured dtypes, complex, strings) is rejected with a clear error.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace questbench {

struct NpyHeader {
  std::string descr;            // e.g. "<f4"
  bool fortran_order = false;
  std::vector<int64_t> shape;
  int64_t data_offset = 0;      // byte offset of the first element in the file
  int64_t item_size = 0;        // bytes per element
  torch::ScalarType dtype = torch::kFloat;  // the torch dtype the data loads as
  bool byteswap = false;        // stored big-endian on this (little-endian) host
};

// Parses the header of an .npy file; throws questbench::Error naming the file on anything malformed
// (bad magic, unknown version, truncated header, unsupported dtype, data shorter than the shape says).
NpyHeader read_npy_header(const std::string& path);

// Loads a whole array as a CPU tensor of the dtype given by its header (native byte order).
torch::Tensor read_npy(const std::string& path);

// Loads rows [begin, end) of the first axis (C-order arrays only) without reading the rest.
torch::Tensor read_npy_rows(const std::string& path, const NpyHeader& header, int64_t begin, int64_t end);

// Parses .npy bytes held in memory (`what` names the source in errors).
torch::Tensor parse_npy(const std::string& bytes, const std::string& what);

// Loads every array of an .npz archive (numpy.savez / savez_compressed: a zip of .npy members, stored or
// deflated). Keys are the member names without ".npy".
std::map<std::string, torch::Tensor> read_npz(const std::string& path);

// Writes a contiguous CPU tensor (float32, float64, uint8, int64, int32, bool) as a version 1.0 .npy,
// atomically (temp file + rename).
void write_npy(const std::string& path, const torch::Tensor& tensor);

}  // namespace questbench
