// NumPy .npy: the same bytes go through every reader of common/npy.cpp: the file reader (header, whole
// array, a row range) and the in-memory parser that .npz members use.
#include "common/npy.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("array.npy", data, size);
  fuzz::expect_value_or_error([&] { read_npy(path); });
  fuzz::expect_value_or_error([&] {
    const NpyHeader h = read_npy_header(path);
    if (!h.fortran_order && !h.shape.empty() && h.shape[0] > 0) read_npy_rows(path, h, h.shape[0] / 2, h.shape[0]);
  });
  fuzz::expect_value_or_error([&] { parse_npy(fuzz::as_string(data, size), "fuzz input"); });
  return 0;
}
