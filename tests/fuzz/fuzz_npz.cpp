// NumPy .npz: a zip archive (stored or deflated members) of .npy arrays, read by read_npz.
#include "common/npy.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("arrays.npz", data, size);
  fuzz::expect_value_or_error([&] { read_npz(path); });
  return 0;
}
