// IDX images + labels (raw). The input is both files: its first two bytes (little-endian) give the length of
// the images file, the rest after it is the labels file, so the fuzzer can vary each and their agreement.
#include "datasets/dataset.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

#include <algorithm>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);  // one worker: no OpenMP pool per input
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  if (size < 2) return 0;
  const size_t images_len = std::min<size_t>(data[0] | (size_t(data[1]) << 8), size - 2);
  const std::string images = fuzz::write_input("idx/t10k-images-idx3-ubyte", data + 2, images_len);
  fuzz::write_input("idx/t10k-labels-idx1-ubyte", data + 2 + images_len, size - 2 - images_len);
  fuzz::expect_value_or_error([&] {
    DatasetSpec spec;
    spec.path = std::filesystem::path(images).parent_path().string();
    spec.format = "idx";
    auto dataset = open_dataset(spec);
    const int64_t n = std::min<int64_t>(dataset->size(), 4);
    auto batch = dataset->read(0, n);
    if (n > 0) dataset->read_indices({n - 1, 0});
    dataset->class_names();
    (void)dataset->image_shape();
  });
  return 0;
}
