// CIFAR-10 binary batch: the input is test_batch.bin (records of 1 label byte + 3072 pixel bytes).
#include "datasets/dataset.h"
#include "tests/fuzz/fuzz_support.h"

#include <torch/torch.h>

#include <algorithm>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace questbench;
  const std::string path = fuzz::write_input("cifar/test_batch.bin", data, size);
  fuzz::expect_value_or_error([&] {
    DatasetSpec spec;
    spec.path = path;
    spec.format = "cifar10";
    auto dataset = open_dataset(spec);
    const int64_t n = dataset->size();
    dataset->read(0, n);
    if (n > 0) dataset->read_indices({n - 1, 0, n - 1});
  });
  return 0;
}
